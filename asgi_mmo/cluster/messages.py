"""Messages between the process that runs a room and the processes that relay it.

Pure code, no I/O. A message is one JSON header, then, each after a newline,
the JSON texts it carries verbatim (a tick's change, a state, a welcome), so
a tick serialised once by the room's owner is never parsed and re-encoded on
the way: JSON text never holds a raw newline, so the split is unambiguous.

Channels (`asgi_mmo.names`): `room_in` to a room's owner, `room_out` from the
owner to every process relaying the room, `worker_channel` to one process.
"""

from __future__ import annotations

from typing import Any

import orjson


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
