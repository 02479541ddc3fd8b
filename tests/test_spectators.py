"""Spectators (the contract's "Spectators"), end to end: a real uvicorn process, real
WebSocket clients. Relayed spectators (a socket on another process) are in
tests/test_spectators_cluster.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from tests.servers import ServerProcess, connect, create_room, run_uvicorn

pytestmark = pytest.mark.e2e

TOKEN = "spectators-admin"
MAX_SPECTATORS = 3
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
Message = dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"ASGI_MMO_ADMIN_TOKEN": TOKEN, "ASGI_MMO_MAX_SPECTATORS": str(MAX_SPECTATORS)}
    with run_uvicorn(env=env, cwd=tmp_path_factory.mktemp("spectators")) as process:
        yield process



@contextmanager
def socket(server: ServerProcess, **query: str) -> Iterator[ClientConnection]:
    with connect(f"{server.ws_url}?{urlencode(query)}", open_timeout=5) as ws:
        yield ws


def receive(ws: ClientConnection) -> Message:
    message: Message = json.loads(ws.recv(timeout=5))
    return message


def next_of(ws: ClientConnection, kind: str, where: Callable[[Message], bool] = lambda m: True) -> Message:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message = receive(ws)
        if message["type"] == kind and where(message):
            return message
    raise AssertionError(f"no {kind!r} within 10 s")


def closed_with(ws: ClientConnection) -> tuple[int, str | None]:
    """Read until the server closes: its close code and the last error code it sent."""
    error = None
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(1000):
            message = receive(ws)
            if message["type"] == "error":
                error = message["code"]
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, error


def stats(server: ServerProcess, room: str) -> Message:
    answer = httpx.get(f"{server.url}/admin/api/rooms/{room}", headers=ADMIN, timeout=5)
    assert answer.status_code == 200, answer.text
    details: Message = answer.json()
    return details


def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_a_spectator_gets_the_players_stream_without_a_seat(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20, bots=1)
    with socket(server, name="alice", room=room) as alice, \
            socket(server, name="eve", room=room, spectate="true") as eve:
        player_welcome, welcome = receive(alice), receive(eve)
        assert welcome["type"] == "welcome" and welcome["room"] == room and welcome["game"] == "snake"
        assert welcome["spectator"] is True and welcome["player"] is None and welcome["token"] is None
        assert welcome["tick_rate"] == 20 and welcome["ack"] == 0
        assert {s["name"] for s in welcome["state"]["snakes"]} == {"alice", "Bot 1"}, "no snake of its own"
        # The same stream: tick after tick from the welcome's, each with ack 0.
        ticks = [next_of(eve, "tick") for _ in range(5)]
        assert [t["tick"] for t in ticks] == list(range(welcome["tick"] + 1, welcome["tick"] + 6))
        assert {t["ack"] for t in ticks} == {0}
        # alice's input is acknowledged to alice; the spectator's ack stays 0.
        alice.send(json.dumps({"type": "input", "seq": 3, "data": {"respawn": True}}))
        next_of(alice, "tick", lambda t: t["ack"] == 3)
        assert next_of(eve, "tick")["ack"] == 0
        # sync and ping work as for a player
        eve.send(json.dumps({"type": "sync"}))
        assert next_of(eve, "state")["state"]["width"] == 40
        eve.send(json.dumps({"type": "ping", "t": 12.5}))
        assert next_of(eve, "pong")["t"] == 12.5
        assert "spectator" not in player_welcome and isinstance(player_welcome["player"], str)


def test_a_spectators_input_is_bad_message_and_its_chat_has_no_player(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    with socket(server, name="alice", room=room) as alice, \
            socket(server, name="eve", room=room, spectate="true") as eve:
        receive(alice), receive(eve)
        eve.send(json.dumps({"type": "input", "seq": 1, "data": {"dir": "up"}}))
        error = next_of(eve, "error")
        assert error["code"] == "bad_message"
        assert next_of(eve, "tick")["ack"] == 0, "the connection stays, nothing was acknowledged"
        eve.send(json.dumps({"type": "chat", "text": "nice move"}))
        expected = {"type": "chat", "player": None, "name": "eve", "text": "nice move"}
        assert next_of(alice, "chat") == expected
        assert next_of(eve, "chat") == expected


def test_without_a_room_or_with_an_unknown_one_a_spectator_is_refused(server: ServerProcess) -> None:
    with socket(server, name="eve", spectate="true") as eve:
        assert closed_with(eve) == (4404, "room_not_found")
    with socket(server, name="eve", room="nowhere", spectate="true") as eve:
        assert closed_with(eve) == (4404, "room_not_found")


def test_spectators_are_not_players_nor_held_to_max_players_but_to_their_own_cap(server: ServerProcess) -> None:
    room = create_room(server, max_players=1, tick_rate=20)
    with socket(server, name="alice", room=room) as alice:
        receive(alice)
        with socket(server, name="bob", room=room) as bob:
            assert closed_with(bob) == (4409, "room_full")
        with socket(server, name="s1", room=room, spectate="true") as s1, \
                socket(server, name="s2", room=room, spectate="true") as s2, \
                socket(server, name="s3", room=room, spectate="true") as s3:
            for ws in (s1, s2, s3):
                assert receive(ws)["spectator"] is True, "a full room still takes spectators"
            with socket(server, name="s4", room=room, spectate="true") as s4:
                assert closed_with(s4) == (4409, "room_full"), f"at most {MAX_SPECTATORS} spectators"
            listed = httpx.get(server.url + "/api/rooms", timeout=5).json()["rooms"]
            entry = next(r for r in listed if r["id"] == room)
            assert (entry["players"], entry["spectators"]) == (1, MAX_SPECTATORS)
            admin = next(r for r in httpx.get(server.url + "/admin/api/rooms", headers=ADMIN).json()["rooms"]
                         if r["id"] == room)
            assert (admin["players"], admin["spectators"]) == (1, MAX_SPECTATORS)
            details = stats(server, room)
            assert details["spectators"] == MAX_SPECTATORS
            assert [p["name"] for p in details["players"]] == ["alice"], "spectators hold no seat"
        eventually(lambda: stats(server, room)["spectators"] == 0, "the spectators are gone from the stats")


def test_spectators_alone_do_not_keep_a_room_ticking(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20, bots=2)
    with socket(server, name="eve", room=room, spectate="true") as eve:
        assert receive(eve)["tick"] == 0
        time.sleep(0.5)  # ten slots of 20 Hz: a ticking room would be past tick 0
        assert stats(server, room)["tick"] == 0
        with socket(server, name="alice", room=room) as alice:
            receive(alice)
            assert next_of(eve, "tick")["tick"] == 1, "the spectator's stream starts with the room's loop"


def test_a_spectator_moves_its_camera_in_a_view_room(server: ServerProcess) -> None:
    room = create_room(server, view=True, width=200, height=150, tick_rate=20)
    with socket(server, name="alice", room=room, view="32x32") as alice, \
            socket(server, name="eve", room=room, spectate="true", view="40x30") as eve:
        receive(alice)
        welcome = receive(eve)
        assert welcome["spectator"] is True
        assert (welcome["view"]["width"], welcome["view"]["height"]) == (40, 30)
        # Far beyond the field: clamped so the rectangle lies inside it.
        eve.send(json.dumps({"type": "view", "x": 1000, "y": 7}))
        moved = next_of(eve, "tick", lambda t: "view" in t)
        assert (moved["view"]["x"], moved["view"]["y"]) == (200 - 40, 7)
        eve.send(json.dumps({"type": "view", "y": -5}))  # every field optional: x stays
        moved = next_of(eve, "tick", lambda t: "view" in t)
        assert (moved["view"]["x"], moved["view"]["y"], moved["view"]["width"]) == (160, 0, 40)
        eve.send(json.dumps({"type": "view", "x": 10, "width": 64, "height": 48}))
        moved = next_of(eve, "tick", lambda t: "view" in t)
        assert (moved["view"]["x"], moved["view"]["width"], moved["view"]["height"]) == (10, 64, 48)
        eve.send(json.dumps({"type": "view", "x": "left"}))
        assert next_of(eve, "error")["code"] == "bad_message"


def test_the_python_client_watches_as_a_spectator(server: ServerProcess) -> None:
    import asyncio

    from asgi_mmo.client import Tick
    from asgi_mmo.client import connect as client_connect

    room = create_room(server, tick_rate=20, bots=1)

    async def watch() -> tuple[object, object, bool, int]:
        async with client_connect(server.ws_url, name="eve", room=room, spectate=True) as eve:
            ticks = 0
            async for update in eve:
                if isinstance(update, Tick):
                    ticks += 1
                    if ticks == 3:
                        break
            names = {s["name"] for s in eve.state["snakes"]}
            return eve.id, eve.token, eve.spectator and names == {"alice", "Bot 1"}, ticks

    with socket(server, name="alice", room=room) as alice:
        receive(alice)
        player_id, token, spectating, ticks = asyncio.run(asyncio.wait_for(watch(), 20))
    assert (player_id, token, spectating, ticks) == (None, None, True, 3)
