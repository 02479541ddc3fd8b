from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from asgi_mmo.exceptions import BackendUnavailable
from asgi_mmo.scores.leaderboard import LeaderboardUnavailable
from tests.apps import leaderboard_of, portal_of, registry_of
from tests.wsclient import ClientFactory


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_readiness_turns_503_while_draining(client: TestClient) -> None:
    portal_of(client).call(registry_of(client).drain)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    answer = client.post("/api/rooms", json={})
    assert answer.status_code == 503


def test_create_room_with_defaults(client: TestClient) -> None:
    answer = client.post("/api/rooms", json={})
    assert answer.status_code == 201
    room = answer.json()
    assert room["game"] == "snake"
    assert (room["private"], room["max_players"], room["bots"], room["tick_rate"]) == (False, 32, 0, 10)
    assert (room["width"], room["height"]) == (40, 30)
    listed = client.get("/api/rooms").json()["rooms"]
    assert [r["id"] for r in listed] == [room["id"]]
    assert set(listed[0]) == {"id", "game", "players", "max_players", "created_at", "view", "spectators"}
    assert listed[0]["players"] == 0


def test_create_room_with_every_setting(client: TestClient) -> None:
    body = {"game": "snake", "private": True, "max_players": 3, "bots": 2, "width": 20, "height": 15, "tick_rate": 20}
    answer = client.post("/api/rooms", json=body)
    assert answer.status_code == 201
    assert answer.json() == {"id": answer.json()["id"], **body, "options": {}, "view": False, "record": False}


def test_an_empty_body_takes_the_defaults(client: TestClient) -> None:
    assert client.post("/api/rooms", content=b"").status_code == 201


def test_private_rooms_are_not_listed(client: TestClient) -> None:
    client.post("/api/rooms", json={"private": True})
    assert client.get("/api/rooms").json() == {"rooms": []}


@pytest.mark.parametrize("body", [
    b"not json",
    b"[1,2]",
    b'"snake"',
    b'{"game": "chess"}',
    b'{"game": 5}',
    b'{"private": "yes"}',
    b'{"max_players": 0}',
    b'{"max_players": 1001}',
    b'{"max_players": "4"}',
    b'{"max_players": 4.5}',
    b'{"max_players": true}',
    b'{"bots": -1}',
    b'{"bots": 101}',
    b'{"width": 9}',
    b'{"width": 1001}',
    b'{"height": 9}',
    b'{"tick_rate": 0}',
    b'{"tick_rate": 61}',
])
def test_bad_room_requests_answer_422_and_change_nothing(client: TestClient, body: bytes) -> None:
    answer = client.post("/api/rooms", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "bad_request"
    assert error["message"]
    assert client.get("/api/rooms").json() == {"rooms": []}


def test_room_limit_answers_503(make_client: ClientFactory) -> None:
    client = make_client(max_rooms=2)
    assert client.post("/api/rooms", json={}).status_code == 201
    assert client.post("/api/rooms", json={}).status_code == 201
    answer = client.post("/api/rooms", json={})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "busy"


def test_draining_refuses_new_rooms_with_server_shutdown(client: TestClient) -> None:
    portal_of(client).call(registry_of(client).drain)
    answer = client.post("/api/rooms", json={})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "server_shutdown"


def test_an_unreachable_backend_answers_503_unavailable(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unreachable(*args: object) -> None:
        raise BackendUnavailable("redis://127.0.0.1:1 does not answer")

    registry = registry_of(client)
    monkeypatch.setattr(registry, "public_rooms", unreachable)
    monkeypatch.setattr(registry, "open_room", unreachable)
    for answer in (client.get("/api/rooms"), client.post("/api/rooms", json={})):
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "unavailable"
        assert "127.0.0.1" not in answer.text


def test_an_unreadable_leaderboard_answers_503_unavailable(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unreadable(*args: object, **kwargs: object) -> None:
        raise LeaderboardUnavailable("database is locked")

    monkeypatch.setattr(leaderboard_of(client), "top", unreadable)
    answer = client.get("/api/leaderboard")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"


@pytest.mark.parametrize("path", ["/api/nope", "/api/rooms/abc", "/api"])
def test_unknown_api_paths_answer_the_contracts_404(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_a_wrong_method_answers_405_naming_every_method_of_the_path(client: TestClient) -> None:
    answer = client.put("/api/rooms", json={})
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_unknown_pages_keep_the_plain_404(client: TestClient) -> None:
    answer = client.get("/no-such-page")
    assert answer.status_code == 404 and answer.text == "Not Found"


@pytest.mark.parametrize("path", ["/", "/play/quick"])
def test_pages_carry_the_security_headers(client: TestClient, path: str) -> None:
    page = client.get(path, headers={"host": "game.example:8000"})
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "ws://game.example:8000 wss://game.example:8000" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-cache"
