"""Hostile or broken requests against a real `asgi-mmo serve` process: never a 500, nothing leaks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.typing import Origin

from tests.servers import ServerProcess, connect, create_room, run_uvicorn

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with run_uvicorn(cwd=tmp_path_factory.mktemp("hostile")) as process:
        yield process


@pytest.mark.parametrize("origin", [
    "http://127.0.0.1:8000.evil.com",
    "http://127.0.0.1:99999",
    "http://[::1",
    "http://:80",
    "null",
])
def test_a_malformed_origin_is_refused_403_not_500(server: ServerProcess, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.ws_url}?name=eve", origin=Origin(origin), open_timeout=5)
    assert refused.value.response.status_code == 403


def test_the_pages_own_origin_is_let_in(server: ServerProcess) -> None:
    with connect(f"{server.ws_url}?name=ann", origin=Origin(server.url), open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"


@pytest.mark.parametrize("limit", ["²", "٣", "1e3", "-1", "0x10", "9" * 400])
def test_odd_leaderboard_limits_answer_422(server: ServerProcess, limit: str) -> None:
    answer = httpx.get(server.url + "/api/leaderboard", params={"limit": limit})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "bad_request"


def test_a_body_over_the_limit_answers_413_and_makes_no_room(server: ServerProcess) -> None:
    before = httpx.get(server.url + "/api/rooms").json()["rooms"]
    huge = b'{"bots": 1, "padding": "' + b"x" * 1_000_000 + b'"}'
    answer = httpx.post(server.url + "/api/rooms", content=huge)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_big"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b'{"padding": "'
        for _ in range(100):
            yield b"y" * 10_000
        yield b'"}'

    answer = httpx.post(server.url + "/api/rooms", content=chunks())
    assert answer.status_code == 413
    assert httpx.get(server.url + "/api/rooms").json()["rooms"] == before
    assert httpx.post(server.url + "/api/rooms", json={"bots": 1}).status_code == 201  # a small one still works


def test_a_resume_token_never_reaches_the_log(server: ServerProcess) -> None:
    with connect(f"{server.ws_url}?name=keeper", open_timeout=5) as ws:
        welcome = json.loads(ws.recv(timeout=5))
    token, room = welcome["token"], welcome["room"]
    with connect(f"{server.ws_url}?name=keeper&room={room}&token={token}", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["player"] == welcome["player"]
    with pytest.raises(InvalidStatus):  # a refused handshake is logged too
        connect(f"{server.ws_url}?name=keeper&token={token}", origin=Origin("http://evil.example"),
                open_timeout=5)
    httpx.get(server.url + "/api/rooms", params={"token": token})
    log = server.log()
    assert "token=[redacted]" in log
    assert token not in log


@pytest.mark.parametrize("view", ["²x40", "٣x٣", "64x", "x", "99999999x1", "-1x-1"])
def test_an_odd_view_size_gets_the_default_view_not_an_error(server: ServerProcess, view: str) -> None:
    with connect(f"{server.ws_url}?name=viewer&view={view}", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"


def test_a_seq_beyond_what_javascript_holds_exactly_is_bad_message(server: ServerProcess) -> None:
    with connect(f"{server.ws_url}?name=counter", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        ws.send(json.dumps({"type": "input", "seq": 2**53, "data": {"dir": "up"}}))
        while (message := json.loads(ws.recv(timeout=5)))["type"] != "error":
            assert message.get("ack", 0) == 0
        assert message["code"] == "bad_message"


def test_a_chat_flood_costs_the_room_no_more_than_its_chat_budget(tmp_path: Path) -> None:
    """A chat line costs its room one frame per reader: past `ASGI_MMO_CHAT_SENDS` frames a second
    (bursts of two seconds' worth), a player's lines answer `rate_limited`, every other reader gets
    exactly the lines that went, and those refusals never close the connection as a flood."""
    env = {"ASGI_MMO_CHAT_SENDS": "10", "ASGI_MMO_FLOOD_SECONDS": "0.5"}
    with run_uvicorn(env=env, cwd=tmp_path) as server:
        room = create_room(server)
        with connect(f"{server.ws_url}?name=ann&room={room}", open_timeout=5) as ann, \
                connect(f"{server.ws_url}?name=bob&room={room}", open_timeout=5) as bob:  # fmt: skip
            assert json.loads(ann.recv(timeout=5))["type"] == "welcome"
            assert json.loads(bob.recv(timeout=5))["type"] == "welcome"
            # Two readers: 20 frames of budget are 10 lines at once, then 5 a second.
            started = time.monotonic()
            for i in range(20):
                ann.send(json.dumps({"type": "chat", "text": f"line {i}"}))
            went, refused = chat_answers(ann, 20)
            refilled = 5 * (time.monotonic() - started)  # the most the server can have seen pass
            assert 10 <= len(went) <= 10 + refilled + 1 and len(went) + len(refused) == 20, (went, refused)
            assert went[:10] == [f"line {i}" for i in range(10)]
            assert all(error["code"] == "rate_limited" and "room of 2" in error["message"] for error in refused)
            # Five lines every quarter of a second (within the message limit, no pause of a second)
            # for longer than the flood time: the budget refuses most of each, the connection stays.
            sent = 0
            for _ in range(6):
                for _ in range(5):
                    ann.send(json.dumps({"type": "chat", "text": f"more {sent}"}))
                    sent += 1
                time.sleep(0.25)
            more, refused_more = chat_answers(ann, sent)
            assert len(refused_more) >= 6 and more, (more, refused_more)
            ann.send(json.dumps({"type": "ping", "t": 1}))
            assert next_of(ann, "pong")["t"] == 1, "not closed: chat refusals are no flood"
            assert [message["text"] for message in messages_of(bob, "chat", len(went) + len(more))] == went + more


def chat_answers(ws: ClientConnection, count: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The next `count` answers to a player's chat lines: the texts of those that went (each comes
    back to its sender too) and the errors of those refused."""
    went: list[str] = []
    refused: list[dict[str, Any]] = []
    while len(went) + len(refused) < count:
        message = json.loads(ws.recv(timeout=5))
        if message["type"] == "chat":
            went.append(message["text"])
        elif message["type"] == "error":
            refused.append(message)
    return went, refused


def messages_of(ws: ClientConnection, kind: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < count:
        message = json.loads(ws.recv(timeout=5))
        if message["type"] == kind:
            found.append(message)
    return found


def next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    return messages_of(ws, kind, 1)[0]
