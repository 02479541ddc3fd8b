"""Graceful shutdown: readiness, players told before their sockets are cut, rooms saved, a clean exit.

The end-to-end tests send real signals to real uvicorn and gunicorn processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from asgi_mmo.app import create_app
from asgi_mmo.backends.memory import MemoryBackend
from asgi_mmo.settings import Settings
from asgi_mmo.shutdown import GracefulShutdown, ShutdownPhase
from tests.apps import portal_of, registry_of, shutdown_of
from tests.cluster import GunicornProcess, run_gunicorn
from tests.servers import connect, run_uvicorn
from tests.wsclient import create_room, expect_close, next_of, ws_url

GRACE = 3.0


class KeepingBackend(MemoryBackend):
    """The memory backend, but what it was handed stays readable after the app stopped."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict[str, dict[str, Any]] = {}

    async def save_room(self, room_id: str, saved: bytes, ttl_seconds: float, lease: str | None = None) -> bool:
        self.kept[room_id] = orjson.loads(saved)
        return await super().save_room(room_id, saved, ttl_seconds, lease)


# ---- in this process -----------------------------------------------------------------------


def test_draining_flips_readiness_refuses_joins_tells_players_and_saves_their_seats(settings: Settings) -> None:
    backend = KeepingBackend()
    client = TestClient(create_app(settings, backend=backend))
    with client:
        room = create_room(client)
        assert client.get("/readyz").status_code == 200
        with client.websocket_connect(ws_url(name="alice", room=room)) as ws:
            welcome = next_of(ws, "welcome")
            portal_of(client).call(registry_of(client).drain)  # on the event loop, as a signal would
            assert client.get("/readyz").json() == {"status": "draining"}
            assert client.get("/readyz").status_code == 503
            error = expect_close(ws, 1012, "server_shutdown")
            assert error is not None and "token" in error["message"]
        assert client.post("/api/rooms", json={}).status_code == 503
        with client.websocket_connect(ws_url(name="bob", room=room)) as ws:
            expect_close(ws, 1012, "server_shutdown")
        with client.websocket_connect(ws_url(name="alice", room=room, token=welcome["token"])) as ws:
            expect_close(ws, 1012, "server_shutdown")
        assert client.get("/healthz").status_code == 200  # alive, just not ready
    # the lifespan shutdown handed the room, alice's seat and token included, to the backend
    seats = backend.kept[room]["seats"]
    assert [(s["player_id"], s["token"]) for s in seats] == [(welcome["player"], welcome["token"])]


@pytest.fixture
def uvicorn_owns_the_signals() -> Iterator[uvicorn.Server]:
    """uvicorn's Server handling SIGTERM and SIGINT in this process, as `capture_signals` sets it up."""
    server = uvicorn.Server(uvicorn.Config(app=Starlette()))  # an app it never serves: signals only
    previous = {sig: signal.signal(sig, server.handle_exit) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield server
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def wait_until(condition: Callable[[], object], what: str, timeout: float = 3.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.005)


async def test_a_signal_drains_at_once_and_reaches_uvicorn_only_after_the_players_were_told(
    settings: Settings, uvicorn_owns_the_signals: uvicorn.Server
) -> None:
    server = uvicorn_owns_the_signals
    app = create_app(replace(settings, shutdown_grace_seconds=GRACE))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        assert (await http.get("/readyz")).status_code == 200
        assert signal.getsignal(signal.SIGTERM) != server.handle_exit  # the app stepped in
        shutdown = shutdown_of(app)
        shutdown.open_sockets += 1  # a player socket still saying goodbye
        os.kill(os.getpid(), signal.SIGTERM)
        await wait_until(lambda: registry_of(app).draining, "the drain")
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.post("/api/rooms", json={})).status_code == 503
        os.kill(os.getpid(), signal.SIGINT)  # an impatient second Ctrl+C waits its turn
        await anyio.sleep(0.1)
        assert not server.should_exit  # uvicorn would cut that socket: not yet
        shutdown.open_sockets -= 1
        await wait_until(lambda: server.should_exit, "uvicorn told")
        # uvicorn got both signals, in order (a second SIGINT still forces it), and its handlers back
        assert server._captured_signals == [signal.SIGTERM, signal.SIGINT] and server.force_exit
        assert signal.getsignal(signal.SIGTERM) == server.handle_exit
        assert signal.getsignal(signal.SIGINT) == server.handle_exit


async def test_signals_are_left_alone_when_uvicorn_does_not_own_them(settings: Settings) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert {sig: signal.getsignal(sig) for sig in before} == before
        assert not registry_of(app).draining
    assert registry_of(app).draining  # the lifespan shutdown drained instead


def phase_of(shutdown: GracefulShutdown) -> ShutdownPhase:
    """Read afresh: after one `is` check mypy takes the attribute for fixed, though the lifespan moves it."""
    return shutdown.phase


async def test_the_phase_runs_through_drain_and_save_once_per_lifespan(settings: Settings) -> None:
    app = create_app(settings)
    shutdown = shutdown_of(app)
    assert phase_of(shutdown) is ShutdownPhase.RUNNING
    for _ in range(2):  # a lifespan that runs again starts over
        async with app.router.lifespan_context(app):
            assert phase_of(shutdown) is ShutdownPhase.RUNNING
            registry = registry_of(app)
        assert phase_of(shutdown) is ShutdownPhase.FINISHED
    with pytest.raises(RuntimeError, match='from "finished" to "saving"'):
        await shutdown.finish(registry)


async def test_draining_twice_names_the_bad_transition(settings: Settings) -> None:
    app = create_app(settings)
    shutdown = shutdown_of(app)
    async with app.router.lifespan_context(app):
        shutdown.drain(registry_of(app), "cause=test")
        assert phase_of(shutdown) is ShutdownPhase.DRAINING and registry_of(app).draining
        with pytest.raises(RuntimeError, match='from "draining" to "draining"'):
            shutdown.drain(registry_of(app), "cause=test")
    assert phase_of(shutdown) is ShutdownPhase.FINISHED  # the lifespan saved without draining again


# ---- real processes, real signals ------------------------------------------------------------


def welcomed(ws: ClientConnection) -> dict[str, Any]:
    """The welcome, once a tick has followed it."""
    welcome: dict[str, Any] = json.loads(ws.recv(timeout=5))
    assert welcome["type"] == "welcome"
    assert json.loads(ws.recv(timeout=5))["type"] in ("tick", "state")
    return welcome


def frames_until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    frames = []
    try:
        while True:
            frames.append(json.loads(ws.recv(timeout=5)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


def assert_told_to_come_back(frames: list[dict[str, Any]], code: int | None) -> None:
    errors = [frame for frame in frames if frame["type"] == "error"]
    assert [error["code"] for error in errors] == ["server_shutdown"], frames[-3:]
    assert "token" in errors[0]["message"]
    assert code == 1012


def assert_in_order(log: str, *patterns: str) -> None:
    position = 0
    for pattern in patterns:
        found = re.compile(pattern).search(log, position)
        assert found, f"{pattern!r} missing (in order) from:\n{log}"
        position = found.end()


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_uvicorn_tells_its_players_saves_rooms_and_exits_0_within_the_grace_time(tmp_path: Path, sig: int) -> None:
    env = {"ASGI_MMO_SHUTDOWN_GRACE_SECONDS": str(GRACE), "ASGI_MMO_ADMIN_TOKEN": "t"}
    with run_uvicorn(env=env, cwd=tmp_path) as server:
        room = httpx.post(server.url + "/api/rooms", json={"tick_rate": 20}).json()["id"]
        with connect(f"{server.ws_url}?name=alice&room={room}") as ws:
            welcome = welcomed(ws)
            started = time.monotonic()
            assert server.process is not None
            server.process.send_signal(sig)
            frames, code = frames_until_closed(ws)
        assert_told_to_come_back(frames, code)
        returncode = server.process.wait(GRACE + 5)
        elapsed = time.monotonic() - started
        assert returncode == 0
        assert elapsed < GRACE
        assert_in_order(
            server.log(),
            rf"shutdown draining signal={signal.Signals(sig).name} rooms=1 players=1",
            rf"player left room={room} player={welcome['player']} reason=server_shutdown",
            r"shutdown players told sockets_left=0",
            r"shutdown handing over to uvicorn",
            r"Shutting down",
            r"shutdown rooms saved rooms=1",
            rf"room disposed room={room}",
        )


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_gunicorn_settles_one_token_serves_metrics_and_drains_its_workers(tmp_path: Path, sig: int) -> None:
    # Unset (empty) token and metrics directory: the master makes both.
    env = {"ASGI_MMO_SHUTDOWN_GRACE_SECONDS": str(GRACE), "ASGI_MMO_ADMIN_TOKEN": "", "PROMETHEUS_MULTIPROC_DIR": ""}
    with run_gunicorn(1, env=env, cwd=tmp_path) as server:
        check_gunicorn(server, sig)


def check_gunicorn(server: GunicornProcess, sig: int) -> None:
    printed = re.findall(r"the admin token of this run is: (\S+)", server.log())
    assert len(printed) == 1  # by the master, once
    token = printed[0]
    assert httpx.get(server.url + "/admin/api/rooms").status_code == 401
    room = httpx.post(server.url + "/api/rooms", json={"tick_rate": 20}).json()["id"]
    with connect(f"{server.ws_url}?name=alice&room={room}") as ws:
        welcomed(ws)
        metrics = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {token}"})
        assert metrics.status_code == 200
        assert re.search(r"^asgi_mmo_players 1\.0$", metrics.text, re.MULTILINE), metrics.text
        assert re.search(r"^asgi_mmo_rooms 1\.0$", metrics.text, re.MULTILINE)
        assert "process_resident_memory_bytes" not in metrics.text  # multiprocess mode: files, not this process
        started = time.monotonic()
        assert server.process is not None
        server.process.send_signal(sig)
        frames, code = frames_until_closed(ws)
    assert_told_to_come_back(frames, code)
    assert server.process.wait(GRACE + 5) == 0
    assert time.monotonic() - started < GRACE + 1  # gunicorn's master polls its workers' exit
    log = server.log()
    assert_in_order(log, r"shutdown draining signal=SIGTERM", r"shutdown rooms saved rooms=1", r"Shutting down: Master")
    metrics_dir = re.findall(r"prometheus multiprocess directory (\S+)", log)
    assert len(metrics_dir) == 1 and not Path(metrics_dir[0]).exists()  # made by the master, then removed
