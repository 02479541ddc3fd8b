"""Fair shares against real servers: seats and rooms per address, whom a forwarded header may
name (under `asgi-mmo serve` and gunicorn alike), and `sync` answered once a second."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from tests.cluster import run_gunicorn
from tests.servers import ServerProcess, connect, run_uvicorn

pytestmark = pytest.mark.e2e

#: a proxy that is not loopback (TEST-NET-1): the tests' own connections are then no proxy's
UNTRUSTING = "192.0.2.1"


def join(server: ServerProcess, query: str, forwarded: str | None = None) -> ClientConnection:
    headers = {"X-Forwarded-For": forwarded} if forwarded else None
    return connect(f"{server.ws_url}?{query}", additional_headers=headers, open_timeout=10)


def first(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return message


def refused_with(ws: ClientConnection) -> tuple[str, int | None]:
    """The error code and close code a refused join ends with."""
    error = first(ws)
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    received = closed.value.rcvd
    return error.get("code", error["type"]), received.code if received else None


@pytest.fixture(scope="module")
def three_seats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"ASGI_MMO_SEATS_PER_ADDRESS": "3", "ASGI_MMO_ROOMS_PER_MINUTE": "2", "ASGI_MMO_SYNC_SECONDS": "1",
           "ASGI_MMO_TRUSTED_PROXIES": UNTRUSTING}
    with run_uvicorn(env=env, cwd=tmp_path_factory.mktemp("fair")) as server:
        yield server


@pytest.fixture(scope="module")
def behind_a_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"ASGI_MMO_SEATS_PER_ADDRESS": "1", "ASGI_MMO_ROOMS_PER_MINUTE": "2",
           "ASGI_MMO_TRUSTED_PROXIES": "127.0.0.1"}
    with run_uvicorn(env=env, cwd=tmp_path_factory.mktemp("proxied")) as server:
        yield server


def test_an_address_holds_its_share_of_seats_kept_ones_included(three_seats: ServerProcess) -> None:
    room = httpx.post(three_seats.url + "/api/rooms", json={"private": True}).json()["id"]
    welcomes = []
    for number in range(3):  # connect and drop: each seat is kept for a reconnect
        with join(three_seats, f"name=p{number}&room={room}") as ws:
            welcomes.append(first(ws))
    with join(three_seats, "name=p3") as ws:
        assert refused_with(ws) == ("busy", 4429)
    # From a peer that is no trusted proxy, a forwarded header changes nothing.
    with join(three_seats, "name=p3", forwarded="198.51.100.77") as ws:
        assert refused_with(ws) == ("busy", 4429)
    # A seat resumed with its token is never refused; `leave` frees it.
    kept = welcomes[0]
    with join(three_seats, f"name=p0&room={room}&token={kept['token']}") as ws:
        assert first(ws)["player"] == kept["player"]
        ws.send(json.dumps({"type": "leave"}))
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
    with join(three_seats, f"name=p4&room={room}") as ws:
        assert first(ws)["type"] == "welcome"


def test_rooms_a_minute_per_address(three_seats: ServerProcess) -> None:
    answers = [httpx.post(three_seats.url + "/api/rooms", json={}) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] in ([201, 201], [201, 429])  # the seats test made one
    refused = answers[2]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    spoofed = httpx.post(three_seats.url + "/api/rooms", json={}, headers={"X-Forwarded-For": "198.51.100.5"})
    assert spoofed.status_code == 429


def test_a_trusted_proxy_names_the_client(behind_a_proxy: ServerProcess) -> None:
    server = behind_a_proxy
    with join(server, "name=ann", forwarded="198.51.100.1") as ws:
        assert first(ws)["type"] == "welcome"
    with join(server, "name=ann2", forwarded="203.0.113.9, 198.51.100.1") as ws:  # the client wrote the left one
        assert refused_with(ws) == ("busy", 4429)
    with join(server, "name=bob", forwarded="198.51.100.2") as ws:
        assert first(ws)["type"] == "welcome"
    made = [httpx.post(server.url + "/api/rooms", json={}, headers={"X-Forwarded-For": "198.51.100.3"})
            for _ in range(3)]
    assert [answer.status_code for answer in made] == [201, 201, 429]
    other = httpx.post(server.url + "/api/rooms", json={}, headers={"Forwarded": "for=198.51.100.4"})
    assert other.status_code == 201


def test_gunicorn_ignores_forwarded_headers_unless_trusted(tmp_path: Path) -> None:
    """uvicorn-worker would trust 127.0.0.1's X-Forwarded-For by itself (gunicorn's
    forwarded_allow_ips); the hardened worker leaves whom to trust to ASGI_MMO_TRUSTED_PROXIES."""
    env = {"ASGI_MMO_REDIS_URL": "", "ASGI_MMO_DB": str(tmp_path / "board.sqlite3"),
           "ASGI_MMO_ROOMS_PER_MINUTE": "1", "ASGI_MMO_TRUSTED_PROXIES": UNTRUSTING}
    with run_gunicorn(1, env=env, cwd=tmp_path) as server:
        first_room = httpx.post(server.url + "/api/rooms", json={}, headers={"X-Forwarded-For": "198.51.100.1"})
        second = httpx.post(server.url + "/api/rooms", json={}, headers={"X-Forwarded-For": "198.51.100.2"})
        assert (first_room.status_code, second.status_code) == (201, 429)


def test_syncs_in_a_burst_give_one_state_now_and_one_a_second_later(behind_a_proxy: ServerProcess) -> None:
    with join(behind_a_proxy, "name=syncer", forwarded="198.51.100.50") as ws:  # a quick join: 10 Hz
        welcome = first(ws)
        assert welcome["type"] == "welcome"
        sent = time.monotonic()
        for _ in range(5):  # within 100 ms
            ws.send(json.dumps({"type": "sync"}))
        assert time.monotonic() - sent < 0.1
        states: list[float] = []
        deadline = sent + 3.0
        while time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                break
            if message["type"] == "state":
                states.append(time.monotonic() - sent)
        ws.send(json.dumps({"type": "leave"}))
    print(f"states at {[round(at, 2) for at in states]} s after 5 syncs")
    assert len(states) == 2, states
    assert states[0] < 0.8
    assert 0.8 <= states[1] - states[0] <= 1.8
