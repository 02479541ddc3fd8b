"""Helpers for the browser tests: chromium, rooms, and a Python player that watches the room."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest

from asgi_mmo.games.snake.rules import apply_delta

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

#: a JSON object off the wire or out of a page (a message, a snapshot, a snake), read by key
JSONObject = dict[str, Any]

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


def create_room(base_url: str, **settings: object) -> str:
    answer = httpx.post(f"{base_url}/api/rooms", json=settings, timeout=5.0)
    assert answer.status_code == 201, answer.text
    room: str = answer.json()["id"]
    return room


class Watcher:
    """A player on a plain WebSocket (no Origin, like any non-browser client) that
    keeps the room's snapshot up to date from welcome, ticks and states."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        welcome = self._recv(5.0)
        assert welcome["type"] == "welcome", welcome
        self.player: str = welcome["player"]
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
            apply_delta(self.snapshot, message)
            self.tick = message["tick"]
            if self.keep_history:
                self.history[self.tick] = normalised(self.snapshot)
        elif message["type"] == "state":
            self.snapshot, self.tick = message["state"], message["tick"]
        elif message["type"] == "chat":
            self.chats.append(message)

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the room never showed {what}")
            self.pump(min(left, 0.5))



def normalised(snapshot: JSONObject) -> JSONObject:
    """A deep copy that compares equal whatever the order of snakes, food and stones."""
    copy: JSONObject = json.loads(json.dumps(snapshot))
    copy["snakes"] = sorted(copy["snakes"], key=lambda s: s["id"])
    copy["food"] = sorted(copy["food"])
    copy["stones"] = sorted(copy["stones"])
    return copy


@contextlib.contextmanager
def watching(ws_url: str, *, name: str, room: str) -> Iterator[Watcher]:
    """A `Watcher` in `room`, closed on exit."""
    from websockets.sync.client import connect

    with connect(f"{ws_url}?{urlencode({'name': name, 'room': room})}", open_timeout=5) as ws:
        yield Watcher(ws)
