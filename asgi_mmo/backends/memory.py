"""The embedded default: one process, everything in memory."""

from __future__ import annotations

import time
from types import TracebackType


class MemoryBackend:
    shared = False

    def __init__(self) -> None:
        self._rooms: dict[str, tuple[float, bytes]] = {}  # id -> (expires, saved)

    async def __aenter__(self) -> MemoryBackend:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._rooms.clear()

    async def save_room(self, room_id: str, saved: bytes, ttl_seconds: float, lease: str | None = None) -> bool:
        self._rooms[room_id] = (time.monotonic() + ttl_seconds, saved)
        return True

    async def load_room(self, room_id: str) -> bytes | None:
        entry = self._rooms.get(room_id)
        if entry is None or entry[0] < time.monotonic():
            self._rooms.pop(room_id, None)
            return None
        return entry[1]

    async def delete_room(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)
