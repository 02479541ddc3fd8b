"""Runs a load test: rooms, a ramp of connections, a measured window, the summary.

The whole test is one process and one event loop (uvloop when installed):
each player is a socket protocol plus a few timers, no task of its own.

    asgi-mmo loadtest --url http://127.0.0.1:8000 --players 1000 --rooms 20 \
        --ramp-up 10 --duration 30 [--game arena] [--option hit_points=5]
    asgi-mmo loadtest --players 1000 --rooms 1 --view 64x40 --width 1000 --height 1000 --bots 100

`--view WxH` (or `--world`, the server's default view size) makes view rooms
(`"view": true`) and has every player join with `view=WxH`. The summary's
`bytes_per_player_tick` is what the players received in the window (bytes
off the wire, WebSocket headers included) over the tick frames they got
(players x ticks): the figure views exist to shrink.

`--resume` has every player whose socket the server ends reconnect with its
seat's token (backing off from 50 ms to 0.5 s between tries, for up to
`--resume-for` seconds), as the browser client does; the summary counts the
resumes (`resume_ms`: from the drop to the welcome), the seats lost (a resume
refused with `bad_token` or `room_not_found`, or given another seat) and the
resumes that never got through. `bench/chaos.py` uses it.

Timeline: the game's GAME_INFO is read (`GET /api/games`), rooms of that game
are made (`POST /api/rooms`), players connect evenly over `--ramp-up`
seconds, then the measured window lasts `--duration` seconds; then every
player says `leave`. Percentiles (lateness, input-to-ack) cover the window;
counters (ticks missed, resyncs, failures, drops) the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit

import httpx
import orjson

from asgi_mmo.loadtest.drivers import (
    CELLS_PER_PLAYER,
    DRIVER_CHOICES,
    DriverKind,
    GameInfo,
    NoExamples,
    driver_kind,
    driver_name,
)
from asgi_mmo.loadtest.player import Player
from asgi_mmo.loadtest.rooms import (
    LoadSetupError,
    OptionValue,
    RoomRequest,
    create_rooms,
    fetch_game_info,
    parse_option,
    typed_options,
)
from asgi_mmo.loadtest.stats import LoadStats, spread_ms, summary
from asgi_mmo.loadtest.wsclient import HandshakeFailed, Opener, open_raw, open_websockets


@dataclass(frozen=True, slots=True)
class LoadConfig:
    url: str = "http://127.0.0.1:8000"
    players: int = 100
    rooms: int = 5
    ramp_up: float = 5.0
    duration: float = 20.0
    tick_rate: int = 20
    chat_every: float = 60.0
    compression: bool = False
    client: str = "raw"
    width: int | None = None
    height: int | None = None
    connect_timeout: float = 10.0
    seed: int | None = None
    progress: bool = True
    #: the game of the rooms made (and of a quick join)
    game: str = "snake"
    #: the game's own options for the rooms made (strings are typed by the game's OPTION specs)
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    #: "auto": the game's own driver when it has one; "examples": its input schema's examples
    driver: str = "auto"
    #: view rooms: True makes them; `view` is the size each player asks for (None: the server's default)
    world: bool = False
    view: tuple[int, int] | None = None
    #: the server's bots in each room made
    bots: int = 0
    #: rooms made beforehand (the chaos bench makes them on chosen servers): players join these, none made
    room_ids: tuple[str, ...] = ()
    #: reconnect a dropped player with its token, for at most `resume_for` seconds
    resume: bool = False
    resume_for: float = 30.0

    @property
    def view_rooms(self) -> bool:
        return self.world or self.view is not None

    def driver_kind(self) -> DriverKind:
        return driver_kind(self.game, self.driver)

    def field_size(self) -> tuple[int, int] | None:
        """The field of each room: given, or the driver's for the room's players; None: the game's default."""
        per_room = math.ceil(self.players / max(1, self.rooms))
        chosen = self.driver_kind().field_for(per_room)
        if chosen is None:
            if not (self.width or self.height):
                return None
            chosen = (self.width or self.height or 0, self.height or self.width or 0)
        return self.width or chosen[0], self.height or chosen[1]


WindowHook = Callable[[str], None]
#: the measured window's own timeline (instead of `duration`): the window ends when it returns
Window = Callable[["LoadTest"], Awaitable[None]]
#: error codes that say a seat is gone for good: resuming again is pointless
SEAT_GONE = frozenset({"bad_token", "room_not_found", "room_closed"})
RESUME_DELAYS = (0.05, 0.1, 0.2, 0.35, 0.5)


def ws_url(base: str, room: str | None, name: str, game: str = "snake",
           view: tuple[int, int] | None = None) -> str:
    """The player's socket: its room, or (no room) a quick join into the game; its view size if any."""
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = {"name": name, **({"room": room} if room else {"game": game})}
    if view is not None:
        query["view"] = f"{view[0]}x{view[1]}"
    return f"{scheme}://{parts.netloc}/ws?{urlencode(query)}"


def raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < min(wanted, target):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, target), hard))


class LoadTest:
    """`game_info`: the game's GAME_INFO when the caller has it (in-process); else asked of the server."""

    def __init__(self, config: LoadConfig, *, out: TextIO = sys.stderr, game_info: GameInfo | None = None) -> None:
        self.config = config
        self.out = out
        self.game_info = game_info
        self.driver_kind = config.driver_kind()
        self.stats = LoadStats()
        self.players: list[Player] = []
        self.rng = random.Random(config.seed)
        self._started = 0.0
        self._open = LoadTest._opener(config.client)
        #: resumes under way; each is awaited (or cancelled) before `run` returns
        self._resuming: set[asyncio.Task[None]] = set()

    @staticmethod
    def _opener(client: str) -> Opener:
        if client == "raw":
            return open_raw
        if client == "websockets":
            return open_websockets
        raise ValueError(f"unknown client {client!r}: raw or websockets")

    async def run(self, on_window: WindowHook | None = None, window: Window | None = None) -> dict[str, Any]:
        config = self.config
        raise_open_files_limit(config.players + 256)
        rooms, made = await self._prepare()
        self._started = time.monotonic()
        progress = asyncio.get_running_loop().create_task(self._progress()) if config.progress else None
        try:
            await self._ramp(rooms)
            stats = self.stats
            stats.window = True
            cpu0, wall0, bytes0 = time.process_time(), time.monotonic(), self._bytes_in()
            if on_window:
                on_window("start")
            if window is not None:
                await window(self)
            else:
                await asyncio.sleep(config.duration)
            if on_window:
                on_window("end")
            window_s, cpu_s = time.monotonic() - wall0, time.process_time() - cpu0
            window_bytes = self._bytes_in() - bytes0
            stats.window = False
            stats.connected_at_end = stats.connected
        finally:
            if progress is not None:
                progress.cancel()
            await self._stop_resuming()
            await self._leave_all()
        settings = {
            "url": config.url, "players": config.players, "rooms": config.rooms,
            "tick_rate": config.tick_rate, "ramp_up_s": config.ramp_up, "duration_s": config.duration,
            "chat_every_s": config.chat_every, "compression": "deflate" if config.compression else "none",
            "client": config.client, "game": config.game, "driver": driver_name(self.driver_kind),
            "options": made.get("options", {}), "field": made.get("field"),
            "view": f"{config.view[0]}x{config.view[1]}" if config.view else "default" if config.world else None,
            "bots": config.bots,
            "deflate_negotiated": sum(1 for p in self.players if p.socket is not None and p.socket.deflate),
        }
        result = summary(stats, [p.offsets for p in self.players], settings, window_s, cpu_s)
        result["mean_frame_bytes"] = round(self._bytes_in() / stats.messages) if stats.messages else 0
        result["window_bytes"] = window_bytes
        result["bytes_per_player_tick"] = round(window_bytes / stats.ticks) if stats.ticks else 0
        expected = config.players * window_s * config.tick_rate
        result["ticks_delivered"] = round(stats.ticks / expected, 4) if expected else 0.0
        return result

    def _bytes_in(self) -> int:
        """Bytes every player's socket received so far."""
        return sum(p.socket.bytes_in for p in self.players if p.socket is not None)

    async def _prepare(self) -> tuple[list[str | None], dict[str, Any]]:
        """The game's GAME_INFO and the rooms; the room ids and the settings they were made with."""
        config = self.config
        async with httpx.AsyncClient(base_url=config.url, timeout=10.0) as http:
            if self.game_info is None:
                self.game_info = await fetch_game_info(http, config.game)
            try:
                self.driver_kind(random.Random(0), self.game_info)  # fails now, not once per player
            except NoExamples as error:
                raise LoadSetupError(str(error)) from None
            field = config.field_size()
            if config.room_ids:
                return list(config.room_ids), {"field": list(field) if field else None, "options": {}}
            request = RoomRequest(game=config.game, rooms=config.rooms, players=config.players,
                                  tick_rate=config.tick_rate, field=field,
                                  options=typed_options(config.options, self.game_info),
                                  view=config.view_rooms, bots=config.bots)
            made = await create_rooms(http, request)
        answered = made.settings
        used_field = ([answered["width"], answered["height"]] if "width" in answered and "height" in answered
                      else list(field) if field else None)
        return made.ids, {"field": used_field, "options": answered.get("options", dict(request.options))}

    async def _ramp(self, rooms: list[str | None]) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        step = config.ramp_up / config.players if config.players else 0.0
        info = self.game_info
        assert info is not None, "_prepare reads the game's GAME_INFO first"
        tasks = []
        for number in range(config.players):
            due = self._started + number * step
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            rng = random.Random(self.rng.random())
            player = Player(self.stats, number, rng, config.chat_every, self.driver_kind(rng, info))
            self.players.append(player)
            url = player.url = ws_url(config.url, rooms[number % len(rooms)], f"load{number}", config.game,
                                      config.view)
            if config.resume:
                player.on_drop = self._start_resume
            tasks.append(loop.create_task(self._connect(player, url)))
        await asyncio.gather(*tasks)
        # Let the last welcomes arrive before the window opens.
        await asyncio.sleep(0.2)

    async def _connect(self, player: Player, url: str) -> None:
        try:
            player.socket = await self._open(url, player, deflate=self.config.compression,
                                             timeout=self.config.connect_timeout)
        except HandshakeFailed as error:
            self.stats.connection_failed(str(error))
            player.closed = True
        except (OSError, TimeoutError) as error:
            self.stats.connection_failed(type(error).__name__)
            player.closed = True
        except Exception as error:  # noqa: BLE001 - the websockets client's own errors
            self.stats.connection_failed(type(error).__name__)
            player.closed = True

    # ---- resuming ----------------------------------------------------------------------

    def _start_resume(self, player: Player) -> None:
        task = asyncio.get_running_loop().create_task(self._resume(player, time.monotonic()))
        self._resuming.add(task)
        task.add_done_callback(self._resuming.discard)

    async def _resume(self, player: Player, dropped: float) -> None:
        """Reconnect `player` with its token until it is welcomed, its seat is gone, or time runs out."""
        stats, config = self.stats, self.config
        for attempt in itertools.count():
            welcomed = player.expect_welcome()
            try:
                player.socket = await self._open(player.resume_url, player, deflate=config.compression,
                                                 timeout=config.connect_timeout)
                resumed = await asyncio.wait_for(welcomed, config.connect_timeout)
            except (HandshakeFailed, OSError, TimeoutError):
                resumed = False
            except Exception:  # noqa: BLE001 - the websockets client's own errors
                resumed = False
            if resumed:
                stats.resumes.append(time.monotonic() - dropped)
                return
            if player.socket is not None and not player.closed:
                player.socket.abort()  # no welcome in time: this socket is given up
            player.closed = True
            if player.last_error in SEAT_GONE:
                stats.seats_lost += 1
                return
            if time.monotonic() - dropped > config.resume_for:
                stats.resume_failures += 1
                return
            await asyncio.sleep(RESUME_DELAYS[min(attempt, len(RESUME_DELAYS) - 1)])

    async def _stop_resuming(self) -> None:
        for task in list(self._resuming):
            task.cancel()
        if self._resuming:
            await asyncio.gather(*self._resuming, return_exceptions=True)

    async def _leave_all(self) -> None:
        open_players = [p for p in self.players if p.socket is not None and not p.closed]
        for player in open_players:
            player.leave()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and any(not p.closed for p in open_players):
            await asyncio.sleep(0.05)
        for player in open_players:
            if player.socket is not None and not player.closed:
                player.socket.abort()

    async def _progress(self) -> None:
        """One line a second: players connected, ticks/s, live p99 lateness, failures."""
        stats = self.stats
        tty = self.out.isatty()
        last = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            ticks, lateness = stats.take_live()
            live = spread_ms(lateness)
            line = (
                f"{now - self._started:6.1f}s  players {stats.connected:>5}/{self.config.players}"
                f"  ticks/s {ticks / (now - last):>8.0f}  lateness p99 {live['p99']:6.1f} ms"
                f"  missed {stats.ticks_missed}  resyncs {stats.state_resyncs}"
                f"  failures {sum(stats.failures.values())}  drops {sum(stats.drops.values())}"
                f"{'  [window]' if stats.window else ''}"
            )
            last = now
            self.out.write(("\r" + line + "   ") if tty else line + "\n")
            self.out.flush()


def run_load(config: LoadConfig, on_window: WindowHook | None = None, out: TextIO = sys.stderr) -> dict[str, Any]:
    """Run a load test on a new event loop (uvloop when installed); its summary."""
    test = LoadTest(config, out=out)
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(test.run(on_window))
    return uvloop.run(test.run(on_window))


def format_table(result: dict[str, Any]) -> str:
    lat, ack = result["lateness_ms"], result["ack_ms"]
    rows = [
        ("players connected", f"{result['connected']} of {result['players']} in {result['rooms']} rooms"
                              f" at {result['tick_rate']} Hz"),
        ("game", f"{result['game']} ({result['driver']} driver)"
                 + (f"  options {result['options']}" if result["options"] else "")),
        ("window", f"{result['window_s']} s after a {result['ramp_up_s']} s ramp-up"),
        ("ticks received", f"{result['ticks']} ({result['ticks_per_s']}/s,"
                           f" {result['ticks_delivered'] * 100:.1f}% of players x ticks)"),
        ("bytes per player-tick", f"{result['bytes_per_player_tick']}"
                                  + (f"  (views {result['view']})" if result["view"] else "  (plain rooms)")),
        ("tick lateness", f"p50 {lat['p50']} ms  p99 {lat['p99']} ms  max {lat['max']} ms"),
        ("input to ack", f"p50 {ack['p50']} ms  p99 {ack['p99']} ms  max {ack['max']} ms"
                         f"  ({result['acks_measured']} inputs)"),
        ("inputs", f"{result['inputs_sent']} sent, {result['inputs_acked']} acked"),
        ("ticks missed", f"{result['ticks_missed']} (tick gaps without a state: {result['tick_gaps']})"),
        ("state resyncs", str(result["state_resyncs"])),
        ("connection failures", f"{result['connection_failures']} {result['failures'] or ''}".strip()),
        ("drops", f"{result['drops']} {result['drop_codes'] or ''}".strip()),
        ("errors", str(result["errors"] or 0)),
        ("resumes", f"{result['resumes']} (p99 {result['resume_ms']['p99']} ms, max {result['resume_ms']['max']} ms),"
                    f" {result['seats_lost']} seats lost, {result['resume_failures']} not through"),
        ("compression", f"{result['compression']} (negotiated by {result['deflate_negotiated']})"),
        ("load generator CPU", f"{result['loadgen_cpu'] * 100:.0f}% of one core"
                               f" ({result['loadgen_us_per_msg']} us per tick message)"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


DEFAULTS = LoadConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULTS.url,
                        help="the server's base URL (default %(default)s); a loopback address unless --allow-remote")
    parser.add_argument("--players", type=int, default=DEFAULTS.players,
                        help="simulated players (default %(default)s)")
    parser.add_argument("--game", default=DEFAULTS.game,
                        help="the game of the rooms made, as GET /api/games names it (default %(default)s)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="one of the game's own options for the rooms made (sent under \"options\"; typed "
                             "as GET /api/games says); repeat for more")
    parser.add_argument("--driver", choices=DRIVER_CHOICES, default=DEFAULTS.driver,
                        help="how the players play: auto = the game's own driver (snake: turns; arena: steer, "
                             "aim, fire, respawn), or the examples of its input schema in turn for a game "
                             "without one; examples = those examples for every game (default %(default)s)")
    parser.add_argument("--rooms", type=int, default=DEFAULTS.rooms,
                        help="rooms made with POST /api/rooms; the players are spread over them in turn; "
                             "0 = quick join, no rooms made (default %(default)s)")
    parser.add_argument("--ramp-up", type=float, default=DEFAULTS.ramp_up,
                        help="seconds over which the players connect, evenly (default %(default)s)")
    parser.add_argument("--duration", type=float, default=DEFAULTS.duration,
                        help="seconds of the measured window after the ramp-up (default %(default)s)")
    parser.add_argument("--tick-rate", type=int, default=DEFAULTS.tick_rate,
                        help="tick rate of the rooms made, 1-60 (default %(default)s)")
    parser.add_argument("--chat-every", type=float, default=DEFAULTS.chat_every,
                        help="mean seconds between one player's chat messages; 0 = no chat (default %(default)s)")
    parser.add_argument("--compression", choices=("none", "deflate"), default="none",
                        help="offer permessage-deflate to the server (default %(default)s)")
    parser.add_argument("--client", choices=("raw", "websockets"), default=DEFAULTS.client,
                        help="raw: the lean built-in WebSocket client; websockets: the websockets "
                             "library's asyncio client, for comparison (default %(default)s)")
    parser.add_argument("--width", type=int, default=None,
                        help=f"field width of the rooms made (default: snake about {CELLS_PER_PLAYER} cells a "
                             "player; arena 60 x 40 for 50 ships, scaled; other games their own default)")
    parser.add_argument("--height", type=int, default=None,
                        help="field height of the rooms made (default: as for --width)")
    parser.add_argument("--view", type=_view_size, default=None, metavar="WxH",
                        help="make view rooms (\"view\": true; games with views only, snake) and have every "
                             "player ask for a view of W x H cells (view=WxH; the server clamps each side)")
    parser.add_argument("--world", action="store_true",
                        help="make view rooms; without --view the players take the server's default view size")
    parser.add_argument("--bots", type=int, default=DEFAULTS.bots,
                        help="the server's bots in each room made, 0-100 (default %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="a player whose socket the server ends reconnects with its seat's token")
    parser.add_argument("--resume-for", type=float, default=DEFAULTS.resume_for,
                        help="with --resume: seconds a player keeps trying (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the players' random choices")
    parser.add_argument("--json", action="store_true",
                        help="print only the JSON line on standard output (the table goes to standard error)")
    parser.add_argument("--quiet", action="store_true", help="no live progress line")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --url that is not a loopback address (only load servers you run)")


def _view_size(text: str) -> tuple[int, int]:
    """`WxH` of `--view`, two positive integers."""
    width, x, height = text.lower().partition("x")
    if not (x and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise argparse.ArgumentTypeError(f"wants WxH (for example 64x40), not {text!r}")
    return int(width), int(height)


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    return LoadConfig(
        url=args.url.rstrip("/"), players=args.players, rooms=args.rooms, ramp_up=args.ramp_up,
        duration=args.duration, tick_rate=args.tick_rate, chat_every=args.chat_every,
        compression=args.compression == "deflate", client=args.client, width=args.width, height=args.height,
        seed=args.seed, progress=not args.quiet, game=args.game,
        options=dict(parse_option(text) for text in args.option), driver=args.driver,
        world=args.world, view=args.view, bots=args.bots, resume=args.resume, resume_for=args.resume_for,
    )


def main(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"loadtest: {error}", file=sys.stderr)
        return 2
    if config.players < 1 or config.duration <= 0 or config.ramp_up < 0:
        print("loadtest: --players must be at least 1, --duration above 0, --ramp-up 0 or more", file=sys.stderr)
        return 2
    host = urlsplit(config.url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1" or args.allow_remote):
        print(f"loadtest: {host!r} is not a loopback address; pass --allow-remote to load a server elsewhere",
              file=sys.stderr)
        return 2
    try:
        result = run_load(config)
    except LoadSetupError as error:
        print(f"loadtest: {error}", file=sys.stderr)
        return 2
    table = format_table(result)
    print(("\n" if config.progress else "") + table, file=sys.stderr if args.json else sys.stdout)
    print(orjson.dumps(result).decode(), flush=True)
    return 0


