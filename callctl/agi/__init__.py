"""Our own FastAGI (Asterisk res_agi over TCP): a pure protocol module and an asyncio server.

Written in-house because the asyncio FastAGI libraries on PyPI are unmaintained and mishandle
the unsolicited ``HANGUP`` line and ``511`` replies. ``protocol`` does no I/O; ``server`` runs
requests under a per-request deadline with a safe answer, bounded concurrency and no leaks.
"""
