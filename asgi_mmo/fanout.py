"""Handing frames to the players connected to this process.

Shared by a room (`Room`) and by a mirror of a room that runs in another
process (`RoomMirror`), which hold their players' seats alike. `fan_out` hands
one tick over: each player gets the tick's frame with its own ack, or a `state`
when it missed ticks, and a client that takes nothing for too long is closed
with `too_slow`. The rest send one frame to one or all players, close them all,
or forget a socket that ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import anyio

from asgi_mmo.protocol import TickFrame, refuse
from asgi_mmo.stats import RoomStats

if TYPE_CHECKING:
    from asgi_mmo.connection import Connection
    from asgi_mmo.exceptions import ConnectionRefused
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


def send_to(seat: Seat, frame: str, stats: RoomStats) -> None:
    """A frame for one player (pong, error); dropped if that client is behind."""
    if seat.connection is not None and seat.connection.deliver_nowait(frame):
        stats.msgs_out += 1
        stats.bytes_out += len(frame.encode())


def broadcast(seats: Iterable[Seat], frame: str, stats: RoomStats, now: float | None = None) -> None:
    """A frame every player may miss (chat, a minimap): dropped for a client that is behind.
    `now`: the anyio clock, read here once if not given (not once per player: 1 us each)."""
    nbytes = len(frame.encode())
    if now is None:
        now = anyio.current_time()
    for seat in seats:
        if seat.connection is not None and seat.connection.deliver_nowait(frame, now):
            stats.msgs_out += 1
            stats.bytes_out += nbytes


def close_all(seats: Iterable[Seat], reason: ConnectionRefused) -> None:
    """End every seat's connection with `reason` (the room closed, the server drains)."""
    for seat in list(seats):
        if seat.connection is not None:
            seat.connection.close_nowait(reason)


def detach(connected: dict[str, Seat], seat: Seat, connection: Connection) -> bool:
    """A seat's socket ended: forget it; False when a newer connection holds the seat already."""
    if seat.connection is not connection:
        return False
    seat.connection = None
    connected.pop(seat.player_id, None)
    return True
