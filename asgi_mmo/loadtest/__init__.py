"""`asgi-mmo loadtest`: simulated players on one event loop (see docs/performance.md).

`wsclient.py` speaks WebSocket, `player.py` plays, `stats.py` counts, `runner.py`
runs a whole test and prints its progress and summary.
"""
