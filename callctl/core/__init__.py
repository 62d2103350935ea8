"""The pure core: classification, time bands, rating and statements.

Nothing in this package does I/O, reads a clock or keeps global state: time, tariff and
usage counters come in as arguments and go out as values.
"""
