"""This process's part in a cluster of servers that share rooms through a shared backend.

Every room runs in exactly one process, its owner, which holds the room's
lease in the backend (renewed every half second, with a fencing number that
grows with every new lease). A player whose socket lands on any other process
joins all the same: that process keeps a `RoomMirror`, sends the player's
inputs to the owner and hands the owner's ticks to its players. The owner
publishes one message per room per tick (`OwnedRoom`), whatever the number of
processes and players relaying it (`messages.py` has the messages).

The owner saves each room's state every second, fenced by its lease, and
publishes the room in a shared directory that every process lists from.
Between saves it keeps each player's score mark as it changes, fenced too,
queued before the tick that shows it (`scoremarks.py`).
When the owner dies, its lease runs out (3 s); a process that relays the room
and hears nothing takes the lease, restores the saved state with the newer
marks overlaid (no score a player was shown goes back) and runs the
room on, and its players play on. Players of the dead process reconnect with
their token through any process, which finds the room, or takes it over.
An owner that finds its lease taken stops the room at once. On a graceful
shutdown the owner hands its rooms over at the signal (`drain`): it saves
each, gives up its lease, tells the relaying processes, which take it over at
once, and stops its own copy. A player that reconnects during the drain, to a
process whose join reaches the draining owner first, is refused there with
`server_shutdown`: the joining process waits a moment for the hand-over and
takes the room itself, so the player gets its seat back at once.

While the backend is away, every owner keeps ticking its rooms for the players
of its own process; leases, saves and the relay resume when it is back.

`Cluster` is the registry's `Peers` (`peers.py`) when the backend is shared;
it sees the registry only through `LocalRooms`, and the backend only through
the `Backend` interface. Its times are a `ClusterTimings`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from dataclasses import dataclass, field

import anyio

from asgi_mmo import roomview
from asgi_mmo.backends.base import Backend, LeaseState
from asgi_mmo.cluster.messages import (
    BadClusterMessage,
    CloseReason,
    CloseRoom,
    Disconnect,
    Input,
    Join,
    Joined,
    Kick,
    Latency,
    Message,
    Moved,
    PlayerChat,
    Reconnect,
    Refused,
    RoomChat,
    RoomClosed,
    Sync,
    Tick,
    ToOwner,
    ViewSize,
    ViewTick,
    parse,
)
from asgi_mmo.cluster.mirror import RoomMirror, SendToOwner
from asgi_mmo.cluster.owner import KeepScores, OwnedRoom
from asgi_mmo.cluster.timings import ClusterTimings
from asgi_mmo.elsewhere import NOBODY_ELSEWHERE
from asgi_mmo.exceptions import BackendUnavailable, ConnectionRefused, MessageRefused
from asgi_mmo.fanout import close_all
from asgi_mmo.names import ROOM_IN_PREFIX, ROOM_OUT_PREFIX, room_in, room_out, worker_channel
from asgi_mmo.peers import LocalRooms, RoomListing, Watch
from asgi_mmo.protocol import CHAT_MAX, refuse
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.seat import PlayerRoom, Seat
from asgi_mmo.settings import Settings
from asgi_mmo.views.rect import ViewAsked

logger = logging.getLogger("asgi_mmo.cluster.node")


@dataclass(slots=True)
class _Call:
    """A join waiting for the owner's answer."""

    done: anyio.Event = field(default_factory=anyio.Event)
    answer: Joined | Refused | None = None


class Cluster:
    def __init__(
        self, rooms: LocalRooms, backend: Backend, settings: Settings, timings: ClusterTimings | None = None
    ) -> None:
        self.rooms = rooms
        self.backend = backend
        self.settings = settings
        self.timings = timings or ClusterTimings()
        self.worker = backend.worker
        self.mirrors: dict[str, RoomMirror] = {}
        self._owned: dict[str, OwnedRoom] = {}
        self._calls: dict[str, _Call] = {}
        self._claims: dict[str, anyio.Lock] = {}
        self._mirror_idle_since: dict[str, float] = {}
        self._outage = False
        #: set to run the next round at once (a room moved here, a drain began)
        self._wake = anyio.Event()
        self._hand_over_due = False
        self._handing_over = anyio.Lock()
        self._handed = 0
        self._handed_ids: set[str] = set()  # rooms handed over by this draining process
        backend.set_message_handler(self._on_message)

    # ---- the periodic work --------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Renew leases, save rooms, publish the directory and watch mirrors, until cancelled."""
        task_status.started()
        last_save = -math.inf
        while True:
            with anyio.move_on_after(self.timings.renew_every):
                await self._wake.wait()
            self._wake = anyio.Event()
            try:
                if self._hand_over_due:
                    self._hand_over_due = False
                    await self._hand_over_all()
                await self._renew_leases()
                if anyio.current_time() - last_save >= self.timings.save_every:
                    last_save = anyio.current_time()
                    await self._save_rooms()
                    await self._publish_directory()
                await self._watch_mirrors()
                if self._outage:
                    logger.info("shared backend back: leases, saves and relay resume")
                    self._outage = False
            except BackendUnavailable as error:
                if not self._outage:
                    logger.error("shared backend unavailable error=%s; rooms keep ticking for local players", error)
                    self._outage = True
            except Exception:
                # One failed round must not end the cluster's upkeep: log it and go on.
                logger.exception("cluster upkeep failed")

    async def _renew_leases(self) -> None:
        lease_ms = self.timings.lease_ms
        for owned in list(self._owned.values()):
            room = owned.room
            state = await self.backend.renew_room(room.id, owned.lease, lease_ms)
            if owned.muted or self._owned.get(room.id) is not owned:
                # Handed over (a drain gave its lease up while this round ran) or disowned
                # meanwhile: claimed again, its lease would keep every process from taking it.
                continue
            if state is LeaseState.MISSING:  # the backend lost it (restarted), or it ran out meanwhile
                lease = await self.backend.claim_room(room.id, lease_ms, min_fence=owned.fence + 1)
                if lease is not None:
                    owned.lease = lease
                    continue
                state = LeaseState.LOST
            if state is LeaseState.LOST:
                logger.error("room lease lost room=%s; another process runs it now", room.id)
                self._forget(owned)
                room.close(refuse("server_shutdown", "the room moved to another server; reconnect with your token"))
                await self.backend.unsubscribe(room_in(room.id))

    def _saved_ttl(self) -> float:
        return self.settings.seat_seconds + self.timings.save_margin_seconds

    async def _save_rooms(self) -> None:
        for owned in list(self._owned.values()):
            room = owned.room
            if not room.closed:
                await self.backend.save_room(room.id, roomview.save(room), self._saved_ttl(), lease=owned.lease)

    async def _publish_directory(self) -> None:
        entries = {room_id: RoomListing.of(owned.room).encode()  # (not a room being handed over)
                   for room_id, owned in self._owned.items() if not owned.room.closed and not owned.muted}  # fmt: skip
        await self.backend.publish_directory(entries)

    async def _watch_mirrors(self) -> None:
        now = anyio.current_time()
        for room_id, mirror in list(self.mirrors.items()):
            if mirror.closed or mirror.promoted is not None:
                await self._drop_mirror(room_id)
                continue
            if not mirror.seats:
                idle_since = self._mirror_idle_since.setdefault(room_id, now)
                if now - idle_since > self.timings.idle_mirror:
                    await self._drop_mirror(room_id)
                continue
            self._mirror_idle_since.pop(room_id, None)
            if now - mirror.last_heard < self.timings.takeover_after:
                continue
            if await self.backend.room_owner(room_id) is None and await self._take_over(room_id) is None:
                if now - mirror.last_heard > self.settings.seat_seconds:
                    # No owner and nothing saved for longer than a seat is kept: the room is gone.
                    mirror.close(refuse("room_closed", "the room ended with its server"))
                    continue
            if mirror.promoted is None:
                mirror.reattach()  # the owner may have lost track of us (the backend went away)

    # ---- owning rooms ---------------------------------------------------------------------

    async def adopt(self, room: Room) -> bool:
        """Take the lease of a room this process runs; False if another process holds it."""
        lease = await self.backend.claim_room(room.id, self.timings.lease_ms)
        if lease is None:
            return False
        await self._own(room, lease)
        return True

    async def _own(self, room: Room, lease: str) -> None:
        owned = self._owned[room.id] = OwnedRoom(room, lease, self.backend.publish_nowait, self._keeper(room.id))
        room.elsewhere = owned
        await self.backend.subscribe(room_in(room.id))
        await self.backend.publish_directory({room.id: RoomListing.of(room).encode()})

    def _keeper(self, room_id: str) -> KeepScores:
        def keep(marks: dict[str, bytes], lease: str) -> None:
            self.backend.keep_scores_nowait(room_id, marks, lease, self._saved_ttl())

        return keep

    def _forget(self, owned: OwnedRoom) -> None:
        """This process no longer speaks for the room (its lease is gone or given up)."""
        self._owned.pop(owned.room.id, None)
        owned.room.elsewhere = NOBODY_ELSEWHERE

    async def disown(self, room: Room) -> None:
        """A room this process ran ended: forget it everywhere."""
        self._claims.pop(room.id, None)
        owned = self._owned.get(room.id)
        if owned is None:
            return
        self._forget(owned)
        await self.backend.unsubscribe(room_in(room.id))
        await self.backend.remove_from_directory(room.id)
        await self.backend.delete_room(room.id)
        await self.backend.release_room(room.id, owned.lease)

    async def save_rooms(self) -> int:
        """Shutdown: hand over what the drain has not (`_hand_over_all`); how many rooms were, in all."""
        await self._hand_over_all()
        return self._handed

    async def _hand_over_all(self) -> None:
        """Save every room, give up its lease, let other processes take it, and stop it here.

        The drain does it at the signal; the lifespan shutdown again for what failed then."""
        async with self._handing_over:
            for owned in list(self._owned.values()):
                room = owned.room
                saved = roomview.save(room)
                # From the save on, no tick, chat or mark leaves: the taker runs on from the save, so
                # a tick shown after it (the room ticks while this awaits) could go back (chaos bench).
                owned.muted = True
                try:
                    await self.backend.save_room(room.id, saved, self._saved_ttl(), lease=owned.lease)
                    await self.backend.release_room(room.id, owned.lease)
                except BackendUnavailable as error:
                    owned.muted = False
                    logger.error("room not handed over room=%s error=%s", room.id, error)
                    continue  # still ours: the lease is renewed on, and the lifespan shutdown tries again
                self._forget(owned)
                self._handed += 1
                self._handed_ids.add(room.id)
                with contextlib.suppress(BackendUnavailable):  # the entry goes stale by itself
                    await self.backend.remove_from_directory(room.id)
                self.backend.publish_nowait(room_out(room.id), Moved().encode())
                # Another process runs it from now on: this copy must not tick, expire seats or score.
                room.close(refuse("server_shutdown", "the room moved to another server; reconnect with your token"))
                logger.info("room handed over room=%s tick=%d", room.id, room.tick)

    def _on_inbound(self, owned: OwnedRoom, message: ToOwner) -> None:
        """A message from a process relaying one of our rooms."""
        room = owned.room
        if isinstance(message, Join | Reconnect) and message.worker == self.worker:
            # Sent by this process's own mirror before it took the room over (found by the chaos
            # bench): its players are the room's own now. A reconnect taken at its word would
            # end their sockets as `replaced`; a join is answered by the room itself.
            if isinstance(message, Join):
                self._refuse_join(message, refuse("server_shutdown", "the room moved here; join it here"))
            return
        match message:
            case Join():
                self._answer_join(owned, message)
            case Sync():
                owned.want_state(message.players)
            case CloseRoom():
                self.rooms.close_room(room.id)
            case Reconnect(worker=worker, player=player, token=token):
                seat = room.seats.get(player)
                if seat is not None and seat.token == token:
                    owned.connect(seat, worker)
            case Input() | PlayerChat() | Disconnect() | Latency() | ViewSize():
                seat = owned.seat_of(message.player)
                if seat is None or seat.remote != message.worker:
                    return  # gone, or resumed elsewhere since: that process no longer speaks for it
                self._from_player(owned, seat, message)

    @staticmethod
    def _from_player(
        owned: OwnedRoom, seat: Seat, message: Input | PlayerChat | Disconnect | Latency | ViewSize
    ) -> None:
        room = owned.room
        match message:
            case Input(seq=seq, data=data):
                try:
                    room.handle_input(seat, seq, data)
                except MessageRefused:
                    pass  # the relaying process validated it already; a rule change may differ
            case PlayerChat(text=text):
                if 0 < len(text) <= CHAT_MAX:
                    room.chat(seat, text)
            case Disconnect(worker=worker, leave=leave):
                owned.disconnect(seat, worker, leave=leave)
            case Latency(ms=ms):
                room.note_latency(seat, ms)
            case ViewSize(width=width, height=height, x=x, y=y):
                room.ask_view(seat, width, height, x, y)

    def _answer_join(self, owned: OwnedRoom, join: Join) -> None:
        room = owned.room
        answer: Joined | Refused
        try:
            if self.rooms.draining:
                raise refuse("server_shutdown", "the room's server is going down; reconnect with your token")
            if join.watch is not None:
                seat = room.watch(join.name, record=join.watch == "record")
            else:
                seat = room.seat_for_token(join.token) if join.token else room.join(join.name)
            if join.view_width is not None or join.view_height is not None:
                room.ask_view(seat, join.view_width, join.view_height)
            welcome = owned.watch_from(seat, join.worker) if seat.spectator else owned.connect(seat, join.worker)
            answer = Joined(join.req, seat.player_id, seat.name, seat.token, seat.ack, room.tick,
                            room.config.to_dict(), welcome, seat.spectator)  # fmt: skip
        except ConnectionRefused as refused:
            self._refuse_join(join, refused)
            return
        self.backend.publish_nowait(worker_channel(join.worker), answer.encode())

    def _refuse_join(self, join: Join, refused: ConnectionRefused) -> None:
        self.backend.publish_nowait(worker_channel(join.worker), Refused(join.req, CloseReason.of(refused)).encode())

    # ---- relaying rooms of other processes ----------------------------------------------------

    def relayed(self) -> list[PlayerRoom]:
        return [mirror for mirror in self.mirrors.values() if not mirror.closed]

    async def join_elsewhere(
        self, room_id: str, name: str, token: str | None, view: ViewAsked = None, watch: Watch = None
    ) -> tuple[PlayerRoom, Seat]:
        """Join a room this process does not run: through its owner, or by taking it over
        (`watch`: as a spectator or a recorder)."""

        def seat_in(room: Room) -> Seat:
            if watch is not None:
                seat = room.watch(name, record=watch == "record")
                if view is not None:
                    room.ask_view(seat, *view)
                return seat
            return room.seat_for_token(token) if token else room.join(name)

        deadline = anyio.current_time() + self.timings.join_seconds
        while anyio.current_time() < deadline:
            local = self.rooms.get(room_id)
            if local is not None:
                # Taken over here while this join waited (its mirror may be dropped already:
                # a new one would send the join to this very process; found by the chaos bench).
                return local, (local.seat_for_token(token) if token else local.join(name))
            mirror = self.mirrors.get(room_id)
            if mirror is not None and mirror.promoted is not None:
                room = mirror.promoted
                return room, seat_in(room)
            silent = mirror is None or anyio.current_time() - mirror.last_heard > self.timings.takeover_after
            if mirror is None or mirror.closed or silent:
                if await self.backend.room_owner(room_id) is None:
                    taken = await self._take_over(room_id)
                    if taken is not None:
                        return taken, seat_in(taken)
                    if await self.backend.room_owner(room_id) is None:
                        raise refuse("room_not_found", f"no room {room_id[:32]!r}")
                    continue  # another process took it over meanwhile: relay it
                if mirror is None or mirror.closed:
                    mirror = await self._mirror(room_id)
            try:
                return mirror, await self._ask_to_join(mirror, name, token, view, watch)
            except TimeoutError:
                # A silent owner: dead, with a lease that has yet to run out? Look again.
                self._suspect(mirror)
                logger.warning("room owner did not answer a join room=%s", room_id)
            except ConnectionRefused as refused:
                if refused.code != "server_shutdown":
                    raise
                # The owner is draining: it hands the room over in a moment; take it then (or the
                # room moved here meanwhile: it is the mirror's `promoted` at the next look).
                self._suspect(mirror)
                await anyio.sleep(self.timings.renew_every / 5)
        raise refuse("room_not_found", f"room {room_id[:32]!r} does not answer; try again")

    async def _mirror(self, room_id: str) -> RoomMirror:
        raw = await self.backend.directory_entry(room_id)
        made = self.mirrors.get(room_id)
        if made is not None and not made.closed:
            return made  # another join made it while this one waited: one mirror per room, or ticks go astray
        config = RoomConfig(**RoomListing.decode(raw).config) if raw is not None else RoomConfig()
        mirror = RoomMirror(room_id, config, self.settings, self.worker, self._sender(room_id))
        self.mirrors[room_id] = mirror
        await self.backend.subscribe(room_out(room_id))
        return mirror

    def _sender(self, room_id: str) -> SendToOwner:
        channel = room_in(room_id)

        def send(message: ToOwner) -> None:
            self.backend.publish_nowait(channel, message.encode())

        return send

    async def _drop_mirror(self, room_id: str) -> None:
        self.mirrors.pop(room_id, None)
        self._mirror_idle_since.pop(room_id, None)
        await self.backend.unsubscribe(room_out(room_id))

    async def _ask_to_join(
        self, mirror: RoomMirror, name: str, token: str | None, view: ViewAsked, watch: Watch = None
    ) -> Seat:
        request = secrets.token_hex(8)
        call = self._calls[request] = _Call()
        try:
            width, height = view if view is not None else (None, None)
            join = Join(self.worker, request, name, token, width, height, watch)
            self.backend.publish_nowait(room_in(mirror.id), join.encode())
            with anyio.fail_after(self.timings.rpc_seconds):
                await call.done.wait()
        finally:
            self._calls.pop(request, None)
        match call.answer:
            case Joined() as joined:
                mirror.config = RoomConfig(**joined.config)
                seat = Seat(joined.player, joined.name, joined.token, ack=joined.ack, spectator=joined.spectator)
                mirror.expect(seat, joined.welcome, joined.tick)
                return seat
            case Refused(reason=reason):
                raise reason.error()
        raise TimeoutError  # (done is only set with an answer)

    async def _take_over(self, room_id: str) -> Room | None:
        """Run a room whose owner is gone from its saved state; None if it cannot be had."""
        lock = self._claims.setdefault(room_id, anyio.Lock())
        async with lock:
            local = self.rooms.get(room_id)
            if local is not None:
                return local
            # Nothing saved (the backend lost its data and the owner has yet to save again):
            # claiming now would only take the lease from an owner that is alive.
            if await self.backend.load_room(room_id) is None:
                return None
            lease = await self.backend.claim_room(room_id, self.timings.lease_ms)
            if lease is None:
                return None
            saved = await self.backend.load_room(room_id)
            if saved is None:
                await self.backend.release_room(room_id, lease)
                return None
            # Read under our lease: the dead owner can write no more. Each newer than the save
            # is overlaid on it: no score a player was shown goes back (scoremarks.py).
            marks = await self.backend.load_scores(room_id)
            room = self.rooms.restore_room(saved, marks)
            await self._own(room, lease)
            mirror = self.mirrors.get(room_id)
            if mirror is not None:
                mirror.promote(room)
            logger.info("room taken over room=%s tick=%d lease=%s", room_id, room.tick, lease)
            return room

    def _suspect(self, mirror: RoomMirror) -> None:
        """Count a mirror's owner as silent from now on, so its lease is checked at once."""
        mirror.last_heard = min(mirror.last_heard, anyio.current_time() - self.timings.takeover_after)

    # ---- the directory --------------------------------------------------------------------------

    async def rooms_elsewhere(self) -> dict[str, RoomListing]:
        """Every live room of the other processes: id -> its owner's latest listing."""
        raw = await self.backend.directory()
        fresh_after = time.time() - self.timings.stale_entry
        listings = {}
        for room_id, data in raw.items():
            if self.rooms.get(room_id) is not None:
                continue  # ours: the registry lists it with the freshest figures
            listing = RoomListing.decode(data)
            if listing.at >= fresh_after:
                listings[room_id] = listing
        return listings

    async def close_elsewhere(self, room_id: str) -> bool:
        if room_id not in await self.rooms_elsewhere():
            return False
        self.backend.publish_nowait(room_in(room_id), CloseRoom(self.worker).encode())
        return True

    def drain(self, reason: ConnectionRefused) -> None:
        """Shutdown: tell this process's players in rooms run elsewhere, and hand this process's
        rooms over now (in `run`), not when the server has closed its sockets."""
        for mirror in self.mirrors.values():
            close_all(mirror.seats.values(), reason)
        self._hand_over_due = True
        self._wake.set()

    # ---- messages from the backend ------------------------------------------------------------

    def _on_message(self, channel: str, data: bytes) -> None:
        try:
            message = parse(data)
        except BadClusterMessage as error:
            logger.warning("cluster message refused channel=%s error=%s", channel, error)
            return
        self._dispatch(channel, message)

    def _dispatch(self, channel: str, message: Message) -> None:
        match message:
            case (
                Join() | Reconnect() | Input() | PlayerChat() | Latency() | ViewSize() | Disconnect() | Sync()
                | CloseRoom()
            ):
                room_id = _room_of(channel, ROOM_IN_PREFIX)
                owned = self._owned.get(room_id)
                if owned is not None:
                    self._on_inbound(owned, message)
                elif isinstance(message, Join) and room_id in self._handed_ids:
                    # Sent before the joiner heard of the hand-over: say so now, not by silence,
                    # so that it takes the room at once (`join_elsewhere`).
                    self._refuse_join(message, refuse("server_shutdown", "the room moved; reconnect"))
            case Tick() | ViewTick() | RoomChat() | RoomClosed() | Moved():
                mirror = self.mirrors.get(_room_of(channel, ROOM_OUT_PREFIX))
                if mirror is not None:
                    self._on_outbound(mirror, message)
            case Joined() | Refused():
                call = self._calls.get(message.req)
                if call is not None:
                    call.answer = message
                    call.done.set()
            case Kick(room=room_id, player=player, reason=reason):
                mirror = self.mirrors.get(room_id)
                if mirror is not None:
                    mirror.on_kick(player, reason.error())

    def _on_outbound(self, mirror: RoomMirror, message: Tick | ViewTick | RoomChat | RoomClosed | Moved) -> None:
        """A message from the owner of a room this process relays."""
        match message:
            case Tick():
                mirror.on_tick(message)
            case ViewTick():
                mirror.on_view_tick(message)
            case RoomChat(frame=frame):
                mirror.on_chat(frame)
            case RoomClosed(reason=reason):
                mirror.close(reason.error())
            case Moved():
                self._suspect(mirror)  # the owner handed the room over: take it now
                self._wake.set()


def _room_of(channel: str, prefix: str) -> str:
    """The room a channel with `prefix` is about; "" for a channel of another kind."""
    return channel[len(prefix):] if channel.startswith(prefix) else ""
