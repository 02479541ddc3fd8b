"""Players without sockets, for tests that drive rooms and mirrors directly.

A `Player` holds a real `Connection` whose send appends each frame (parsed) to
`frames`; its writer runs while `run()` does (start it in a task group).
`stall()` makes the socket take nothing, as a client that stopped reading.
"""

from __future__ import annotations

from typing import Any

import anyio
import orjson

from asgi_mmo.connection import Connection
from asgi_mmo.seat import PlayerRoom, Seat


class Player:
    def __init__(self, room: PlayerRoom, seat: Seat, outbox_frames: int) -> None:
        self.room = room
        self.seat = seat
        self.frames: list[dict[str, Any]] = []
        self.taking = anyio.Event()
        self.taking.set()
        self.connection = Connection(self._send, outbox_frames)
        self.welcome: dict[str, Any] = orjson.loads(room.connect(seat, self.connection))
        self.scope = anyio.CancelScope()
        self.connection.bind_scope(self.scope)

    async def _send(self, frame: str) -> None:
        await self.taking.wait()
        self.frames.append(orjson.loads(frame))

    async def run(self) -> None:
        try:
            with self.scope:
                await self.connection.run_writer()
        finally:
            self.connection.close_outbox()

    def stall(self) -> None:
        self.taking = anyio.Event()

    def resume(self) -> None:
        self.taking.set()

    def leave(self, *, leave: bool = False) -> None:
        """The socket ends; `leave` as the client's `leave` message (the seat is freed)."""
        self.scope.cancel()
        self.connection.close_outbox()
        self.room.disconnect(self.seat, self.connection, leave=leave)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == kind]

    def ticks(self) -> list[int]:
        return [frame["tick"] for frame in self.of("tick")]

    def acked(self, seq: int) -> bool:
        """Some tick or state told this player that input `seq` was applied."""
        return any(frame.get("ack", 0) >= seq for frame in self.frames if frame["type"] in ("tick", "state"))

    @property
    def closed_with(self) -> str | None:
        """The code the room closed this player's socket with, if it did."""
        reason = self.connection.close_reason
        return None if reason is None else reason.code
