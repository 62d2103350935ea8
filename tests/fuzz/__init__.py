"""Fuzzing harness (issue 7): oracles, generators and regression corpus; see docs/fuzzing.md."""
