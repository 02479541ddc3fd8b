"""A view room's minimap: the whole world, coarsely, once a second for every player.

A view shows a player only what lies around it; the minimap tells it where the
rest of the world is busy. Once a second (`INTERVAL`) the room builds one
`minimap` frame for all of its players (docs/protocol.md "minimap"): a density
grid, one byte per bucket of the view index (how many cells of players' bodies
it holds, capped at 255), base64-encoded, and the leaders' positions. It costs
one pass over the game's players (snake: their bodies) and one encoding per room per
second, whoever looks: never a scan of the field, never anything per player.

The room hands a minimap to its players a slice a tick over the second
(`Rollout`), not to all of them in the tick it is made: at 1,000 players,
1,000 sends more in one tick of twenty made that tick the room's slowest by
half (the tick's p99), and the first to run past its period on a busy core.

Game-neutral: a game offers it by implementing `MappedGame` beside
`SpatialGame` (snake: `games/snake/game.py`); a game without it has no minimap.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from asgi_mmo.games.base import Bucket
from asgi_mmo.protocol import encode

#: seconds between two minimaps of a room, at least
INTERVAL = 1.0
#: how many leaders a minimap names
LEADERS = 5

Receiver = TypeVar("Receiver")


@runtime_checkable
class MappedGame(Protocol):
    """What the minimap reads of a game on a plane (optional, beside `SpatialGame`)."""

    def occupancy(self, size: int) -> Iterable[tuple[Bucket, int]]:
        """How many cells of players' bodies each bucket of `size` cells holds (only buckets
        holding any): never a scan of the field."""
        ...

    def leaders(self, count: int) -> list[dict[str, Any]]:
        """The `count` best-scoring live players, best first, and where they are:
        `{"id", "name", "x", "y", "score"}` (snake: where the head is)."""
        ...


class Minimap:
    """A room's minimap: `frame(now, tick)` is a frame when one is due, else None."""

    def __init__(self, game: MappedGame, field_width: int, field_height: int, cell: int) -> None:
        self.game = game
        self.width, self.height = field_width, field_height
        self.cell = cell  # field cells a side of one grid square: the view index's bucket
        self.cols, self.rows = math.ceil(field_width / cell), math.ceil(field_height / cell)
        self._next_at = -math.inf

    def frame(self, now: float, tick: int) -> str | None:
        """The minimap frame of this tick if a second has gone by since the last one."""
        if now < self._next_at:
            return None
        self._next_at = now + INTERVAL
        return encode(self.message(tick))

    def message(self, tick: int) -> dict[str, Any]:
        grid = bytearray(self.cols * self.rows)
        cols, rows = self.cols, self.rows
        for (bx, by), count in self.game.occupancy(self.cell):
            if 0 <= bx < cols and 0 <= by < rows:
                grid[by * cols + bx] = min(255, count)
        return {
            "type": "minimap", "tick": tick, "width": self.width, "height": self.height,
            "cell": self.cell, "cols": cols, "rows": rows,
            "density": base64.b64encode(bytes(grid)).decode(), "leaders": self.game.leaders(LEADERS),
        }  # fmt: skip


class Rollout(Generic[Receiver]):
    """One frame for many receivers, handed out a slice a tick over `ticks` ticks (`start`, then
    `next` each tick): each gets it once, none waits longer than the rollout."""

    def __init__(self, ticks: int) -> None:
        self.ticks = max(1, ticks)
        self._frame = ""
        self._left: list[Receiver] = []
        self._slice = 0

    def start(self, frame: str, receivers: Iterable[Receiver]) -> None:
        """A new frame for these receivers (those the last one had not reached get the new one)."""
        self._frame, self._left = frame, list(receivers)
        self._slice = math.ceil(len(self._left) / self.ticks)

    def next(self) -> tuple[str, list[Receiver]]:
        """This tick's receivers and the frame for them (none once the rollout is done)."""
        due, self._left = self._left[: self._slice], self._left[self._slice :]
        return self._frame, due
