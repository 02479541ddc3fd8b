"""Messages between the process that runs a room and the processes that relay it.

Pure code, no I/O. A message is one JSON header, then, each after a newline,
the JSON texts it carries verbatim (a tick's change, a state, a welcome), so
a tick serialised once by the room's owner is never parsed and re-encoded on
the way: JSON text never holds a raw newline, so the split is unambiguous.

Channels (Redis pub/sub):
- `mmo:in:{room}`: to the room's owner (joins, inputs, chat, syncs, disconnects);
- `mmo:out:{room}`: from the owner to every process relaying the room (one
  `tick` per room per tick, chat, close);
- `mmo:w:{worker}`: to one process (answers to its joins, kicks).
"""

from __future__ import annotations

from typing import Any

import orjson


def room_in(room_id: str) -> str:
    return f"mmo:in:{room_id}"


def room_out(room_id: str) -> str:
    return f"mmo:out:{room_id}"


def worker_channel(worker: str) -> str:
    return f"mmo:w:{worker}"


def pack(header: dict[str, Any], *payloads: str) -> bytes:
    """A message: the header, then each payload (JSON text) on its own line."""
    parts = [orjson.dumps(header)]
    parts.extend(payload.encode() for payload in payloads)
    return b"\n".join(parts)


def unpack(data: bytes) -> tuple[dict[str, Any], list[str]]:
    """The header and payloads of a message; `ValueError` if it is not one."""
    header, *payloads = data.split(b"\n")
    parsed = orjson.loads(header)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("t"), str):
        raise ValueError("a relay message starts with a JSON object with a 't'")
    return parsed, [payload.decode() for payload in payloads]
