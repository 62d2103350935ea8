"""Command-line adapters around the core: argument parsing, files and printing only."""
