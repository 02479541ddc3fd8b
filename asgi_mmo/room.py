"""A running room: its seats, its game, its tick loop and its fan-out.

Time flows through `run()`: the room sleeps until a human connects, ticks at
a fixed rate while humans are connected, frees the seats of players who did
not come back, and returns once no human has held a seat for
`idle_room_seconds`; the registry then disposes of it.

A tick steps the game, serialises the game's change once (`TickFrame`) and
drops one frame per connected player into that player's outbox. Nothing in a
tick awaits: a tick never waits for a socket.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from asgi_mmo.connection import Connection
from asgi_mmo.exceptions import ConnectionRefused, MessageRefused
from asgi_mmo.fanout import fan_out
from asgi_mmo.games.base import BotDriver, Game, InvalidInput, ScoreEvent
from asgi_mmo.games.inputs import check_input
from asgi_mmo.protocol import PROTOCOL_VERSION, TickFrame, encode, refuse
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings
from asgi_mmo.stats import RoomStats

logger = logging.getLogger("asgi_mmo.room")

ScoreSink = Callable[[ScoreEvent], None]
#: Runs a bot driver's plan request somewhere off the event loop (worker processes).
Planner = Callable[[Any], Awaitable[Any]]
#: Plan requests a room may have queued; beyond it bots make do with safe moves.
PLAN_QUEUE = 64


class RoomRelay(Protocol):
    """Carries a room's output to players connected through other processes (cluster.py)."""

    def tick(self, room: Room, frame: TickFrame, state: TickFrame | None) -> None: ...

    def chat(self, room: Room, frame: str) -> None: ...

    def kick(self, room: Room, seat: Seat, reason: ConnectionRefused) -> None: ...

    def closed(self, room: Room, reason: ConnectionRefused) -> None: ...


@dataclass(slots=True)
class _Lifecycle:
    ticking: bool = False
    closed: bool = False
    loop_starts: int = 0  # how many times the tick loop started (tests: one per busy period)
    empty_since: float = field(default_factory=anyio.current_time)


class Room:
    def __init__(
        self,
        room_id: str,
        config: RoomConfig,
        game: Game,
        settings: Settings,
        *,
        phase: float = 0.0,
        on_score: ScoreSink | None = None,
        planner: Planner | None = None,
        plan_concurrency: int = 2,
        worker: str = "",
    ) -> None:
        self.id = room_id
        self.config = config
        self.game = game
        self.settings = settings
        self.period = 1.0 / config.tick_rate
        self.phase = phase % 1.0  # fraction of the period this room's ticks are offset by
        self.worker = worker
        self.created_at = time.time()
        self.tick = 0
        self.stats = RoomStats()
        self.seats: dict[str, Seat] = {}
        self._by_token: dict[str, Seat] = {}
        self._connected: dict[str, Seat] = {}  # humans with a live connection to this process
        self._remote: dict[str, Seat] = {}  # humans connected through other processes
        self._remote_state_wanted = False
        #: set by the cluster while other processes may relay this room's players
        self.relay: RoomRelay | None = None
        self._on_score = on_score or (lambda event: None)
        self._arrival = anyio.Event()  # set when a human connects to an idle room
        self._life = _Lifecycle()
        self._planner = planner
        self._plan_concurrency = plan_concurrency
        self._bots: BotDriver | None = None
        self._plan_requests: anyio.abc.ObjectSendStream[tuple[str, Any]] | None = None

    # ---- seats ------------------------------------------------------------------------

    @property
    def players(self) -> int:
        """Connected human players, through this process or others."""
        return len(self._connected) + len(self._remote)

    @property
    def human_seats(self) -> int:
        return sum(1 for seat in self.seats.values() if not seat.bot)

    @property
    def closed(self) -> bool:
        return self._life.closed

    @property
    def loop_starts(self) -> int:
        return self._life.loop_starts

    def has_free_seat(self) -> bool:
        return self.human_seats < self.config.max_players

    def join(self, name: str) -> Seat:
        """A new seat for a human; `room_full` when every seat is taken."""
        if self.closed:
            raise refuse("room_not_found", f"room {self.id} is closed")
        if not self.has_free_seat():
            raise refuse("room_full", f"room {self.id} has {self.config.max_players} players")
        return self._add_seat(name, bot=False)

    def add_bots(self, count: int) -> None:
        """Seat `count` server-driven players (a new room gets `config.bots` of them)."""
        for number in range(1, count + 1):
            self._add_seat(f"Bot {number}", bot=True)
        self._start_bot_driver()

    def _start_bot_driver(self) -> None:
        make_driver = getattr(self.game, "make_bot_driver", None)
        if self._bots is None and make_driver is not None and any(s.bot for s in self.seats.values()):
            self._bots = make_driver()

    def seat_for_token(self, token: str) -> Seat:
        seat = self._by_token.get(token)
        if seat is None or self.closed:
            raise refuse("bad_token", "unknown or expired token")
        return seat

    def _add_seat(self, name: str, *, bot: bool) -> Seat:
        player_id = secrets.token_hex(4)
        while player_id in self.seats:
            player_id = secrets.token_hex(4)
        seat = Seat(player_id, name, secrets.token_urlsafe(18), bot=bot, away_since=None)
        self.seats[player_id] = seat
        if not bot:
            self._by_token[seat.token] = seat
            seat.away_since = anyio.current_time()
        self.game.add_player(player_id, name, bot=bot)
        return seat

    def _free_seat(self, seat: Seat) -> None:
        self.seats.pop(seat.player_id, None)
        self._by_token.pop(seat.token, None)
        self._connected.pop(seat.player_id, None)
        self._remote.pop(seat.player_id, None)
        event = self.game.remove_player(seat.player_id)
        if event is not None:
            self._on_score(event)
        if not any(not s.bot for s in self.seats.values()):
            self._life.empty_since = anyio.current_time()

    # ---- connections ------------------------------------------------------------------

    def connect(self, seat: Seat, connection: Connection) -> str:
        """Attach a socket to a seat; returns the `welcome` frame to send first."""
        self._replace(seat)
        seat.connection = connection
        self._connected[seat.player_id] = seat
        self._seated(seat)
        return encode(self.welcome(seat))

    def welcome(self, seat: Seat) -> dict[str, Any]:
        """The `welcome` message for a seat, at this tick."""
        return {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "room": self.id,
            "game": self.config.game,
            "player": seat.player_id,
            "token": seat.token,
            "tick_rate": self.config.tick_rate,
            "tick": self.tick,
            "ack": seat.ack,
            "state": self.game.snapshot(),
        }

    def _replace(self, seat: Seat) -> None:
        """Close whatever connection holds a seat that a new one resumes."""
        reason = refuse("replaced", "this seat was resumed by another connection")
        if seat.connection is not None:
            seat.connection.close_nowait(reason)
            seat.connection = None
            self._connected.pop(seat.player_id, None)
        if seat.remote is not None:
            if self.relay is not None:
                self.relay.kick(self, seat, reason)
            seat.remote = None
            self._remote.pop(seat.player_id, None)

    def _seated(self, seat: Seat) -> None:
        """The seat's player is connected from now on (here or through another process)."""
        seat.connected_at = anyio.current_time()
        seat.away_since = None
        if not self._life.ticking:
            self._arrival.set()  # an idle room starts ticking

    def connect_remote(self, seat: Seat, worker: str) -> dict[str, Any]:
        """A player connected through process `worker`; returns its `welcome` message."""
        if seat.remote != worker:
            self._replace(seat)
        seat.remote = worker
        self._remote[seat.player_id] = seat
        self._seated(seat)
        return self.welcome(seat)

    def disconnect_remote(self, seat: Seat, worker: str, *, leave: bool) -> None:
        """A player's socket on process `worker` ended."""
        if seat.remote != worker:
            return  # resumed elsewhere since
        seat.remote = None
        self._remote.pop(seat.player_id, None)
        if leave:
            self._free_seat(seat)
        elif seat.player_id in self.seats:
            seat.away_since = anyio.current_time()

    def remote_acks(self) -> dict[str, int]:
        """The acks of the players connected through other processes (relayed with each tick)."""
        return {player_id: seat.ack for player_id, seat in self._remote.items()}

    def remote_wants_state(self) -> None:
        """A process relaying this room asked for the whole state with the next tick."""
        self._remote_state_wanted = True

    def disconnect(self, seat: Seat, connection: Connection, *, leave: bool) -> None:
        """A socket ended; `leave` frees the seat at once, otherwise it is kept."""
        if seat.connection is not connection:
            return  # replaced by a newer connection already
        seat.connection = None
        self._connected.pop(seat.player_id, None)
        if leave:
            self._free_seat(seat)
        elif seat.player_id in self.seats:
            seat.away_since = anyio.current_time()

    def close(self, reason: ConnectionRefused) -> None:
        """End every connection with `reason`; the room takes no more joins."""
        if self._life.closed:
            return
        self._life.closed = True
        for seat in list(self._connected.values()):
            if seat.connection is not None:
                seat.connection.close_nowait(reason)
        if self.relay is not None:
            self.relay.closed(self, reason)
        self._arrival.set()  # wake run() so it can return

    # ---- messages from players ----------------------------------------------------------

    def handle_input(self, seat: Seat, seq: int, data: Any) -> None:
        """Apply an input; older or repeated `seq`s are ignored, bad data refused."""
        if seq <= seat.ack:
            return
        try:
            parsed = check_input(type(self.game), data)
        except InvalidInput as error:
            raise MessageRefused("bad_message", str(error)) from None
        self.game.apply_input(seat.player_id, parsed)
        seat.ack = seq

    def chat(self, seat: Seat, text: str) -> None:
        frame = encode({"type": "chat", "player": seat.player_id, "name": seat.name, "text": text})
        self._broadcast(frame)
        if self._remote and self.relay is not None:
            self.relay.chat(self, frame)

    def _broadcast(self, frame: str) -> None:
        """Send a frame every player may miss (chat): dropped for a client that is behind."""
        nbytes = len(frame.encode())
        for seat in self._connected.values():
            if seat.connection is not None and seat.connection.deliver_nowait(frame):
                self.stats.msgs_out += 1
                self.stats.bytes_out += nbytes

    def note_latency(self, seat: Seat, latency_ms: float) -> None:
        """The round trip a player's client measured (`ping`'s `rtt`), for the admin API."""
        seat.latency_ms = latency_ms

    def send_to(self, seat: Seat, frame: str) -> None:
        """A frame for one player (pong, error); dropped if that client is behind."""
        if seat.connection is not None and seat.connection.deliver_nowait(frame):
            self.stats.msgs_out += 1
            self.stats.bytes_out += len(frame.encode())

    # ---- time -------------------------------------------------------------------------

    async def run(self) -> None:
        """Tick while humans are connected; return when the room may be disposed."""
        while not self.closed:
            if self._connected or self._remote:
                await self._tick_while_connected()
                continue
            wake_at = self._expire_seats(anyio.current_time())
            if wake_at is None:
                return
            self._arrival = anyio.Event()
            with anyio.move_on_after(max(0.0, wake_at - anyio.current_time())):
                await self._arrival.wait()

    def _expire_seats(self, now: float) -> float | None:
        """Free the seats nobody came back to; when to look again (None: dispose)."""
        wake_at = math.inf
        for seat in list(self.seats.values()):
            if seat.bot or seat.away_since is None:
                continue
            expires = seat.away_since + self.settings.seat_seconds
            if expires <= now:
                logger.info("seat expired room=%s player=%s", self.id, seat.player_id)
                self._free_seat(seat)
            else:
                wake_at = min(wake_at, expires)
        if self.human_seats == 0:
            dispose_at = self._life.empty_since + self.settings.idle_room_seconds
            if dispose_at <= now:
                return None
            wake_at = min(wake_at, dispose_at)
        return wake_at

    def first_deadline(self, now: float) -> float:
        """The next slot on this room's grid: multiples of the period, offset by its phase."""
        offset = self.phase * self.period
        return (math.floor((now - offset) / self.period) + 1) * self.period + offset

    async def _tick_while_connected(self) -> None:
        self._life.ticking = True
        self._life.loop_starts += 1
        logger.debug("tick loop started room=%s", self.id)
        try:
            async with anyio.create_task_group() as planners:
                if self._bots is not None and self._planner is not None:
                    self._plan_requests, requests = anyio.create_memory_object_stream[tuple[str, Any]](PLAN_QUEUE)
                    async with requests:
                        for _ in range(self._plan_concurrency):
                            planners.start_soon(self._run_plans, requests.clone())
                await self._tick_on_grid()
                planners.cancel_scope.cancel()
        finally:
            if self._plan_requests is not None:
                self._plan_requests.close()
                self._plan_requests = None
            self._life.ticking = False
            logger.debug("tick loop stopped room=%s", self.id)

    async def _run_plans(self, requests: anyio.abc.ObjectReceiveStream[tuple[str, Any]]) -> None:
        """Hand bots' plan requests to the planner; each answer reaches its bot when it comes."""
        assert self._planner is not None and self._bots is not None
        async with requests:
            async for bot_id, request in requests:
                try:
                    plan = await self._planner(request)
                except Exception:
                    # A failed plan costs one bot one plan, never the room.
                    logger.exception("bot plan failed room=%s bot=%s", self.id, bot_id)
                    plan = []
                self._bots.accept(bot_id, plan)

    def _drive_bots(self) -> None:
        assert self._bots is not None
        for bot_id, request in self._bots.act(self.tick):
            try:
                if self._plan_requests is None:
                    raise anyio.WouldBlock
                self._plan_requests.send_nowait((bot_id, request))
            except anyio.WouldBlock:
                self._bots.forget(bot_id)

    async def _tick_on_grid(self) -> None:
        """Tick on this room's deadline grid while humans are connected."""
        period = self.period
        deadline = self.first_deadline(anyio.current_time())
        next_expiry_check = 0.0
        while (self._connected or self._remote) and not self.closed:
            await anyio.sleep_until(deadline)
            # The loop's own clock may be coarse (uvloop's counts whole milliseconds);
            # time.monotonic() reads the same clock finely.
            started = time.monotonic()
            self.step(started)
            finished = time.monotonic()
            self.stats.record_tick(finished - started, started - deadline)
            deadline += period
            if finished > deadline:
                # Past its slot: skip the slots already gone rather than run them back to back.
                self.stats.overruns += 1
                deadline += math.ceil((finished - deadline) / period) * period
            if finished >= next_expiry_check:
                self._expire_seats(finished)
                next_expiry_check = finished + 1.0

    def step(self, now: float) -> None:
        """One tick: advance the game and hand every connected player its frame."""
        if self._bots is not None:
            self._drive_bots()
        for event in self.game.step(self.tick + 1, self.period):
            self._on_score(event)
        self.tick += 1
        frame = TickFrame("tick", self.tick, self.game.take_delta())
        state: TickFrame | None = None

        def state_frame() -> TickFrame:
            nonlocal state
            if state is None:
                state = TickFrame("state", self.tick, {"state": self.game.snapshot()})
            return state

        fan_out(
            list(self._connected.values()), frame, state_frame, self.stats,
            now=now, slow_after=self.settings.slow_client_seconds, room_id=self.id,
        )  # fmt: skip
        if self._remote and self.relay is not None:
            wanted = self._remote_state_wanted
            self._remote_state_wanted = False
            self.relay.tick(self, frame, state_frame() if wanted else None)

    # ---- save and restore -----------------------------------------------------------

    def save(self) -> dict[str, Any]:
        """Everything needed to run this room on in another process."""
        return {
            "id": self.id,
            "config": self.config.to_dict(),
            "tick": self.tick,
            "created_at": self.created_at,
            "game": self.game.save(),
            "seats": [
                {"player_id": s.player_id, "name": s.name, "token": s.token, "bot": s.bot, "ack": s.ack}
                for s in self.seats.values()
            ],
        }

    @classmethod
    def restore(
        cls, saved: dict[str, Any], game: Game, settings: Settings, **options: Any
    ) -> Room:
        """A room rebuilt from `save()` (with `game` restored from `saved["game"]`)."""
        room = cls(saved["id"], RoomConfig(**saved["config"]), game, settings, **options)
        room.tick = saved["tick"]
        room.created_at = saved["created_at"]
        now = anyio.current_time()
        for raw in saved["seats"]:
            seat = Seat(raw["player_id"], raw["name"], raw["token"], bot=raw["bot"], ack=raw["ack"])
            if not seat.bot:
                seat.away_since = now  # every human must reconnect within seat_seconds
                room._by_token[seat.token] = seat
            room.seats[seat.player_id] = seat
        room._start_bot_driver()
        return room

    # ---- statistics -----------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The room as listed publicly (`GET /api/rooms`)."""
        return {
            "id": self.id,
            "game": self.config.game,
            "players": self.players,
            "max_players": self.config.max_players,
            "created_at": self.created_at,
        }

    def statistics(self) -> dict[str, Any]:
        """ROOM_STATS of the contract."""
        stats = self.stats
        return {
            "id": self.id,
            "game": self.config.game,
            "private": self.config.private,
            "players": self.players,
            "bots": sum(1 for s in self.seats.values() if s.bot),
            "max_players": self.config.max_players,
            "tick_rate": self.config.tick_rate,
            "tick": self.tick,
            "created_at": self.created_at,
            "tick_ms": stats.tick_ms(),
            "overruns": stats.overruns,
            "msgs_in": stats.msgs_in,
            "msgs_out": stats.msgs_out,
            "bytes_out": stats.bytes_out,
            "worker": self.worker,
            # extensions
            "bytes_in": stats.bytes_in,
            "ticks_dropped": stats.ticks_dropped,
            "lateness_ms": stats.lateness_ms(),
            "width": self.config.width,
            "height": self.config.height,
            "seats": self.human_seats,
        }

    def player_list(self) -> list[dict[str, Any]]:
        now = anyio.current_time()
        return [seat.public(now, self.game, self.worker) for seat in self.seats.values()]
