"""Handing one tick's view frames to players' connections (a room's, or a mirror's).

A player's frame is a head of its own (`tick`, `ack`, and `view` when the
rectangle moved) spliced in front of a tail the `ViewComposer` made once for
every view that covers the same buckets; a player that missed ticks gets a
`state` of its view instead, once its socket has caught up, as
`fanout.fan_out` does for a plain room.

A SNAPSHOT (`welcome`, `state`) may leave out what lies far outside the
rectangle (snake: food and stones more than 32 cells out, as the protocol
asks), though the client holds the buckets it touches: so the first time the
rectangle moves after one, every bucket it touches enters again, whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from asgi_mmo.connection import Connection
from asgi_mmo.protocol import refuse
from asgi_mmo.seat import Seat
from asgi_mmo.stats import RoomStats
from asgi_mmo.views.compose import Text, ViewComposer
from asgi_mmo.views.rect import NOWHERE, BucketRect, Rect

logger = logging.getLogger("asgi_mmo.room")

#: a player's view SNAPSHOT at this tick, by player id, rectangle and the buckets it covers
#: (None: not here yet)
StateOf = Callable[[str, Rect, BucketRect], Text | None]


@dataclass(slots=True)
class ViewState:
    """A player's view as its client holds it."""

    rect: Rect
    covered: BucketRect
    #: the client's buckets came in a SNAPSHOT, which may leave out what lies far outside `rect`:
    #: they all enter again, whole, once the rectangle moves (`entering_from`)
    partial: bool = True
    resize: tuple[int, int] | None = None  # a size asked for since the last tick

    def held_whole(self, rect: Rect) -> BucketRect:
        """The buckets the client holds whole, for a frame of the view moved to `rect`."""
        return NOWHERE if self.partial and rect is not self.rect else self.covered

    def entering_from(self, rect: Rect) -> BucketRect:
        """`held_whole`, as a frame of the view moved to `rect` is made (after which it holds
        every bucket whole)."""
        held = self.held_whole(rect)
        if held is NOWHERE:
            self.partial = False
        return held


class ViewFrames:
    """This tick's view frames; `hand` gives one player its frame."""

    __slots__ = ("composer", "tick", "head", "state_of", "stats", "now", "slow_after", "room_id")

    def __init__(
        self, composer: ViewComposer, tick: int, state_of: StateOf, stats: RoomStats,
        *, now: float, slow_after: float, room_id: str,
    ) -> None:  # fmt: skip
        self.composer = composer
        self.tick = tick
        self.head = f'{{"type":"tick","tick":{tick},"ack":'
        self.state_of = state_of
        self.stats = stats
        self.now = now
        self.slow_after = slow_after
        self.room_id = room_id

    def hand(self, seat: Seat, view: ViewState, rect: Rect, covered: BucketRect) -> bool:
        """Give the seat's connection its frame for the view moved to `rect` (covering
        `covered`); False when it needs a state that is not here yet (it waits)."""
        connection = seat.connection
        if connection is None:
            return True
        composer, stats = self.composer, self.stats
        if connection.needs_state:
            if not connection.caught_up():
                stats.ticks_dropped += 1
                if connection.stalled_for(self.now) > self.slow_after:
                    logger.info("slow client dropped room=%s player=%s", self.room_id, seat.player_id)
                    connection.close_nowait(refuse("too_slow", "the client took nothing for too long"))
                return True
            found = self.state_of(seat.player_id, rect, covered)
            if found is None:
                stats.ticks_dropped += 1
                view.rect, view.covered = rect, covered
                return False
            state, extra = found
            text = (
                f'{{"type":"state","tick":{self.tick},"ack":{seat.ack},'
                f'"view":{composer.rect(rect)},"state":{state}}}'
            )
            connection.needs_state = False
            view.partial = True
        else:
            tail, extra = composer.tail(view.entering_from(rect), covered)
            if rect is view.rect:
                text = f"{self.head}{seat.ack}{tail}"
            else:
                text = f'{self.head}{seat.ack},"view":{composer.rect(rect)}{tail}'
        view.rect, view.covered = rect, covered
        self.deliver(connection, text, extra)
        return True

    def deliver(self, connection: Connection, text: str, extra: int) -> None:
        """Hand over a frame (`extra`: its UTF-8 bytes beyond its characters), counted."""
        stats = self.stats
        if connection.deliver_nowait(text, self.now):
            stats.msgs_out += 1
            stats.bytes_out += len(text) + extra
        else:
            connection.needs_state = True  # behind: a `state` brings it back once it catches up
            stats.ticks_dropped += 1
