"""This process's part in a cluster of servers that share rooms through Redis.

Every room runs in exactly one process, its owner, which holds the room's
lease in Redis (SET NX PX, renewed every half second, with a fencing number
that grows with every new lease). A player whose socket lands on any other
process joins all the same: that process keeps a `RoomMirror`, sends the
player's inputs to the owner and hands the owner's ticks to its players.
The owner publishes one message per room per tick, whatever the number of
processes and players relaying it (`relay.py` has the channels).

The owner saves each room's state every second, fenced by its lease, and
publishes the room in a shared directory that every process lists from.
When the owner dies, its lease runs out (3 s); a process that relays the room
and hears nothing takes the lease, restores the saved state and runs the
room on, and its players play on. Players of the dead process reconnect with
their token through any process, which finds the room, or takes it over.
An owner that finds its lease taken stops the room at once. On a graceful
shutdown the owner saves its rooms, gives up their leases and tells the
relaying processes, which take the rooms over at once.

While Redis is away, every owner keeps ticking its rooms for the players of
its own process; leases, saves and the relay resume when Redis is back.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from asgi_mmo.backends.redis import RedisBackend
from asgi_mmo.exceptions import BackendUnavailable, ConnectionRefused, MessageRefused
from asgi_mmo.cluster.mirror import RoomMirror
from asgi_mmo.protocol import CHAT_MAX, encode, refuse
from asgi_mmo.cluster.messages import pack, unpack
from asgi_mmo.names import ROOM_IN_PREFIX, ROOM_OUT_PREFIX, room_in, room_out, worker_channel
from asgi_mmo.room import Room
from asgi_mmo.seat import Seat
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.settings import Settings

if TYPE_CHECKING:
    from asgi_mmo.protocol import TickFrame
    from asgi_mmo.registry import RoomRegistry

logger = logging.getLogger("asgi_mmo.cluster.node")

LEASE_MS = 3000
RENEW_EVERY = 0.5
SAVE_EVERY = 1.0
#: a directory entry not refreshed for this long belongs to a process that is gone
STALE_ENTRY = 5.0
#: a mirror that hears nothing for this long checks whether its room's owner is alive
TAKEOVER_AFTER = 1.5
#: a mirror without players is dropped after this long
IDLE_MIRROR = 5.0
#: how long a room's owner has to answer a join, and a join to get through at all
RPC_SECONDS = 1.0
JOIN_SECONDS = 8.0


@dataclass(slots=True)
class _Owned:
    room: Room
    lease: str

    @property
    def fence(self) -> int:
        return int(self.lease.rsplit("|", 1)[1])


@dataclass(slots=True)
class _Call:
    done: anyio.Event = field(default_factory=anyio.Event)
    header: dict[str, Any] = field(default_factory=dict)
    payloads: list[str] = field(default_factory=list)


class Cluster:
    def __init__(self, registry: RoomRegistry, backend: RedisBackend, settings: Settings) -> None:
        self.registry = registry
        self.backend = backend
        self.settings = settings
        self.worker = backend.worker
        self.mirrors: dict[str, RoomMirror] = {}
        self._owned: dict[str, _Owned] = {}
        self._calls: dict[str, _Call] = {}
        self._claims: dict[str, anyio.Lock] = {}
        self._mirror_idle_since: dict[str, float] = {}
        self._outage = False
        backend.on_message = self._on_message

    # ---- the periodic work --------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Renew leases, save rooms, publish the directory and watch mirrors, until cancelled."""
        task_status.started()
        last_save = 0.0
        while True:
            await anyio.sleep(RENEW_EVERY)
            try:
                await self._renew_leases()
                if time.monotonic() - last_save >= SAVE_EVERY:
                    last_save = time.monotonic()
                    await self._save_rooms()
                    await self._publish_directory()
                await self._watch_mirrors()
                if self._outage:
                    logger.info("redis back: leases, saves and relay resume")
                    self._outage = False
            except BackendUnavailable as error:
                if not self._outage:
                    logger.error("redis unavailable error=%s; rooms keep ticking for local players", error)
                    self._outage = True
            except Exception:
                # One failed round must not end the cluster's upkeep: log it and go on.
                logger.exception("cluster upkeep failed")

    async def _renew_leases(self) -> None:
        for owned in list(self._owned.values()):
            room = owned.room
            state = await self.backend.renew_room(room.id, owned.lease, LEASE_MS)
            if state == "missing":  # Redis restarted, or the lease ran out while it was away
                lease = await self.backend.claim_room(room.id, LEASE_MS, min_fence=owned.fence + 1)
                if lease is not None:
                    owned.lease = lease
                    continue
                state = "lost"
            if state == "lost":
                logger.error("room lease lost room=%s; another process runs it now", room.id)
                self._owned.pop(room.id, None)
                room.relay = None
                room.close(refuse("server_shutdown", "the room moved to another server; reconnect with your token"))

    async def _save_rooms(self) -> None:
        ttl = self.settings.seat_seconds + 30
        for owned in list(self._owned.values()):
            room = owned.room
            if not room.closed:
                await self.backend.save_room(room.id, orjson.dumps(room.save()), ttl, lease=owned.lease)

    async def _publish_directory(self) -> None:
        entries = {owned.room.id: self._entry(owned.room) for owned in self._owned.values() if not owned.room.closed}
        await self.backend.publish_directory(entries)

    def _entry(self, room: Room) -> bytes:
        return orjson.dumps(_entry(room))

    async def _watch_mirrors(self) -> None:
        now = anyio.current_time()
        for room_id, mirror in list(self.mirrors.items()):
            if mirror.closed or mirror.promoted is not None:
                await self._drop_mirror(room_id)
                continue
            if not mirror.seats:
                idle_since = self._mirror_idle_since.setdefault(room_id, now)
                if now - idle_since > IDLE_MIRROR:
                    await self._drop_mirror(room_id)
                continue
            self._mirror_idle_since.pop(room_id, None)
            if now - mirror.last_heard < TAKEOVER_AFTER:
                continue
            if await self.backend.room_owner(room_id) is None and await self._take_over(room_id) is None:
                if now - mirror.last_heard > self.settings.seat_seconds:
                    # No owner and nothing saved for longer than a seat is kept: the room is gone.
                    mirror.close(refuse("room_closed", "the room ended with its server"))
                    continue
            if mirror.promoted is None:
                mirror.reattach()  # the owner may have lost track of us (Redis went away)

    # ---- owning rooms ---------------------------------------------------------------------

    async def adopt(self, room: Room) -> bool:
        """Take the lease of a room this process runs; False if another process holds it."""
        lease = await self.backend.claim_room(room.id, LEASE_MS)
        if lease is None:
            return False
        await self._own(room, lease)
        return True

    async def _own(self, room: Room, lease: str) -> None:
        self._owned[room.id] = _Owned(room, lease)
        room.relay = self
        await self.backend.subscribe(room_in(room.id))
        await self.backend.publish_directory({room.id: self._entry(room)})

    async def disown(self, room: Room) -> None:
        """A room this process ran ended: forget it everywhere."""
        self._claims.pop(room.id, None)
        owned = self._owned.pop(room.id, None)
        if owned is None:
            return
        room.relay = None
        await self.backend.unsubscribe(room_in(room.id))
        await self.backend.remove_from_directory(room.id)
        await self.backend.delete_room(room.id)
        await self.backend.release_room(room.id, owned.lease)

    async def hand_over(self) -> int:
        """Shutdown: save every room, give up its lease and let other processes take it."""
        handed = 0
        for owned in list(self._owned.values()):
            room = owned.room
            self._owned.pop(room.id, None)
            room.relay = None
            try:
                await self.backend.save_room(room.id, orjson.dumps(room.save()), self.settings.seat_seconds + 30,
                                             lease=owned.lease)
                await self.backend.release_room(room.id, owned.lease)
                await self.backend.remove_from_directory(room.id)
                self.backend.publish_nowait(room_out(room.id), pack({"t": "moved"}))
                handed += 1
            except BackendUnavailable as error:
                logger.error("room not handed over room=%s error=%s", room.id, error)
        return handed

    # RoomRelay: what an owned room sends to the processes that relay it.

    def tick(self, room: Room, frame: TickFrame, state: TickFrame | None) -> None:
        owned = self._owned.get(room.id)
        if owned is None:
            return
        header = {"t": "tick", "tick": frame.tick, "fence": owned.fence, "acks": room.remote_acks()}
        payloads = (frame.body_json, state.body_json) if state is not None else (frame.body_json,)
        self.backend.publish_nowait(room_out(room.id), pack(header, *payloads))

    def chat(self, room: Room, frame: str) -> None:
        self.backend.publish_nowait(room_out(room.id), pack({"t": "chat"}, frame))

    def kick(self, room: Room, seat: Seat, reason: ConnectionRefused) -> None:
        if seat.remote is not None:
            header = {"t": "kick", "room": room.id, "p": seat.player_id, **_reason(reason)}
            self.backend.publish_nowait(worker_channel(seat.remote), pack(header))

    def closed(self, room: Room, reason: ConnectionRefused) -> None:
        if room.id in self._owned:
            self.backend.publish_nowait(room_out(room.id), pack({"t": "close", **_reason(reason)}))

    def _on_inbound(self, room_id: str, header: dict[str, Any]) -> None:
        """A message from a process relaying one of our rooms."""
        owned = self._owned.get(room_id)
        if owned is None:
            return
        room, kind, worker = owned.room, header["t"], str(header.get("w", ""))
        if kind == "join":
            self._answer_join(room, header, worker)
            return
        if kind == "sync":
            room.remote_wants_state()
            return
        if kind == "close":
            self.registry.close_room(room.id)
            return
        seat = room.seats.get(str(header.get("p", "")))
        if seat is None:
            return
        if kind == "reconnect":
            if seat.token == header.get("token"):
                room.connect_remote(seat, worker)
        elif seat.remote != worker:
            return  # resumed elsewhere since: this process no longer speaks for it
        elif kind == "input" and isinstance(header.get("seq"), int):
            try:
                room.handle_input(seat, header["seq"], header.get("data"))
            except MessageRefused:
                pass  # the relaying process validated it already; a rule change may differ
        elif kind == "chat" and isinstance(header.get("text"), str) and 0 < len(header["text"]) <= CHAT_MAX:
            room.chat(seat, header["text"])
        elif kind == "disconnect":
            room.disconnect_remote(seat, worker, leave=bool(header.get("leave")))
        elif kind == "latency" and isinstance(header.get("ms"), int | float):
            room.note_latency(seat, float(header["ms"]))

    def _answer_join(self, room: Room, header: dict[str, Any], worker: str) -> None:
        answer: bytes
        try:
            if self.registry.draining:
                raise refuse("server_shutdown", "the room's server is going down; reconnect with your token")
            token = header.get("token")
            seat = room.seat_for_token(token) if token else room.join(str(header.get("name", "")))
            welcome = room.connect_remote(seat, worker)
            reply = {"t": "joined", "req": header.get("req"), "p": seat.player_id, "name": seat.name,
                     "token": seat.token, "ack": seat.ack, "tick": room.tick, "config": room.config.to_dict()}
            answer = pack(reply, encode(welcome))
        except ConnectionRefused as refused:
            answer = pack({"t": "refused", "req": header.get("req"), **_reason(refused)})
        self.backend.publish_nowait(worker_channel(worker), answer)

    # ---- relaying rooms of other processes ----------------------------------------------------

    async def join(self, room_id: str, name: str, token: str | None) -> tuple[Room | RoomMirror, Seat]:
        """Join a room this process does not run: through its owner, or by taking it over."""
        deadline = anyio.current_time() + JOIN_SECONDS
        while anyio.current_time() < deadline:
            mirror = self.mirrors.get(room_id)
            if mirror is not None and mirror.promoted is not None:
                room = mirror.promoted
                return room, (room.seat_for_token(token) if token else room.join(name))
            silent = mirror is None or anyio.current_time() - mirror.last_heard > TAKEOVER_AFTER
            if mirror is None or mirror.closed or silent:
                if await self.backend.room_owner(room_id) is None:
                    room = await self._take_over(room_id)
                    if room is not None:
                        return room, (room.seat_for_token(token) if token else room.join(name))
                    if await self.backend.room_owner(room_id) is None:
                        raise refuse("room_not_found", f"no room {room_id[:32]!r}")
                    continue  # another process took it over meanwhile: relay it
                if mirror is None or mirror.closed:
                    mirror = await self._mirror(room_id)
            try:
                return mirror, await self._ask_to_join(mirror, name, token)
            except TimeoutError:
                # A silent owner: dead, with a lease that has yet to run out? Look again.
                _suspect(mirror)
                logger.warning("room owner did not answer a join room=%s", room_id)
        raise refuse("room_not_found", f"room {room_id[:32]!r} does not answer; try again")

    async def _mirror(self, room_id: str) -> RoomMirror:
        entry = await self._directory_entry(room_id)
        config = RoomConfig(**entry["config"]) if entry else RoomConfig()
        mirror = RoomMirror(room_id, config, self.settings, lambda header: self._to_owner(room_id, header))
        self.mirrors[room_id] = mirror
        await self.backend.subscribe(room_out(room_id))
        return mirror

    async def _drop_mirror(self, room_id: str) -> None:
        self.mirrors.pop(room_id, None)
        self._mirror_idle_since.pop(room_id, None)
        await self.backend.unsubscribe(room_out(room_id))

    def _to_owner(self, room_id: str, header: dict[str, Any]) -> None:
        self.backend.publish_nowait(room_in(room_id), pack({**header, "w": self.worker}))

    async def _ask_to_join(self, mirror: RoomMirror, name: str, token: str | None) -> Seat:
        request = secrets.token_hex(8)
        call = self._calls[request] = _Call()
        try:
            self._to_owner(mirror.id, {"t": "join", "req": request, "name": name, "token": token})
            with anyio.fail_after(RPC_SECONDS):
                await call.done.wait()
        finally:
            self._calls.pop(request, None)
        reply = call.header
        if reply["t"] == "refused":
            raise ConnectionRefused(reply["code"], reply["message"], reply["close"])
        mirror.config = RoomConfig(**reply["config"])
        seat = Seat(reply["p"], reply["name"], reply["token"], ack=int(reply["ack"]))
        mirror.expect(seat, call.payloads[0], int(reply["tick"]))
        return seat

    async def _take_over(self, room_id: str) -> Room | None:
        """Run a room whose owner is gone from its saved state; None if it cannot be had."""
        lock = self._claims.setdefault(room_id, anyio.Lock())
        async with lock:
            local = self.registry.get(room_id)
            if local is not None:
                return local
            # Nothing saved (Redis lost its data and the owner has yet to save again):
            # claiming now would only take the lease from an owner that is alive.
            if await self.backend.load_room(room_id) is None:
                return None
            lease = await self.backend.claim_room(room_id, LEASE_MS)
            if lease is None:
                return None
            raw = await self.backend.load_room(room_id)
            if raw is None:
                await self.backend.release_room(room_id, lease)
                return None
            room = self.registry.restore_room(orjson.loads(raw))
            await self._own(room, lease)
            mirror = self.mirrors.get(room_id)
            if mirror is not None:
                mirror.promote(room)
            logger.info("room taken over room=%s tick=%d lease=%s", room_id, room.tick, lease)
            return room

    # ---- the directory --------------------------------------------------------------------------

    async def _directory_entry(self, room_id: str) -> dict[str, Any] | None:
        raw = await self.backend.directory_entry(room_id)
        return None if raw is None else orjson.loads(raw)

    async def directory(self) -> dict[str, dict[str, Any]]:
        """Every live room of the cluster: id -> its owner's latest entry."""
        raw = await self.backend.directory()
        fresh_after = time.time() - STALE_ENTRY
        entries = {}
        for room_id, data in raw.items():
            entry = orjson.loads(data)
            if entry["at"] >= fresh_after:
                entries[room_id] = entry
        for owned in self._owned.values():  # our own rooms: the freshest figures are here
            if not owned.room.closed:
                entries[owned.room.id] = _entry(owned.room)
        return entries

    def ask_owner_to_close(self, room_id: str) -> None:
        self._to_owner(room_id, {"t": "close"})

    # ---- messages from Redis --------------------------------------------------------------------

    def _on_message(self, channel: str, data: bytes) -> None:
        header, payloads = unpack(data)
        kind = header["t"]
        if channel.startswith(ROOM_IN_PREFIX):
            self._on_inbound(channel.removeprefix(ROOM_IN_PREFIX), header)
        elif channel.startswith(ROOM_OUT_PREFIX):
            mirror = self.mirrors.get(channel.removeprefix(ROOM_OUT_PREFIX))
            if mirror is None:
                return
            if kind == "tick":
                mirror.on_tick(header, payloads)
            elif kind == "chat":
                mirror.on_chat(payloads[0])
            elif kind == "close":
                mirror.close(ConnectionRefused(header["code"], header["message"], header["close"]))
            elif kind == "moved":
                _suspect(mirror)  # the owner handed the room over: take it at the next round
        elif kind in ("joined", "refused"):
            call = self._calls.get(str(header.get("req")))
            if call is not None:
                call.header, call.payloads = header, payloads
                call.done.set()
        elif kind == "kick":
            mirror = self.mirrors.get(str(header.get("room")))
            if mirror is not None:
                reason = ConnectionRefused(header["code"], header["message"], header["close"])
                mirror.on_kick(str(header.get("p")), reason)


def _entry(room: Room) -> dict[str, Any]:
    """A room as the directory lists it."""
    return {
        "summary": room.summary(), "stats": room.statistics(), "players": room.player_list(),
        "private": room.config.private, "config": room.config.to_dict(), "at": time.time(),
    }  # fmt: skip


def _suspect(mirror: RoomMirror) -> None:
    """Count a mirror's owner as silent from now on, so its lease is checked at once."""
    mirror.last_heard = min(mirror.last_heard, anyio.current_time() - TAKEOVER_AFTER)


def _reason(reason: ConnectionRefused) -> dict[str, Any]:
    return {"code": reason.code, "message": reason.message, "close": reason.close_code}
