"""A room this process owns in the cluster: its lease, and its players elsewhere.

While the cluster owns a room it is the room's `elsewhere` (`elsewhere.py`):
it keeps the seats of the players whose sockets are on other processes, so
the room counts them and ticks while any is connected, and it publishes what
the room hands over: one `Tick` per tick for every relaying process (the
change as serialised once for the room's own players, with the acks of these
players and the lease's fence), or in a view room one `ViewTick` (the views of
these players moved here, and the texts of the buckets they cover and enter),
the chat, the room's end, and a `Kick` to the process whose player's seat was
resumed by another connection. It keeps the room's score marks in the backend
under its lease (`KeepScores`), queued before the tick that shows them.
"""

from __future__ import annotations

from collections.abc import Callable

from asgi_mmo.cluster.messages import Bucket, CloseReason, Kick, RoomChat, RoomClosed, Tick, ViewRect, ViewTick
from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.names import room_out, worker_channel
from asgi_mmo.protocol import TickFrame, encode
from asgi_mmo.room import Room
from asgi_mmo.seat import Seat
from asgi_mmo.views.rect import NOWHERE
from asgi_mmo.views.viewers import Viewers

#: sends a message on a channel without waiting (`Backend.publish_nowait`)
Publish = Callable[[str, bytes], None]
#: keeps a room's score marks under a lease without waiting: (marks, lease) (`Backend.keep_scores_nowait`)
KeepScores = Callable[[dict[str, bytes], str], None]


class OwnedRoom:
    def __init__(self, room: Room, lease: str, publish: Publish, keep_scores: KeepScores) -> None:
        self.room = room
        self.lease = lease
        self._publish = publish
        self._keep_scores = keep_scores
        #: set while the room is handed over, from its last save on: what it does then is seen by nobody
        #: (the process that takes it runs on from the save: a tick shown after it could go back)
        self.muted = False
        self._out = room_out(room.id)
        self._remote: dict[str, Seat] = {}  # players connected through other processes
        self._watching: dict[str, Seat] = {}  # spectators connected through other processes
        #: the states a relaying process asked for, for the next tick: of these players (a view
        #: room's), of every one (None), or none (empty)
        self._states_wanted: set[str] | None = set()

    @property
    def lease(self) -> str:
        """The room's lease in the backend: `"{worker}|{fence}"`."""
        return self._lease

    @lease.setter
    def lease(self, lease: str) -> None:
        self._lease = lease
        self.fence = int(lease.rsplit("|", 1)[1])  # grows with every new lease of the room

    # ---- players connected through other processes -------------------------------------

    def connect(self, seat: Seat, worker: str) -> str:
        """A player connected through process `worker`; returns its `welcome` frame."""
        if seat.remote != worker:
            self.room.end_connections(seat)
        seat.remote = worker
        self._remote[seat.player_id] = seat
        self.room.seated(seat)
        return encode(self.room.welcome(seat))

    def watch_from(self, seat: Seat, worker: str) -> str:
        """A spectator (`Room.watch`) connected through process `worker`; returns its `welcome` frame."""
        seat.remote = worker
        self._watching[seat.player_id] = seat
        return encode(self.room.welcome(seat))

    def seat_of(self, player_id: str) -> Seat | None:
        """The seat of a player of the room, or the place of a spectator elsewhere."""
        return self.room.seats.get(player_id) or self._watching.get(player_id)

    def disconnect(self, seat: Seat, worker: str, *, leave: bool) -> None:
        """A player's socket on process `worker` ended."""
        if seat.remote != worker:
            return  # resumed elsewhere since
        if seat.spectator:
            self._watching.pop(seat.player_id, None)
            self.room.unwatch(seat)
            return
        seat.remote = None
        self._remote.pop(seat.player_id, None)
        self.room.unseated(seat, leave=leave)

    def want_state(self, players: tuple[str, ...] = ()) -> None:
        """A relaying process asked for the whole state with the next tick (in a view room,
        the states of these players' views; none named: every remote player's)."""
        if not players:
            self._states_wanted = None
        elif self._states_wanted is not None:
            self._states_wanted.update(players)

    # ---- PlayersElsewhere: what the room hands over -------------------------------------

    @property
    def players(self) -> int:
        return len(self._remote)

    @property
    def watching(self) -> int:
        return len(self._watching)

    @property
    def spectators(self) -> int:
        recorders = self.room.recorder_ids()
        return sum(1 for player_id in self._watching if player_id not in recorders)

    def tick(self, frame: TickFrame, state: Callable[[], TickFrame]) -> None:
        if self.muted:
            return
        whole = None
        if self._states_wanted != set():
            self._states_wanted = set()
            whole = state().body_json
        acks = {player_id: seat.ack for player_id, seat in self._remote.items()}
        tick = Tick(frame.tick, self.fence, acks, frame.body_json, whole, self.room.audience)
        self._publish(self._out, tick.encode())

    def view_tick(self, tick: int, viewers: Viewers) -> None:
        """One `ViewTick` for every relaying process: each remote player's rectangle, and
        the texts of the buckets their views cover and enter (made once, here, for all)."""
        if self.muted:
            return
        composer = viewers.composer
        wanted, self._states_wanted = self._states_wanted, set()
        views: dict[str, ViewRect] = {}
        fragments: dict[Bucket, str] = {}
        entered: dict[Bucket, str] = {}
        states: dict[str, str] = {}
        for player_id in [*self._remote, *self._watching] if self._watching else self._remote:
            view, rect, covered, new = viewers.move(player_id)
            old = NOWHERE if new else view.entering_from(rect)  # as `ViewFrames.hand` takes it
            for bucket in covered.buckets():
                if old.holds(bucket):
                    if (text := composer.fragment_text(bucket)) is not None:
                        fragments[bucket] = text
                else:
                    entered[bucket] = composer.snapshot_text(bucket)
            if new or wanted is None or player_id in wanted:
                states[player_id] = composer.state(rect, covered)[0]
                view.partial = True  # (the relaying process may hand it over: what it holds then)
            view.rect, view.covered = rect, covered
            views[player_id] = (rect.x, rect.y, rect.width, rect.height)
        acks = {player_id: seat.ack for player_id, seat in self._remote.items()}
        message = ViewTick(tick, self.fence, acks, views, fragments, entered, states, self.room.audience)
        self._publish(self._out, message.encode())

    def chat(self, frame: str) -> None:
        if not self.muted:
            self._publish(self._out, RoomChat(frame).encode())

    keeps_scores = True

    def keep_scores(self, marks: dict[str, bytes]) -> None:
        if not self.muted:
            self._keep_scores(marks, self._lease)

    def replaced(self, seat: Seat, reason: ConnectionRefused) -> None:
        if seat.remote is not None:
            kick = Kick(self.room.id, seat.player_id, CloseReason.of(reason))
            self._publish(worker_channel(seat.remote), kick.encode())
        seat.remote = None
        self._remote.pop(seat.player_id, None)

    def closed(self, reason: ConnectionRefused) -> None:
        self._publish(self._out, RoomClosed(CloseReason.of(reason)).encode())
