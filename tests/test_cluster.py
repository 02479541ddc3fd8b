"""Several server processes sharing rooms through a real Redis: gunicorn, haproxy, failures."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from tests.cluster import run_gunicorn, run_haproxy, run_redis
from tests.servers import ServerProcess, connect, create_room, run_uvicorn

pytestmark = pytest.mark.e2e

TOKEN = "cluster-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def cluster_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "ASGI_MMO_REDIS_URL": redis_url,
        "ASGI_MMO_ADMIN_TOKEN": TOKEN,
        "ASGI_MMO_DB": str(tmp_path / "board.sqlite3"),
        "ASGI_MMO_BOT_PROCESSES": "0",
    }


class Player:
    """A real WebSocket client whose frames a thread records with their arrival time."""

    def __init__(self, url: str, name: str, room: str, token: str | None = None) -> None:
        query = f"name={name}&room={room}" + (f"&token={token}" if token else "")
        self.ws: ClientConnection = connect(f"{url}?{query}", open_timeout=10).__enter__()
        self.welcome = json.loads(self.ws.recv(timeout=10))
        assert self.welcome["type"] == "welcome", self.welcome
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.closed: tuple[float, int | None] | None = None
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def id(self) -> str:
        player: str = self.welcome["player"]
        return player

    def _read(self) -> None:
        try:
            for raw in self.ws:
                with self._lock:
                    self.frames.append((time.monotonic(), json.loads(raw)))
        except ConnectionClosed:
            pass
        rcvd = self.ws.protocol.close_rcvd
        self.closed = (time.monotonic(), rcvd.code if rcvd else None)

    def since(self, moment: float) -> list[dict[str, Any]]:
        with self._lock:
            return [frame for at, frame in self.frames if at >= moment]

    def first_after(self, moment: float, kind: str) -> float | None:
        with self._lock:
            return next((at for at, frame in self.frames if at >= moment and frame["type"] == kind), None)

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def close(self) -> None:
        self.ws.close()
        self._reader.join(5)


@contextlib.contextmanager
def players(url: str, room: str, names: list[str]) -> Iterator[list[Player]]:
    joined: list[Player] = []
    try:
        for name in names:
            joined.append(Player(url, name, room))
        yield joined
    finally:
        for player in joined:
            with contextlib.suppress(Exception):
                player.close()


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def running(server: ServerProcess) -> bool:
    return server.process is not None and server.process.poll() is None


def check_sequence(player: Player) -> None:
    """The contract: after a welcome or state at N, ticks N+1, N+2, ... until the next state."""
    last = player.welcome["tick"]
    with player._lock:
        frames = [frame for _, frame in player.frames if frame["type"] in ("tick", "state")]
    for frame in frames:
        if frame["type"] == "tick":
            assert frame["tick"] == last + 1, (player.id, last, frame["tick"])
        else:
            assert frame["tick"] > last, (player.id, last, frame["tick"])
        last = frame["tick"]



def details(url: str, room: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/admin/api/rooms/{room}", headers=ADMIN, timeout=10)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_sixteen_players_over_four_workers_play_one_room(tmp_path: Path) -> None:
    with run_redis(cwd=tmp_path) as redis_server, \
            run_gunicorn(4, env=cluster_env(redis_server.url, tmp_path), cwd=tmp_path) as server, \
            run_haproxy([server.address], cwd=tmp_path) as proxy:
        room = create_room(proxy.url, tick_rate=10, width=60, height=60, max_players=16)
        with players(proxy.ws_url, room, [f"p{n}" for n in range(16)]) as everyone:
            ids = {player.id for player in everyone}
            assert len(ids) == 16
            # Every player's input is acknowledged, whichever process its socket landed on.
            started = time.monotonic()
            for number, player in enumerate(everyone, start=1):
                player.send({"type": "input", "seq": number, "data": {"respawn": True}})

            def acked(player: Player, seq: int) -> bool:
                return any(f.get("ack", 0) >= seq for f in player.since(started) if f["type"] in ("tick", "state"))

            wait_for(lambda: all(acked(p, n) for n, p in enumerate(everyone, start=1)), 10, "every input acked")
            # Everyone sees everyone.
            for player in everyone:
                player.send({"type": "sync"})
            moment = time.monotonic()
            wait_for(lambda: all(p.first_after(moment, "state") for p in everyone), 10, "every state")
            for player in everyone:
                state = next(f for f in player.since(moment) if f["type"] == "state")
                assert {snake["id"] for snake in state["state"]["snakes"]} == ids
            # The same ticks: one loop, one serialisation, relayed to every worker.
            time.sleep(1.0)
            by_tick: dict[int, list[Any]] = {}
            for player in everyone:
                check_sequence(player)
                for frame in player.since(moment):
                    if frame["type"] == "tick":
                        by_tick.setdefault(frame["tick"], []).append(frame.get("moves"))
            shared = [moves for moves in by_tick.values() if len(moves) == 16]
            assert len(shared) >= 5
            assert all(all(m == moves[0] for m in moves) for moves in shared)
            # The players came in through several workers, and the admin API sees the room once,
            # with every player's latency, whichever process its socket uses.
            for player in everyone:
                player.send({"type": "ping", "t": 1, "rtt": 12.5})
            wait_for(lambda: all(p["latency_ms"] == 12.5 for p in details(proxy.url, room)["players"]),
                     5, "latencies reach the owner")
            via = {p["via"] for p in details(proxy.url, room)["players"]}
            assert len(via) >= 2, via
            listed = httpx.get(proxy.url + "/admin/api/rooms", headers=ADMIN, timeout=10).json()["rooms"]
            assert [r["id"] for r in listed].count(room) == 1
            assert next(r for r in listed if r["id"] == room)["players"] == 16


def test_killing_the_owner_worker_loses_no_seat(tmp_path: Path) -> None:
    with run_redis(cwd=tmp_path) as redis_server, \
            run_gunicorn(4, env=cluster_env(redis_server.url, tmp_path), cwd=tmp_path) as server, \
            run_haproxy([server.address], cwd=tmp_path) as proxy:
        room = create_room(proxy.url, tick_rate=10)
        with players(proxy.ws_url, room, [f"p{n}" for n in range(8)]) as everyone:
            wait_for(lambda: all(p.since(0) for p in everyone), 10, "ticks flowing")
            time.sleep(1.2)  # the owner saves its rooms every second
            owner = details(proxy.url, room)["worker"]
            owner_pid = int(owner.rsplit(":", 1)[1])
            on_owner = {p["id"] for p in details(proxy.url, room)["players"] if p["via"] == owner}
            killed = time.monotonic()
            server.kill_worker(owner_pid, signal.SIGKILL)

            resumed: dict[str, float] = {}
            survivors = [p for p in everyone if p.id not in on_owner]
            wait_for(lambda: all(p.closed for p in everyone if p.id in on_owner), 5, "owner's sockets drop")
            for player in everyone:
                if player.id in on_owner:  # reconnect with the token through any worker
                    again = Player(proxy.ws_url, "back", room, token=player.welcome["token"])
                    assert again.id == player.id
                    resumed[player.id] = time.monotonic() - killed
                    again.close()
            wait_for(lambda: all(p.first_after(killed + 0.1, "state") for p in survivors), 8, "relayed resume")
            for player in survivors:
                state_at = player.first_after(killed + 0.1, "state")
                assert state_at is not None
                resumed[player.id] = state_at - killed
                check_sequence(player)
            assert len(resumed) == 8
            assert max(resumed.values()) < 5.0, resumed
            assert details(proxy.url, room)["worker"] != owner


@contextlib.contextmanager
def two_servers(tmp_path: Path, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = cluster_env(redis_url, tmp_path)
    with run_uvicorn(env=env, cwd=tmp_path) as first, run_uvicorn(env=env, cwd=tmp_path) as second:
        yield first, second


def test_a_redis_restart_keeps_rooms_ticking_and_the_relay_comes_back(tmp_path: Path) -> None:
    with run_redis(cwd=tmp_path) as redis_server, two_servers(tmp_path, redis_server.url) as (owner, relay):
        room = create_room(owner.url, tick_rate=10)
        local, remote = Player(owner.ws_url, "local", room), Player(relay.ws_url, "remote", room)
        try:
            wait_for(lambda: remote.since(0), 10, "relayed ticks")
            redis_server.kill()
            down = time.monotonic()
            time.sleep(2.0)
            ticks_while_down = [f for f in local.since(down + 0.5) if f["type"] == "tick"]
            assert len(ticks_while_down) >= 10, "the owner ticks on for its own players"
            assert httpx.get(relay.url + "/healthz").status_code == 200
            assert running(owner) and running(relay)
            redis_server.start()
            back = time.monotonic()
            wait_for(lambda: remote.first_after(back, "state"), 10, "relay resumes with a state")
            wait_for(lambda: [f for f in remote.since(back) if f["type"] == "tick"], 5, "relayed ticks again")
            for player in (local, remote):
                check_sequence(player)
            assert "redis connection lost" in owner.log()
        finally:
            local.close()
            remote.close()


def test_a_draining_server_hands_its_rooms_over_behind_haproxy(tmp_path: Path) -> None:
    with run_redis(cwd=tmp_path) as redis_server, two_servers(tmp_path, redis_server.url) as (owner, relay), \
            run_haproxy([owner.address, relay.address], cwd=tmp_path) as proxy:
        room = create_room(owner.url, tick_rate=10)
        local, remote = Player(owner.ws_url, "local", room), Player(relay.ws_url, "remote", room)
        try:
            wait_for(lambda: remote.since(0), 10, "relayed ticks")
            drained = time.monotonic()
            stopper = threading.Thread(target=owner.stop)
            stopper.start()
            wait_for(lambda: local.closed, 5, "the owner's player is told")
            assert local.closed is not None and local.closed[1] == 1012
            errors = [f for f in local.since(drained) if f["type"] == "error"]
            assert errors and errors[-1]["code"] == "server_shutdown"
            # The relaying server takes the room over at once; its player plays on.
            taken = wait_for(lambda: remote.first_after(drained, "state"), 5, "the room moves")
            assert taken < 3.0
            # The drained server leaves haproxy's pool; the player comes back through it.
            proxy.wait_server_state("app1", "DOWN", timeout=10)
            again = Player(proxy.ws_url, "local", room, token=local.welcome["token"])
            assert again.id == local.id
            wait_for(lambda: again.since(0), 5, "the resumed player's ticks")
            again.close()
            stopper.join(15)
            assert not running(owner)
            check_sequence(remote)
            assert relay.process is not None
            assert details(proxy.url, room)["worker"].endswith(f":{relay.process.pid}")
        finally:
            local.close()
            remote.close()


def test_a_player_that_reconnects_during_a_drain_gets_its_seat_at_once(tmp_path: Path) -> None:
    """Issue #15, item 5: the draining owner hands the room over at the signal, so the other
    server seats a player that reconnects at once, while the drained one is still shutting down."""
    with run_redis(cwd=tmp_path) as redis_server, two_servers(tmp_path, redis_server.url) as (owner, other):
        room = create_room(owner.url, tick_rate=10)
        local = Player(owner.ws_url, "local", room)
        try:
            wait_for(lambda: local.since(0), 10, "ticks")
            time.sleep(1.2)  # the owner has saved the room once
            signalled = time.monotonic()
            stopper = threading.Thread(target=owner.stop)
            stopper.start()
            wait_for(lambda: local.closed, 5, "the owner's player is told")
            again = Player(other.ws_url, "local", room, token=local.welcome["token"])  # at once
            resumed = time.monotonic() - signalled
            try:
                assert again.id == local.id
                assert resumed < 3.0, resumed
                wait_for(lambda: again.since(0), 5, "the resumed player's ticks")
            finally:
                again.close()
            stopper.join(15)
            assert "room handed over" in owner.log()
            assert other.process is not None
            assert details(other.url, room)["worker"].endswith(f":{other.process.pid}")
        finally:
            local.close()


def test_metrics_add_up_over_four_workers(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def scrape(url: str) -> dict[str, float]:
        answer = httpx.get(url + "/metrics", headers=ADMIN, timeout=10)
        assert answer.status_code == 200
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                if not sample.labels or sample.name == "asgi_mmo_errors_total":
                    key = sample.name + "".join(f"{{{v}}}" for v in sample.labels.values())
                    values[key] = values.get(key, 0) + sample.value
        return values

    with run_redis(cwd=tmp_path) as redis_server, \
            run_gunicorn(4, env=cluster_env(redis_server.url, tmp_path), cwd=tmp_path) as server:
        room = create_room(server.url, tick_rate=10)
        with players(server.ws_url, room, [f"p{n}" for n in range(8)]) as everyone:
            for player in everyone:
                for t in range(3):
                    player.send({"type": "ping", "t": t})
                player.send({"type": "teleport"})  # one bad_message each
            wait_for(lambda: all(len([f for _, f in p.frames if f["type"] == "pong"]) == 3 for p in everyone),
                     10, "pongs")
            time.sleep(1.5)  # every worker samples its rooms once a second
            scrapes = [scrape(server.url) for _ in range(6)]
            via = {p["via"] for p in details(server.url, room)["players"]}
        for values in scrapes:  # whichever worker answers, the figures are the cluster's
            assert values["asgi_mmo_players"] == 8
            assert values["asgi_mmo_rooms"] == 1
            assert values["asgi_mmo_messages_in_total"] >= 8 * 4
            assert values["asgi_mmo_errors_total{bad_message}"] == 8
            assert values["asgi_mmo_ticks_total"] >= 5
        ticks = [values["asgi_mmo_ticks_total"] for values in scrapes]
        assert ticks == sorted(ticks)
        assert len(via) >= 2, "players came through several workers"
