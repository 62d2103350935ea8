"""``callctl replay``: what callctl would have decided and charged for captured calls.

``offline`` runs the calls of a trace through the core (the same decision, settlement and
rating code as the live controller, with usage counters kept in memory across the replay);
``live`` plays them through the test PBX and compares what callctl recorded with the
offline answer.
"""
