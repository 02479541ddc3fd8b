"""A room that runs in another process, as the players connected to this one see it.

The socket endpoint talks to a mirror exactly as to a `Room` (both are a
`PlayerRoom`): it connects seats, hands over inputs and chat, and sends single
frames. The mirror sends what its players do to the room's owner (messages of
`messages.py`, through the `send_to_owner` the cluster gives it) and hands each
`Tick` the owner relays, serialised once there, to its players with their acks
(`fan_out`), or a `state` to those that missed ticks. In a view room it joins
each player's frame from the texts of a `ViewTick` (`views/deliver.py`). A mirror whose owner died
may be promoted: it then forwards everything to the `Room` that now runs here,
and its players play on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import orjson

from asgi_mmo.cluster.messages import (
    Disconnect,
    Input,
    Latency,
    PlayerChat,
    Reconnect,
    Sync,
    Tick,
    ToOwner,
    ViewSize,
    ViewTick,
)  # fmt: skip
from asgi_mmo.connection import Connection
from asgi_mmo.exceptions import ConnectionRefused, MessageRefused
from asgi_mmo.fanout import broadcast, close_all, detach, fan_out, send_to
from asgi_mmo.games.base import InvalidInput
from asgi_mmo.games.catalog import GAMES
from asgi_mmo.games.inputs import check_input
from asgi_mmo.protocol import TickFrame, refuse
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings
from asgi_mmo.stats import RoomStats
from asgi_mmo.views.compose import ViewComposer
from asgi_mmo.views.deliver import ViewFrames, ViewState
from asgi_mmo.views.rect import BucketRect, Rect

logger = logging.getLogger("asgi_mmo.cluster.mirror")

SendToOwner = Callable[[ToOwner], None]

#: a spectator relayed here when the room's owner changes: it watches again (a browser reconnects at once)
_WATCH_AGAIN = refuse("server_shutdown", "the room moved to another server; watch it again")


class RoomMirror:
    def __init__(
        self, room_id: str, config: RoomConfig, settings: Settings, worker: str, send_to_owner: SendToOwner
    ) -> None:
        """`worker` names this process to the owner; `send_to_owner` publishes to it."""
        self.id = room_id
        self.worker = worker
        self.config = config
        self.settings = settings
        self.stats = RoomStats()
        self.seats: dict[str, Seat] = {}  # players connected through this process
        #: the last tick relayed here, and the owner's lease fence it came under
        self.tick: int | None = None
        self.fence = 0
        self.last_heard = anyio.current_time()
        self.promoted: Room | None = None
        self._send_to_owner = send_to_owner
        self._closed = False
        self._welcomes: dict[str, tuple[str, int]] = {}  # player -> (welcome frame, its tick)
        self._sent: dict[str, int] = {}  # player -> highest input seq passed on
        #: a view room's: each player's view as its client holds it, and the composer of their frames
        self._views: dict[str, ViewState] = {}
        self._composer: ViewComposer | None = None
        self._audience = 0  # the room's, as its owner's last tick said

    @property
    def closed(self) -> bool:
        return self.promoted.closed if self.promoted is not None else self._closed

    @property
    def players(self) -> int:
        return len(self.seats)

    @property
    def audience(self) -> int:
        if self.promoted is not None:
            return self.promoted.audience
        return max(self._audience, len(self.seats))  # (before the first tick: those it knows)

    def expect(self, seat: Seat, welcome: str, tick: int) -> None:
        """The owner seated a player for this process; its socket connects next."""
        self._welcomes[seat.player_id] = (welcome, tick)
        self._sent[seat.player_id] = seat.ack

    # ---- what the socket endpoint calls (as on a Room) ------------------------------------

    def connect(self, seat: Seat, connection: Connection) -> str:
        welcome, tick = self._welcomes.pop(seat.player_id)
        if self.promoted is not None:  # the room moved here between the owner's answer and now
            return self.promoted.connect(self._seat_in(self.promoted, seat), connection)
        seat.connection = connection
        seat.connected_at = anyio.current_time()
        self.seats[seat.player_id] = seat
        if self.tick is not None and self.tick > tick:
            connection.needs_state = True  # ticks went by between the owner's answer and now
        if self.config.view:
            self._seed_view(seat.player_id, welcome)
        return welcome

    def _seed_view(self, player_id: str, welcome: str) -> None:
        """The view the owner's `welcome` gave the player (parsed once, at the join)."""
        shown = orjson.loads(welcome).get("view")
        if not isinstance(shown, dict):
            return
        rect = Rect(shown["x"], shown["y"], shown["width"], shown["height"])
        if self._composer is None:
            self._composer = ViewComposer(None, shown["bucket"])
        self._views[player_id] = ViewState(rect, BucketRect.of(rect, self._composer.size))

    def disconnect(self, seat: Seat, connection: Connection, *, leave: bool) -> None:
        if self.promoted is not None and seat.spectator:
            return  # closed at the promotion: the room here never knew it
        if self.promoted is not None:
            self.promoted.disconnect(self._seat_in(self.promoted, seat), connection, leave=leave)
            return
        if detach(self.seats, seat, connection):
            self._sent.pop(seat.player_id, None)
            self._views.pop(seat.player_id, None)
            self._send_to_owner(Disconnect(self.worker, seat.player_id, leave))

    def handle_input(self, seat: Seat, seq: int, data: Any) -> None:
        if seat.spectator:
            raise MessageRefused("bad_message", "a spectator sends no input")
        if self.promoted is not None:
            self.promoted.handle_input(self._seat_in(self.promoted, seat), seq, data)
            return
        if seq <= self._sent.get(seat.player_id, 0):
            return
        try:
            check_input(GAMES[self.config.game], data)  # refused here at once; the owner checks again
        except InvalidInput as error:
            raise MessageRefused("bad_message", str(error)) from None
        self._sent[seat.player_id] = seq
        self._send_to_owner(Input(self.worker, seat.player_id, seq, data))

    def chat(self, seat: Seat, text: str) -> None:
        if self.promoted is not None and seat.spectator:
            return
        if self.promoted is not None:
            self.promoted.chat(self._seat_in(self.promoted, seat), text)
            return
        self._send_to_owner(PlayerChat(self.worker, seat.player_id, text))

    def ask_view(
        self, seat: Seat, width: int | None, height: int | None, x: int | None = None, y: int | None = None
    ) -> None:
        """Passed on to the owner, which moves the views (in a room without views it is ignored there)."""
        if self.promoted is not None and seat.spectator:
            return
        if self.promoted is not None:
            self.promoted.ask_view(self._seat_in(self.promoted, seat), width, height, x, y)
        elif self.config.view:
            x, y = (x, y) if seat.spectator else (None, None)
            self._send_to_owner(ViewSize(self.worker, seat.player_id, width, height, x, y))

    def note_latency(self, seat: Seat, latency_ms: float) -> None:
        """Passed on to the owner, whose admin API lists the room's players."""
        if seat.spectator:
            return  # the admin API lists players only
        if self.promoted is not None:
            self.promoted.note_latency(self._seat_in(self.promoted, seat), latency_ms)
            return
        seat.latency_ms = latency_ms
        self._send_to_owner(Latency(self.worker, seat.player_id, latency_ms))

    def send_to(self, seat: Seat, frame: str) -> None:
        send_to(seat, frame, self.stats)

    # ---- what the owner relays ----------------------------------------------------------

    def on_tick(self, message: Tick) -> None:
        tick = message.tick
        if not self._accept(message.fence, tick):
            return
        acks, self._audience = message.acks, message.audience
        for player_id, seat in self.seats.items():
            seat.ack = acks.get(player_id, seat.ack)
        frame = TickFrame.from_json("tick", tick, message.delta)
        state = TickFrame.from_json("state", tick, message.state) if message.state is not None else None
        waiting = fan_out(
            list(self.seats.values()), frame, lambda: state, self.stats,
            now=anyio.current_time(), slow_after=self.settings.slow_client_seconds, room_id=self.id,
        )  # fmt: skip
        if waiting:
            self._send_to_owner(Sync(self.worker))

    def on_view_tick(self, message: ViewTick) -> None:
        """A view room's tick: each player here gets its view's frame, joined from the texts the
        owner made once (a player whose buckets did not all come waits for a state)."""
        tick, composer = message.tick, self._composer
        if not self._accept(message.fence, tick) or composer is None:
            return
        composer.begin_relayed(tick, message.fragments, message.entered)
        states, entered, self._audience = message.states, message.entered, message.audience

        def state_of(player_id: str, rect: Rect, covered: BucketRect) -> tuple[str, int] | None:
            text = states.get(player_id)
            return None if text is None else (text, len(text.encode()) - len(text))

        frames = ViewFrames(
            composer, tick, state_of, self.stats,
            now=anyio.current_time(), slow_after=self.settings.slow_client_seconds, room_id=self.id,
        )  # fmt: skip
        waiting: list[str] = []  # the players that wait for their view's state: the owner sends theirs
        for player_id, seat in list(self.seats.items()):
            seat.ack = message.acks.get(player_id, seat.ack)
            view, shown = self._views.get(player_id), message.views.get(player_id)
            if seat.connection is None or view is None or shown is None:
                if seat.connection is not None:
                    seat.connection.needs_state = True  # the owner does not know its view (yet)
                    waiting.append(player_id)
                continue
            held = view.rect
            rect = held if shown == (held.x, held.y, held.width, held.height) else Rect(*shown)
            covered = BucketRect.of(rect, composer.size)
            whole = view.held_whole(rect)
            if covered == view.covered:
                covered = view.covered
            if whole is not covered and not all(whole.holds(b) or b in entered for b in covered.buckets()):
                seat.connection.needs_state = True
            if not frames.hand(seat, view, rect, covered):
                waiting.append(player_id)
        if waiting:
            self._send_to_owner(Sync(self.worker, tuple(waiting)))

    def _accept(self, fence: int, tick: int) -> bool:
        """Whether a tick from the owner is news; a gap sets every player to get a state first."""
        if fence < self.fence or self.promoted is not None:
            return False  # an owner that has lost the room since: ignore it
        if fence > self.fence:
            if self.fence:  # a new owner (not the first one heard): it must learn of our players
                logger.info("room owner changed room=%s fence=%d", self.id, fence)
                self.reattach()
            self.fence = fence
        elif self.tick is not None and tick <= self.tick:
            return False  # nothing new
        if self.tick is not None and tick != self.tick + 1:
            for seat in self.seats.values():
                if seat.connection is not None:
                    seat.connection.needs_state = True  # missed ticks: a state first
        self.tick = tick
        self.last_heard = anyio.current_time()
        return True

    def on_chat(self, frame: str) -> None:
        broadcast(self.seats.values(), frame, self.stats)

    def on_kick(self, player_id: str, reason: ConnectionRefused) -> None:
        seat = self.seats.get(player_id)
        if seat is not None and seat.connection is not None:
            seat.connection.close_nowait(reason)

    def close(self, reason: ConnectionRefused) -> None:
        """The room ended (or moved away): every player here is told `reason`."""
        self._closed = True
        close_all(self.seats.values(), reason)

    def reattach(self) -> None:
        """Tell a (new) owner which players connect through this process, and resync them."""
        for player_id, seat in list(self.seats.items()):
            if seat.spectator:  # a spectator has no token to come back with: it reconnects (1012)
                if seat.connection is not None:
                    seat.connection.close_nowait(_WATCH_AGAIN)
                continue
            self._send_to_owner(Reconnect(self.worker, player_id, seat.token))
            if seat.connection is not None:
                seat.connection.needs_state = True
        if self.seats:
            self._send_to_owner(Sync(self.worker))

    # ---- promotion ----------------------------------------------------------------------

    def promote(self, room: Room) -> None:
        """The room now runs in this process: its players here play on in `room`."""
        room.tick = max(room.tick, self.tick or 0) + 1  # a tick only grows within one connection
        for seat in list(self.seats.values()):
            connection = seat.connection
            own = room.seats.get(seat.player_id)
            if connection is None:
                continue
            if seat.spectator:
                connection.close_nowait(_WATCH_AGAIN)
                continue
            if own is None:
                connection.close_nowait(refuse("bad_token", "the seat expired"))
                continue
            room.connect(own, connection)
            connection.needs_state = True
        self.promoted = room
        self.seats.clear()

    @staticmethod
    def _seat_in(room: Room, seat: Seat) -> Seat:
        own = room.seats.get(seat.player_id)
        if own is None:
            raise refuse("bad_token", "the seat expired")
        return own
