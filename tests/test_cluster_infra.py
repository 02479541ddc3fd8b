"""The cluster test tools (tests/cluster.py) and deploy/haproxy.cfg, with real processes:
redis-server, gunicorn, and haproxy in front of two single-process asgi-mmo servers
(no Redis: each server has its own rooms, which is all that these tests need)."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from tests.cluster import HAPROXY_CFG, HaproxyProcess, render_haproxy_config, run_gunicorn, run_haproxy, run_redis
from tests.servers import ServerProcess, connect, free_port, run_uvicorn

pytestmark = pytest.mark.e2e

#: one process, rooms in memory, bots planned inline (no worker pool to spawn)
SINGLE = {"ASGI_MMO_REDIS_URL": "", "ASGI_MMO_BOT_PROCESSES": "0"}


def single_env(work: Path) -> dict[str, str]:
    return {**SINGLE, "ASGI_MMO_DB": str(work / "leaderboard.sqlite3")}


def next_of(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if message["type"] == kind:
            return cast(dict[str, Any], message)


def read_until_closed(ws: ClientConnection, timeout: float = 10.0) -> tuple[int | None, list[dict[str, Any]]]:
    """Every message up to the server's close; the close code and the error frames seen."""
    errors: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if message["type"] == "error":
                errors.append(message)
    received = closed.value.rcvd
    return (received.code if received else None), errors


# ---------------------------------------------------------------------------------------- Redis


def test_redis_starts_answers_and_restarts_on_the_same_port(tmp_path: Path) -> None:
    with run_redis(cwd=tmp_path) as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = server.client()
        try:
            client.set("asgi-mmo:test", "1")
            assert client.get("asgi-mmo:test") == b"1"
            server.kill()
            assert not server.ping()
            server.start()
            assert server.ping()
            # a restart without persistence starts empty; the same client reconnects by itself
            assert client.get("asgi-mmo:test") is None
        finally:
            client.close()
        pid = server.pid
    assert not server.running()
    assert pid is not None and not Path(f"/proc/{pid}").exists()


# ------------------------------------------------------------------------------------- gunicorn


def test_gunicorn_serves_and_replaces_a_killed_worker(tmp_path: Path) -> None:
    with run_gunicorn(1, env=single_env(tmp_path), cwd=tmp_path) as server:
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        (worker,) = server.worker_pids()
        assert worker != server.pid
        with connect(f"{server.ws_url}?name=alice", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        log_size = len(server.log())
        server.kill_worker(worker)
        (replacement,) = server.wait_workers(1, since=log_size)
        assert replacement != worker
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert server.stop() == 0
    assert not Path(f"/proc/{replacement}").exists()


def test_gunicorn_that_exits_at_start_raises_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ASGI_MMO_REDIS_URL"):
        with run_gunicorn(2, env=single_env(tmp_path), cwd=tmp_path, timeout=15):
            pass  # pragma: no cover - several workers without Redis are refused


# -------------------------------------------------------------------------------------- haproxy


def test_the_shipped_config_renders_with_the_test_servers_and_nothing_else_changed() -> None:
    shipped = HAPROXY_CFG.read_text().splitlines()
    rendered = render_haproxy_config(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]).splitlines()
    servers = [line.strip() for line in rendered if line.strip().startswith("server ")]
    assert servers == ["server app1 127.0.0.1:1", "server app2 127.0.0.1:2", "server app3 127.0.0.1:3"]
    assert [line for line in rendered if not line.strip().startswith("server ")] == [
        line for line in shipped if not line.strip().startswith("server ")
    ]


@dataclass
class Pair:
    a: ServerProcess
    b: ServerProcess
    proxy: HaproxyProcess


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two asgi-mmo servers behind haproxy, shared by the tests that leave them running."""
    work = tmp_path_factory.mktemp("pair")
    with run_uvicorn(env=single_env(work / "a"), cwd=work) as a, \
            run_uvicorn(env=single_env(work / "b"), cwd=work) as b, \
            run_haproxy([a.address, b.address], cwd=work) as proxy:
        yield Pair(a, b, proxy)


def test_haproxy_proxies_http_to_both_servers_and_checks_readyz(pair: Pair) -> None:
    for _ in range(10):
        assert httpx.get(pair.proxy.url + "/healthz").json() == {"status": "ok"}
        assert "rooms" in httpx.get(pair.proxy.url + "/api/rooms").json()
    assert pair.proxy.server_states() == {"app1": "UP", "app2": "UP"}
    served = {name: int(pair.proxy.server_stats(name)["stot"]) for name in ("app1", "app2")}
    assert min(served.values()) > 0, served  # leastconn spreads short requests too
    for server in (pair.a, pair.b):
        assert '"GET /readyz HTTP/1.0" 200' in server.log()  # the health check
    # a server's own metrics stay private; haproxy's are on its stats address
    assert httpx.get(pair.proxy.url + "/metrics").status_code == 403
    assert "haproxy_server_status" in httpx.get(pair.proxy.stats_url + "metrics").text


def test_a_websocket_through_haproxy_is_welcomed_and_gets_ticks(pair: Pair) -> None:
    with connect(f"{pair.proxy.ws_url}?name=alice", open_timeout=5) as ws:
        welcome = json.loads(ws.recv(timeout=5))
        assert welcome["type"] == "welcome" and welcome["protocol"] == 1
        first = next_of(ws, "tick")["tick"]
        ws.send(json.dumps({"type": "ping", "t": 42}))
        assert next_of(ws, "pong")["t"] == 42
        assert next_of(ws, "tick")["tick"] > first
        ws.send(json.dumps({"type": "leave"}))
        code, _ = read_until_closed(ws, timeout=5)
        assert code == 1000


@dataclass
class StubServer:
    """A backend that answers /readyz with `ready` (200 or 503) and records other requests;
    with `hang_up` it closes their connections unanswered, as a server that stops listening
    just as haproxy connects does."""

    ready: int = 200
    requests: list[dict[str, str]] = field(default_factory=list)
    hang_up: bool = False


@pytest.fixture
def stub() -> Iterator[tuple[StubServer, str]]:
    state = StubServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/readyz":
                status, body = state.ready, b"{}"
            else:
                state.requests.append({"method": self.command, "path": self.path,
                                       **{k.lower(): v for k, v in self.headers.items()}})
                if state.hang_up:
                    self.close_connection = True
                    return
                status, body = 200, b'{"status": "ok", "rooms": []}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815 - http.server's name

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_server_answering_503_on_readyz_leaves_the_pool_and_comes_back(
    pair: Pair, stub: tuple[StubServer, str], tmp_path: Path
) -> None:
    state, address = stub
    with run_haproxy([address, pair.a.address], cwd=tmp_path) as proxy:
        for _ in range(6):
            assert httpx.get(proxy.url + "/api/rooms").status_code == 200
        seen = state.requests[0]
        assert seen["x-forwarded-for"] == "127.0.0.1"
        assert seen["x-forwarded-proto"] == "http"
        assert seen["host"] == f"127.0.0.1:{proxy.port}"

        state.ready = 503  # what asgi-mmo answers from the moment it starts draining
        assert proxy.wait_server_state("app1", "DOWN", timeout=5) < 3  # inter 1s + fastinter 250ms
        before = len(state.requests)
        for _ in range(10):
            assert httpx.get(proxy.url + "/api/rooms").status_code == 200
        assert len(state.requests) == before

        state.ready = 200
        proxy.wait_server_state("app1", "UP", timeout=5)


def test_a_get_the_server_hangs_up_on_goes_to_another_server_and_a_post_does_not(
    pair: Pair, stub: tuple[StubServer, str], tmp_path: Path
) -> None:
    """`retry-on empty-response` for GET and HEAD only (deploy/haproxy.cfg): a draining server that
    stops listening resets a connection haproxy just opened; the GET on it is sent again, to
    another server, but a POST, which a server may have acted on, answers 502."""
    state, address = stub
    state.hang_up = True
    with run_haproxy([address, pair.a.address], cwd=tmp_path) as proxy:
        for _ in range(8):  # leastconn takes turns between idle servers: some go to the stub first
            assert httpx.get(proxy.url + "/api/rooms").status_code == 200
        hung_up = [r for r in state.requests if r["method"] == "GET"]
        assert hung_up, "no GET reached the stub: nothing was sent again"
        answers = [httpx.post(proxy.url + "/api/rooms", json={}).status_code for _ in range(8)]
        posted = [r for r in state.requests if r["method"] == "POST"]
        assert posted, "no POST reached the stub"
        assert answers.count(502) == len(posted), (answers, len(posted))  # each hung up once, not sent again
        assert set(answers) == {201, 502}, answers
        assert proxy.server_states()["app1"] == "UP"  # an unanswered request is no check failure


def test_a_server_stopped_with_sigterm_tells_its_players_and_haproxy_moves_on(tmp_path: Path) -> None:
    with run_uvicorn(env=single_env(tmp_path / "a"), cwd=tmp_path) as a, \
            run_uvicorn(env=single_env(tmp_path / "b"), cwd=tmp_path) as b, \
            run_haproxy([a.address, b.address], cwd=tmp_path) as proxy, \
            contextlib.ExitStack() as sockets:
        by_name = {"app1": a, "app2": b}
        players: dict[str, tuple[str, ClientConnection]] = {}
        for name in ("alice", "bob"):
            ws = sockets.enter_context(connect(f"{proxy.ws_url}?name={name}", open_timeout=5))
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
            taken = {server for server, _ in players.values()}
            on = {s for s in by_name if int(proxy.server_stats(s)["scur"]) == 1} - taken
            assert len(on) == 1, proxy.stats()  # leastconn: one player on each server
            players[name] = (on.pop(), ws)
        gone, alice = players["alice"]
        stays, bob = players["bob"]
        stopping = by_name[gone].process
        assert stopping is not None
        stopping.send_signal(signal.SIGTERM)

        # requests keep succeeding while haproxy notices (refused connections are redispatched)
        statuses = []
        started = time.monotonic()
        while proxy.server_states()[gone] != "DOWN":
            assert time.monotonic() - started < 5, proxy.server_states()
            statuses.append(httpx.get(proxy.url + "/api/rooms").status_code)
        statuses += [httpx.get(proxy.url + "/api/rooms").status_code for _ in range(10)]
        assert set(statuses) == {200}
        assert proxy.server_states()[stays] == "UP"
        assert stopping.wait(10) == 0

        code, errors = read_until_closed(alice)
        assert code == 1012 and [e["code"] for e in errors] == ["server_shutdown"]
        next_of(bob, "tick")  # the other server plays on
        # the dropped player comes back through haproxy, to the server that is left
        with connect(f"{proxy.ws_url}?name=alice", open_timeout=5) as again:
            assert json.loads(again.recv(timeout=5))["type"] == "welcome"
            assert int(proxy.server_stats(stays)["scur"]) == 2
