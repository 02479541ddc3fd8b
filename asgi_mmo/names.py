"""Every key and pub/sub channel name the shared backends use, in one place.

Pure code, no I/O. Every name starts with `mmo:`, so one Redis database can be
shared with other applications and `redis-cli --scan --pattern 'mmo:*'` lists
everything asgi-mmo keeps.

| name | what |
|---|---|
| `mmo:lease:{room}` | the room's owner lease, `"{worker}|{fence}"`, with a time to live |
| `mmo:fence:{room}` | the lease's fencing counter: every new lease gets a higher number |
| `mmo:snap:{room}` | the room's last saved state (`roomview.save(room)` as JSON), written only under a held lease |
| `mmo:scores:{room}` | a hash: player id -> its score mark (`scoremarks.py`), written only under a held lease |
| `mmo:dir` | a hash: room id -> the owner's latest directory entry |
| `mmo:board:{0,1}` | a sorted set: the leaderboard's best score per name (1: bots) |
| `mmo:board:at:{0,1}` | a hash: when each name's best score was made |
| `mmo:in:{room}` | channel to the room's owner (joins, inputs, chat, syncs, disconnects) |
| `mmo:out:{room}` | channel from the owner to every process relaying the room (ticks, chat, close) |
| `mmo:w:{worker}` | channel to one process (answers to its joins, kicks) |
"""

from __future__ import annotations

PREFIX = "mmo:"
DIRECTORY = "mmo:dir"
ROOM_IN_PREFIX = "mmo:in:"
ROOM_OUT_PREFIX = "mmo:out:"
WORKER_PREFIX = "mmo:w:"


def lease_key(room_id: str) -> str:
    return f"mmo:lease:{room_id}"


def fence_key(room_id: str) -> str:
    return f"mmo:fence:{room_id}"


def snapshot_key(room_id: str) -> str:
    return f"mmo:snap:{room_id}"


def scores_key(room_id: str) -> str:
    return f"mmo:scores:{room_id}"


def board_keys(bot: int) -> list[str]:
    """The leaderboard's sorted set of best scores and its hash of when each was made (bot: 0 or 1)."""
    return [f"mmo:board:{bot}", f"mmo:board:at:{bot}"]


def room_in(room_id: str) -> str:
    return f"{ROOM_IN_PREFIX}{room_id}"


def room_out(room_id: str) -> str:
    return f"{ROOM_OUT_PREFIX}{room_id}"


def worker_channel(worker: str) -> str:
    return f"{WORKER_PREFIX}{worker}"
