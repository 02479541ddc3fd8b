"""A room's players connected through other processes, as the room sees them.

A room of one process has none (`NOBODY_ELSEWHERE`). In a cluster, the process
that owns a room sets the room's `elsewhere` to its own record of them
(`cluster/owner.py`): the room counts them among its players, ticks while any
is connected, and hands each tick, chat, close and resumed seat over to it,
and each player's score mark (`scoremarks.py`) to keep where a process that
takes the room over finds it. The room never learns how they are reached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from asgi_mmo.exceptions import ConnectionRefused
    from asgi_mmo.protocol import TickFrame
    from asgi_mmo.seat import Seat
    from asgi_mmo.views.viewers import Viewers


class PlayersElsewhere(Protocol):
    """A room's players connected through other processes (the cluster, while it owns the room)."""

    @property
    def players(self) -> int:
        """How many are connected now: the room ticks while any is."""
        ...

    @property
    def spectators(self) -> int:
        """How many spectators are connected through other processes (they keep nothing ticking)."""
        ...

    @property
    def watching(self) -> int:
        """The spectators and recorders connected through other processes: they get the ticks too."""
        ...

    def tick(self, frame: TickFrame, state: Callable[[], TickFrame]) -> None:
        """Hand a tick over; `state()` gives this tick's whole state, when some need it."""
        ...

    def view_tick(self, tick: int, viewers: Viewers) -> None:
        """Hand a view room's tick over: the views of the players elsewhere move, and their
        texts (composed for this tick by `viewers.composer`) go to the processes relaying them."""
        ...

    def chat(self, frame: str) -> None: ...

    @property
    def keeps_scores(self) -> bool:
        """Whether score marks are kept (a room whose process may die and be taken over): without,
        the room makes none."""
        ...

    def keep_scores(self, marks: dict[str, bytes]) -> None:
        """Keep these players' score marks (player id -> `ScoreMark` JSON) before the next tick goes out."""
        ...

    def replaced(self, seat: Seat, reason: ConnectionRefused) -> None:
        """The seat, played elsewhere (`seat.remote`), was resumed by another connection."""
        ...

    def closed(self, reason: ConnectionRefused) -> None: ...


class _Nobody:
    """Nobody elsewhere: a room of one process, or one the cluster does not own."""

    players = 0
    spectators = 0
    watching = 0
    keeps_scores = False  # one process: nobody takes the room over, marks would go nowhere

    def tick(self, frame: TickFrame, state: Callable[[], TickFrame]) -> None:
        pass

    def view_tick(self, tick: int, viewers: Viewers) -> None:
        pass

    def chat(self, frame: str) -> None:
        pass

    def keep_scores(self, marks: dict[str, bytes]) -> None:
        pass

    def replaced(self, seat: Seat, reason: ConnectionRefused) -> None:
        seat.remote = None

    def closed(self, reason: ConnectionRefused) -> None:
        pass


NOBODY_ELSEWHERE: PlayersElsewhere = _Nobody()
