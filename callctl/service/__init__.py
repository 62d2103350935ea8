"""The live controller: wiring of the core, the store, FastAGI and HTTP into one process."""
