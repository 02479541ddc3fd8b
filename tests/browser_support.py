"""Helpers for the browser tests: chromium, pages, rooms, a Python player that watches the
room, and a TCP proxy that delays the page's traffic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import pytest

from asgi_mmo.games.snake.rules import apply_delta as apply_snake_delta

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page
    from websockets.sync.client import ClientConnection

#: a JSON object off the wire or out of a page (a message, a snapshot, a snake), read by key
JSONObject = dict[str, Any]
#: a game's `apply_delta(snapshot, delta)`: the client's side of the tick message
DeltaApplier = Callable[[JSONObject, JSONObject], object]

#: the arrow key that steers a snake each way
ARROWS = {"up": "ArrowUp", "down": "ArrowDown", "left": "ArrowLeft", "right": "ArrowRight"}


def roomier_turn(head: list[int] | tuple[int, int], direction: str, width: int, height: int) -> str:
    """The right-angle turn from `direction` with more cells between `head` and the wall ahead
    (a snake born 3 cells from a wall and turned towards it dies within a second)."""
    x, y = head
    if direction in ("left", "right"):
        return "up" if y > height - 1 - y else "down"
    return "left" if x > width - 1 - x else "right"


CHROMIUM = Path(os.environ.get("ASGI_MMO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_chromium() -> None:
    """Skip without chromium or Playwright, except in CI, where that is a failure."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not missing:
        return
    what = " and ".join(missing)
    if IN_CI:
        pytest.fail(f"{what} is required in CI (apt-get install chromium; pip install -e .[test])")
    pytest.skip(f"{what} is not available")


class Pages:
    """`new_page(width=1280, height=800)`: a page in a fresh context (its own storage);
    `new_page.errors[page]`: the script errors that page has thrown so far."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: dict[Page, list[str]] = {}

    def __call__(self, width: int = 1280, height: int = 800, *, touch: bool = False) -> Page:
        context = self.browser.new_context(viewport={"width": width, "height": height}, has_touch=touch)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        self.errors[page] = errors
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def attribute(page: Page, selector: str, name: str) -> str:
    """An attribute the page must have."""
    value = page.get_attribute(selector, name)
    assert value is not None, f"{selector} has no {name}"
    return value


def join(page: Page, base_url: str, room: str, name: str) -> str:
    """Open the game page; return this player's id once the page plays."""
    page.goto(f"{base_url}/play/{room}?name={quote(name)}")
    page.wait_for_selector("#app[data-player]")
    return attribute(page, "#app", "data-player")


class Watcher:
    """A player (or a spectator) on a plain WebSocket (no Origin, like any non-browser
    client) that keeps the room's snapshot up to date from welcome, ticks and states."""

    def __init__(self, ws: ClientConnection, apply_delta: DeltaApplier = apply_snake_delta) -> None:
        self.ws = ws
        self.apply_delta = apply_delta
        welcome = self._recv(5.0)
        assert welcome["type"] == "welcome", welcome
        self.player: str | None = welcome["player"]  # None: a spectator
        self.snapshot: JSONObject = welcome["state"]
        self.tick: int = welcome["tick"]
        self.chats: list[JSONObject] = []
        #: tick -> normalised snapshot, when `keep_history` is on
        self.history: dict[int, JSONObject] = {}
        self.keep_history = False

    def _recv(self, timeout: float) -> JSONObject:
        message: JSONObject = json.loads(self.ws.recv(timeout=timeout))
        return message

    def send(self, message: JSONObject) -> None:
        self.ws.send(json.dumps(message))

    def snake(self, player_id: str) -> JSONObject | None:
        return next((s for s in self.snapshot["snakes"] if s["id"] == player_id), None)

    def snake_of(self, player_id: str) -> JSONObject:
        """The player's snake, which must be in the room."""
        snake = self.snake(player_id)
        assert snake is not None, f"no snake of {player_id} in the room"
        return snake

    def pump(self, timeout: float) -> None:
        """Read one message (or time out) and apply it."""
        try:
            message = self._recv(timeout)
        except TimeoutError:
            return
        if message["type"] == "tick":
            assert message["tick"] == self.tick + 1, (message["tick"], self.tick)
            self.apply_delta(self.snapshot, message)
            self.tick = message["tick"]
            if self.keep_history:
                self.history[self.tick] = normalised(self.snapshot)
        elif message["type"] == "state":
            self.snapshot, self.tick = message["state"], message["tick"]
        elif message["type"] == "chat":
            self.chats.append(message)

    def wait_for(self, what: str | Callable[[], str], predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Pump until `predicate` holds; `what` (or what it gives, at the end) says what was awaited."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the room never showed {what() if callable(what) else what}")
            self.pump(min(left, 0.5))


def normalised(snapshot: JSONObject) -> JSONObject:
    """A deep copy that compares equal whatever the order of snakes, food and stones."""
    copy: JSONObject = json.loads(json.dumps(snapshot))
    copy["snakes"] = sorted(copy["snakes"], key=lambda s: s["id"])
    copy["food"] = sorted(copy["food"])
    copy["stones"] = sorted(copy["stones"])
    return copy


@contextlib.contextmanager
def watching(
    ws_url: str, *, name: str, room: str, apply_delta: DeltaApplier = apply_snake_delta, spectate: bool = False
) -> Iterator[Watcher]:
    """A `Watcher` in `room` (of snake, unless told the game's `apply_delta`; a spectator, with no
    snake of its own in the way, when told), closed on exit."""
    from tests.servers import connect

    query = {"name": name, "room": room, **({"spectate": "true"} if spectate else {})}
    with connect(f"{ws_url}?{urlencode(query)}", open_timeout=5) as ws:
        yield Watcher(ws, apply_delta)


@contextlib.contextmanager
def delaying_proxy(port: int, delay: float) -> Iterator[int]:
    """A TCP proxy on a free loopback port that forwards every byte to and from
    127.0.0.1:`port` `delay` seconds late in each direction, in order (a slow network,
    as seen by a browser). Yields its port; stops, and closes every connection, on exit."""
    ready = threading.Event()
    found: dict[str, Any] = {}

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=1024)

        async def feed() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(65536):
                    await queue.put((loop.time() + delay, data))
            await queue.put((loop.time() + delay, b""))

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    with contextlib.suppress(ConnectionError, OSError):
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(feed())
            tasks.create_task(deliver())

    async def connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_writer.close()
            return
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(pipe(client_reader, server_writer))
                tasks.create_task(pipe(server_reader, client_writer))
        except* (ConnectionError, OSError):
            pass  # one side went away: so does the other
        finally:
            for writer in (client_writer, server_writer):
                writer.close()

    async def main() -> None:
        stop = asyncio.Event()
        handlers: set[asyncio.Task[None]] = set()

        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.get_running_loop().create_task(connection(reader, writer))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        found["port"] = server.sockets[0].getsockname()[1]
        found["stop"] = lambda: loop.call_soon_threadsafe(stop.set)
        ready.set()
        async with server:
            await stop.wait()
            for task in list(handlers):
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:  # reported to the test's thread
            found["error"] = error
            ready.set()

    thread = threading.Thread(target=run, name="delaying-proxy", daemon=True)
    thread.start()
    ready.wait(10)
    if "port" not in found:
        raise RuntimeError("the delaying proxy did not start") from found.get("error")
    try:
        yield int(found["port"])
    finally:
        found["stop"]()
        thread.join(10)
