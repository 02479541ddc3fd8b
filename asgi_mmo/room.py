"""A running room: its seats, its game, its tick loop and its fan-out.

Time flows through `run()`: the room sleeps until a human connects (`IDLE`),
ticks at a fixed rate while humans are connected (`TICKING`), frees the seats
of players who did not come back, and returns once no human has held a seat
for `idle_room_seconds`, or once it is `CLOSED`; the registry then disposes
of it.

A tick steps the game, serialises the game's change once (`TickFrame`) and
drops one frame per connected player into that player's outbox (`fanout.py`).
Nothing in a tick awaits: a tick never waits for a socket, nor for a bot's
plan (`botplans.py`). A view room (`config.view`) takes its own branch: each
player gets the part of the field its view covers (`views/viewers.py`).

Spectators (`watch`) get the same frames as players but hold no seat: they
are not counted in `players`, do not keep the room ticking, and their input
is refused; a recorder (asgi_mmo/replays/) is a spectator that sees the whole
field and is not counted at all.

Players connected through other processes of a cluster are the cluster's
business: while it owns the room it sets `elsewhere` (`elsewhere.py`), which
counts them, so the room ticks while any is connected, and takes each tick,
chat, close and resumed seat over to them. What others read of a room (its
listing, ROOM_STATS, its saved state) is in `roomview.py`.
"""

from __future__ import annotations

import enum
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from asgi_mmo.admission import Pace
from asgi_mmo.botplans import BotPlans, Planner
from asgi_mmo.connection import Connection
from asgi_mmo.elsewhere import NOBODY_ELSEWHERE, PlayersElsewhere
from asgi_mmo.exceptions import ConnectionRefused, MessageRefused
from asgi_mmo.fanout import broadcast, close_all, detach, fan_out, send_to
from asgi_mmo.games.base import Game, InvalidInput, MarksAway, ScoredGame, ScoreEvent, SpatialGame
from asgi_mmo.games.inputs import check_input
from asgi_mmo.protocol import PROTOCOL_VERSION, TickFrame, encode, refuse
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.scoremarks import ScoreMark
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings
from asgi_mmo.slots import after_overrun
from asgi_mmo.stats import RoomStats
from asgi_mmo.views.minimap import INTERVAL as MINIMAP_INTERVAL
from asgi_mmo.views.minimap import MappedGame, Minimap, Rollout
from asgi_mmo.views.viewers import Viewers

logger = logging.getLogger("asgi_mmo.room")

ScoreSink = Callable[[ScoreEvent], None]


class RoomState(enum.Enum):
    IDLE = "idle"  # no human connected: the room sleeps
    TICKING = "ticking"  # the tick loop runs
    CLOSED = "closed"  # no more joins; run() returns


@dataclass(slots=True)
class _Lifecycle:
    state: RoomState = RoomState.IDLE
    loop_starts: int = 0  # how many times the tick loop started (tests: one per busy period)
    empty_since: float = field(default_factory=anyio.current_time)

    def move(self, old: RoomState, new: RoomState) -> None:
        if self.state is not old:
            raise RuntimeError(f"a room cannot go from {self.state.value} to {new.value}, only from {old.value}")
        self.state = new


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
        #: the time to its next tick; the registry enrolls it in the process's tick budget
        self.pace = Pace(None, self.period)
        self.worker = worker
        self.created_at = time.time()
        self.tick = 0
        self.stats = RoomStats()
        self.seats: dict[str, Seat] = {}
        self._by_token: dict[str, Seat] = {}
        self._connected: dict[str, Seat] = {}  # humans with a live connection to this process
        #: spectators connected to this process (`watch`), and which of them are recorders
        self._watchers: dict[str, Seat] = {}
        self._recorders: set[str] = set()
        #: humans connected through other processes: set by the cluster while it owns the room
        self.elsewhere: PlayersElsewhere = NOBODY_ELSEWHERE
        self._on_score = on_score or (lambda event: None)
        #: a game whose scores are marked as they change (`scoremarks.py`), and each player's last score event
        self._scored: ScoredGame | None = game if isinstance(game, ScoredGame) else None
        self._finals: dict[str, ScoreEvent] = {}
        self._arrival = anyio.Event()  # set when a human connects to an idle room
        self._life = _Lifecycle()
        self._planner = planner
        #: the game that marks away players' entries (`MarksAway`), or None: it shows no mark
        self._marks_away = game if isinstance(game, MarksAway) else None
        self._plan_concurrency = plan_concurrency
        self._bots: BotPlans | None = None
        #: each player's view, in a view room (`config.view`): frames are composed per view
        self.viewers: Viewers | None = None
        if config.view:
            assert isinstance(game, SpatialGame), f"{config.game} offers no views"
            self.viewers = Viewers(game, config.width, config.height)
        #: a view room's minimap, once a second (`views/minimap.py`), for games that offer one
        self.minimap: Minimap | None = None
        if self.viewers is not None and isinstance(game, MappedGame):
            self.minimap = Minimap(game, config.width, config.height, self.viewers.bucket)
        #: the players the latest minimap has yet to reach: a slice a tick over the second
        self._minimap_rollout = Rollout[Seat](round(MINIMAP_INTERVAL * config.tick_rate))

    # ---- seats ------------------------------------------------------------------------

    @property
    def players(self) -> int:
        """Connected human players, through this process or others."""
        return len(self._connected) + self.elsewhere.players

    @property
    def spectators(self) -> int:
        """Connected spectators, through this process or others (recorders not counted)."""
        recorders = self._recorders
        return sum(1 for watcher in self._watchers if watcher not in recorders) + self.elsewhere.spectators

    @property
    def audience(self) -> int:
        return len(self._connected) + len(self._watchers) + self.elsewhere.players + self.elsewhere.watching

    def recorder_ids(self) -> set[str]:
        """The ids of the recorders' places (here or elsewhere): not counted as spectators."""
        return self._recorders

    def watchers(self) -> list[Seat]:
        """The spectators (and recorders) connected to this process."""
        return list(self._watchers.values())

    @property
    def human_seats(self) -> int:
        return sum(1 for seat in self.seats.values() if not seat.bot)

    @property
    def state(self) -> RoomState:
        return self._life.state

    @property
    def closed(self) -> bool:
        return self._life.state is RoomState.CLOSED

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

    def watch(self, name: str, *, record: bool = False) -> Seat:
        """A spectator's place: no seat, no snake; `room_full` beyond `max_spectators`.
        A recorder (`record`, asgi_mmo/replays/) is not counted and sees the whole field."""
        if self.closed:
            raise refuse("room_not_found", f"room {self.id} is closed")
        if not record and self.spectators >= self.settings.max_spectators:
            raise refuse("room_full", f"room {self.id} has {self.settings.max_spectators} spectators")
        watcher_id = f"w-{secrets.token_hex(4)}"  # never a player's id (those are 8 hex digits)
        if record:
            self._recorders.add(watcher_id)
            if self.viewers is not None:
                self.viewers.whole(watcher_id)
        return Seat(watcher_id, name, "", spectator=True)

    def add_bots(self, count: int) -> None:
        """Seat `count` server-driven players (a new room gets `config.bots` of them)."""
        for number in range(1, count + 1):
            self._add_seat(f"Bot {number}", bot=True)
        self._start_bot_driver()

    def _start_bot_driver(self) -> None:
        if self._bots is not None or not any(s.bot for s in self.seats.values()):
            return
        driver = self.game.make_bot_driver()
        if driver is not None:
            plan_function = type(self.game).plan_function
            self._bots = BotPlans(self.id, driver, plan_function, self._planner, self._plan_concurrency)

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
        self.game.add_player(player_id, name, bot=bot)
        if not bot:
            self._by_token[seat.token] = seat
            self._set_away(seat, anyio.current_time())  # until its socket connects
        return seat

    def _set_away(self, seat: Seat, since: float | None) -> None:
        """The seat is kept for a player who is away (`since`: from when), or connected (None);
        a game that marks away players (`MarksAway`) hears of each change."""
        was_away = seat.away_since is not None
        seat.away_since = since
        if (game := self._marks_away) is not None and was_away is not (since is not None):
            game.set_away(seat.player_id, since is not None)

    def _free_seat(self, seat: Seat, *, report: bool = True) -> None:
        self.seats.pop(seat.player_id, None)
        self._by_token.pop(seat.token, None)
        self._connected.pop(seat.player_id, None)
        if self.viewers is not None:
            self.viewers.forget(seat.player_id)
        event = self.game.remove_player(seat.player_id)
        if event is not None and report:
            self._score(event)
        final = self._finals.pop(seat.player_id, None)
        if self._scored is not None and self.elsewhere.keeps_scores:
            self.elsewhere.keep_scores({seat.player_id: ScoreMark(self.tick, None, False, final).encode()})
        if not any(not s.bot for s in self.seats.values()):
            self._life.empty_since = anyio.current_time()

    # ---- connections ------------------------------------------------------------------

    def connect(self, seat: Seat, connection: Connection) -> str:
        """Attach a socket to a seat; returns the `welcome` frame to send first."""
        if seat.spectator:
            seat.connection = connection
            seat.connected_at = anyio.current_time()
            self._watchers[seat.player_id] = seat
            return encode(self.welcome(seat))
        self.end_connections(seat)
        seat.connection = connection
        self._connected[seat.player_id] = seat
        self.seated(seat)
        return encode(self.welcome(seat))

    def welcome(self, seat: Seat) -> dict[str, Any]:
        """The `welcome` message for a seat, at this tick (in a view room: its view's)."""
        welcome = {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "room": self.id,
            "game": self.config.game,
            "player": seat.player_id,
            "token": seat.token,
            "tick_rate": self.config.tick_rate,
            "tick": self.tick,
            "ack": seat.ack,
            "state": self.game.snapshot() if self.viewers is None else None,
        }
        if seat.spectator:  # the contract's spectator welcome: no player, no token
            welcome.update(player=None, token=None, ack=0, spectator=True)
        if self.viewers is not None:
            welcome.update(self.viewers.welcome(seat.player_id))
        return welcome

    def ask_view(
        self, seat: Seat, width: int | None, height: int | None, x: int | None = None, y: int | None = None
    ) -> None:
        """The player asks for a view of this size (the `view` query parameter or message);
        nothing in a room without views. A spectator also moves its view's corner (`x`, `y`)."""
        if self.viewers is not None and seat.player_id not in self._recorders:
            self.viewers.ask(seat.player_id, width, height)
            if seat.spectator and (x is not None or y is not None):
                self.viewers.pan(seat.player_id, x, y)

    def end_connections(self, seat: Seat) -> None:
        """Close whatever connection holds a seat that a new one resumes (here or elsewhere)."""
        reason = refuse("replaced", "this seat was resumed by another connection")
        if seat.connection is not None:
            seat.connection.close_nowait(reason)
            seat.connection = None
            self._connected.pop(seat.player_id, None)
        if seat.remote is not None:
            self.elsewhere.replaced(seat, reason)

    def seated(self, seat: Seat) -> None:
        """The seat's player is connected from now on (here or through another process)."""
        seat.connected_at = anyio.current_time()
        self._set_away(seat, None)
        if self._life.state is RoomState.IDLE:
            self._arrival.set()  # an idle room starts ticking

    def unseated(self, seat: Seat, *, leave: bool) -> None:
        """The seat's player is no longer connected: `leave` frees the seat, else it is kept."""
        if leave:
            self._free_seat(seat)
        elif seat.player_id in self.seats:
            self._set_away(seat, anyio.current_time())

    def disconnect(self, seat: Seat, connection: Connection, *, leave: bool) -> None:
        """A socket ended; `leave` frees the seat at once, otherwise it is kept."""
        if seat.spectator:
            if detach(self._watchers, seat, connection):
                self.unwatch(seat)
            return
        if detach(self._connected, seat, connection):  # (else replaced by a newer connection)
            self.unseated(seat, leave=leave)

    def unwatch(self, seat: Seat) -> None:
        """A spectator (here or through another process) is gone: forget its view."""
        self._recorders.discard(seat.player_id)
        if self.viewers is not None:
            self.viewers.forget(seat.player_id)

    def close(self, reason: ConnectionRefused) -> None:
        """End every connection with `reason`; the room takes no more joins."""
        if self.closed:
            return
        self._life.state = RoomState.CLOSED
        close_all(self._connected.values(), reason)
        close_all(self._watchers.values(), reason)
        self.elsewhere.closed(reason)
        self._arrival.set()  # wake run() so it can return

    # ---- messages from players ----------------------------------------------------------

    def handle_input(self, seat: Seat, seq: int, data: Any) -> None:
        """Apply an input; older or repeated `seq`s are ignored, bad data refused."""
        if seat.spectator:
            raise MessageRefused("bad_message", "a spectator sends no input")
        if seq <= seat.ack:
            return
        try:
            parsed = check_input(type(self.game), data)
        except InvalidInput as error:
            raise MessageRefused("bad_message", str(error)) from None
        self.game.apply_input(seat.player_id, parsed)
        seat.ack = seq

    def chat(self, seat: Seat, text: str) -> None:
        player = None if seat.spectator else seat.player_id
        frame = encode({"type": "chat", "player": player, "name": seat.name, "text": text})
        broadcast(self._connected.values(), frame, self.stats)
        broadcast(self._watchers.values(), frame, self.stats)
        if self.elsewhere.players or self.elsewhere.watching:
            self.elsewhere.chat(frame)

    def note_latency(self, seat: Seat, latency_ms: float) -> None:
        """The round trip a player's client measured (`ping`'s `rtt`), for the admin API."""
        seat.latency_ms = latency_ms

    def send_to(self, seat: Seat, frame: str) -> None:
        """A frame for one player (pong, error); dropped if that client is behind."""
        send_to(seat, frame, self.stats)

    # ---- time -------------------------------------------------------------------------

    async def run(self) -> None:
        """Tick while humans are connected; return when the room may be disposed."""
        while not self.closed:
            if self._connected or self.elsewhere.players:
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
        self._life.move(RoomState.IDLE, RoomState.TICKING)
        self._life.loop_starts += 1
        logger.debug("tick loop started room=%s", self.id)
        try:
            if self._bots is None:
                await self._tick_on_grid()
            else:
                async with self._bots.planning():
                    await self._tick_on_grid()
        finally:
            if not self.closed:
                self._life.move(RoomState.TICKING, RoomState.IDLE)
            logger.debug("tick loop stopped room=%s", self.id)

    async def _tick_on_grid(self) -> None:
        """Tick on this room's deadline grid while humans are connected."""
        period = self.period
        deadline = self.first_deadline(anyio.current_time())
        next_expiry_check = 0.0
        late: float | None = None  # how late the tick to run starts, catching up after an overrun
        while (self._connected or self.elsewhere.players) and not self.closed:
            await anyio.sleep_until(deadline)
            # The loop's own clock may be coarse (uvloop's counts whole milliseconds);
            # time.monotonic() reads the same clock finely.
            started = time.monotonic()
            self.step(started)
            finished = time.monotonic()
            self.stats.record_tick(finished - started, started - deadline)
            deadline += self.pace.next_period(finished - started, finished)  # longer while slowed
            if finished > deadline:
                # Past its slot: the next tick starts at once while that catches the room up,
                # else the slots already gone are skipped (`slots.py`).
                self.stats.overruns += 1
                deadline, late, skipped = after_overrun(deadline, finished, period, late)
                self.stats.slots_skipped += skipped
            else:
                late = None
            if finished >= next_expiry_check:
                self._expire_seats(finished)
                next_expiry_check = finished + 1.0

    def step(self, now: float) -> None:
        """One tick: advance the game and hand every connected player its frame."""
        if self._bots is not None:
            self._bots.act(self.tick)
        for event in self.game.step(self.tick + 1, self.period):
            self._score(event)
        self.tick += 1
        if self._scored is not None and (changed := self._scored.take_score_changes()) and self.elsewhere.keeps_scores:
            self._mark_scores(changed)  # kept before this tick is handed on: a restore shows no less
        if self.viewers is not None:
            self._step_views(now, self.viewers)
            self._step_minimap(now)
            return
        frame = TickFrame("tick", self.tick, self.game.take_delta())
        state: TickFrame | None = None

        def state_frame() -> TickFrame:
            nonlocal state
            if state is None:
                state = TickFrame("state", self.tick, {"state": self.game.snapshot()})
            return state

        fan_out(
            [*self._connected.values(), *self._watchers.values()], frame, state_frame, self.stats,
            now=now, slow_after=self.settings.slow_client_seconds, room_id=self.id,
        )  # fmt: skip
        if self.elsewhere.players or self.elsewhere.watching:
            self.elsewhere.tick(frame, state_frame)

    def _score(self, event: ScoreEvent) -> None:
        self._finals[event.player_id] = event
        self._on_score(event)

    def _mark_scores(self, changed: list[str]) -> None:
        game, finals, tick = self.game, self._finals, self.tick
        marks = {}
        for player_id in changed:
            stats = game.player_stats(player_id)
            marks[player_id] = ScoreMark(tick, stats["score"], stats["alive"], finals.get(player_id)).encode()
        self.elsewhere.keep_scores(marks)

    def _step_views(self, now: float, viewers: Viewers) -> None:
        """A view room's tick: each player gets its view, here or through another process."""
        changes = viewers.game.bucket_changes(viewers.bucket)  # (starts the game's next change)
        viewers.fan_out(
            [*self._connected.values(), *self._watchers.values()], self.tick, changes, self.stats,
            now=now, slow_after=self.settings.slow_client_seconds, room_id=self.id,
        )  # fmt: skip
        if self.elsewhere.players or self.elsewhere.watching:
            self.elsewhere.view_tick(self.tick, viewers)

    def _step_minimap(self, now: float) -> None:
        """At most once a second, a view room's minimap to every player, here and elsewhere
        (a frame any player may miss, as chat is: the relaying processes broadcast it too).
        The players here get it over the second, a slice a tick (`views.minimap.Rollout`)."""
        if self.minimap is None:
            return
        if (frame := self.minimap.frame(now, self.tick)) is not None:
            self._minimap_rollout.start(frame, self._connected.values())
            if self.elsewhere.players:
                self.elsewhere.chat(frame)
        frame, due = self._minimap_rollout.next()
        if due:
            broadcast(due, frame, self.stats, now)

    def reseat(self, seats: list[Seat]) -> None:
        """Seats saved by another process (`roomview.restore`): each human must come back
        within `seat_seconds`; the bots play on."""
        now = anyio.current_time()
        for seat in seats:
            self.seats[seat.player_id] = seat
            if not seat.bot:
                self._by_token[seat.token] = seat
                self._set_away(seat, now)  # connected nowhere yet: away until its player resumes
        self._start_bot_driver()

    def report_again(self, event: ScoreEvent) -> None:
        """A restored room: a player's last score event, as its mark holds it (`scoremarks.py`):
        to the leaderboard again (the process that died may not have written it; a score
        reported twice counts once), and into the marks this room writes on."""
        if event.player_id in self.seats:
            self._finals[event.player_id] = event
        self._on_score(event)

    def forget_seat(self, seat: Seat) -> None:
        """A restored room: a seat its player had left before the owner died (its score went then)."""
        self._free_seat(seat, report=False)
