"""Handing one tick to the players connected to this process.

Shared by a room (`Room.step`) and by a mirror of a room that runs in another
process (`RoomMirror`): each player gets the tick's frame with its own ack, or
a `state` when it missed ticks, and a client that takes nothing for too long
is closed with `too_slow`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from asgi_mmo.protocol import TickFrame, refuse
from asgi_mmo.stats import RoomStats

if TYPE_CHECKING:
    from asgi_mmo.seat import Seat

logger = logging.getLogger("asgi_mmo.room")


def fan_out(
    seats: Iterable[Seat],
    frame: TickFrame,
    state: Callable[[], TickFrame | None],
    stats: RoomStats,
    *,
    now: float,
    slow_after: float,
    room_id: str,
) -> bool:
    """Deliver `frame` to every seat's connection; `state()` gives the state frame
    for those that must resync (None: not available this tick, they wait).

    Returns True when some player waits for a state that `state()` could not give.
    """
    state_frame: TickFrame | None = None
    waiting = False
    for seat in seats:
        connection = seat.connection
        if connection is None:
            continue
        if connection.needs_state:
            if not connection.caught_up():
                stats.ticks_dropped += 1
                if connection.stalled_for(now) > slow_after:
                    logger.info("slow client dropped room=%s player=%s", room_id, seat.player_id)
                    connection.close_nowait(refuse("too_slow", "the client took nothing for too long"))
                continue
            if state_frame is None:
                state_frame = state()
                if state_frame is None:
                    waiting = True
                    stats.ticks_dropped += 1
                    continue
            source = state_frame
            connection.needs_state = False
        else:
            source = frame
        text = source.for_player(seat.ack)
        if connection.deliver_nowait(text, now):
            stats.msgs_out += 1
            stats.bytes_out += len(text) + source.extra_bytes
        else:
            # Behind: skip this client's ticks; a `state` brings it back once it catches up.
            connection.needs_state = True
            stats.ticks_dropped += 1
    return waiting
