from __future__ import annotations

import json
import time

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from asgi_mmo.games.base import ScoreEvent
from asgi_mmo.games.catalog import GAMES
from asgi_mmo.games.snake.rules import SnakeGame
from asgi_mmo.web.websocket import origin_allowed
from tests.apps import portal_of, registry_of
from tests.wsclient import ClientFactory, create_room, expect_close, next_of, ws_url


def test_welcome_comes_first_with_every_field(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome"
        assert welcome["protocol"] == 1
        assert welcome["game"] == "snake"
        assert isinstance(welcome["player"], str) and isinstance(welcome["token"], str)
        assert welcome["tick_rate"] == 10
        assert isinstance(welcome["tick"], int)
        state = welcome["state"]
        assert {"width", "height", "snakes", "food", "stones"} <= set(state)
        assert [s["name"] for s in state["snakes"]] == ["alice"]
        assert state["snakes"][0]["id"] == welcome["player"]


def test_ticks_follow_the_welcome_one_by_one(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        welcome = ws.receive_json()
        ticks = [next_of(ws, "tick")["tick"] for _ in range(5)]
        assert ticks == list(range(welcome["tick"] + 1, welcome["tick"] + 6))


def test_two_players_share_a_room_by_id(client: TestClient) -> None:
    room = create_room(client)
    with client.websocket_connect(ws_url(name="alice", room=room)) as a, \
            client.websocket_connect(ws_url(name="bob", room=room)) as b:
        assert a.receive_json()["room"] == room
        welcome_b = b.receive_json()
        assert welcome_b["room"] == room
        assert sorted(s["name"] for s in welcome_b["state"]["snakes"]) == ["alice", "bob"]
        assert client.get("/api/rooms").json()["rooms"][0]["players"] == 2


def test_quick_join_fills_the_busiest_public_room(client: TestClient) -> None:
    busy = create_room(client)
    create_room(client)
    create_room(client, private=True)
    with client.websocket_connect(ws_url(name="a", room=busy)) as a:
        a.receive_json()
        with client.websocket_connect(ws_url(name="b")) as b:
            assert b.receive_json()["room"] == busy


def test_quick_join_makes_a_room_when_none_has_a_seat(client: TestClient) -> None:
    full = create_room(client, max_players=1)
    with client.websocket_connect(ws_url(name="a", room=full)) as a:
        a.receive_json()
        with client.websocket_connect(ws_url(name="b")) as b:
            assert b.receive_json()["room"] != full


def test_inputs_are_acknowledged_and_turn_the_snake(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        welcome = ws.receive_json()
        me = welcome["player"]
        moving = welcome["state"]["snakes"][0]["dir"]
        turn = "up" if moving in ("left", "right") else "left"
        ws.send_json({"type": "input", "seq": 1, "data": {"dir": turn}})
        tick = next_of(ws, "tick")
        while tick["ack"] < 1:
            tick = next_of(ws, "tick")
        assert tick["ack"] == 1
        # A seq that is not above the last applied one is ignored: ack and dir stay.
        ws.send_json({"type": "input", "seq": 1, "data": {"dir": "down" if turn == "up" else "right"}})
        ws.send_json({"type": "sync"})
        state = next_of(ws, "state")
        assert state["ack"] == 1
        snake = next(s for s in state["state"]["snakes"] if s["id"] == me)
        assert snake["dir"] == turn


def test_ignored_turns_are_still_acknowledged(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        welcome = ws.receive_json()
        moving = welcome["state"]["snakes"][0]["dir"]
        back = {"up": "down", "down": "up", "left": "right", "right": "left"}[moving]
        ws.send_json({"type": "input", "seq": 5, "data": {"dir": back}})
        tick = next_of(ws, "tick")
        while tick["ack"] == 0:
            tick = next_of(ws, "tick")
        assert tick["ack"] == 5


@pytest.mark.parametrize("frame", [
    "not json",
    "[]",
    '{"no": "type"}',
    '{"type": "teleport"}',
    '{"type": "input", "seq": "x", "data": {"dir": "up"}}',
    '{"type": "input", "seq": 1, "data": {"dir": "sideways"}}',
    '{"type": "input", "seq": 1, "data": "up"}',
    '{"type": "input", "seq": 1, "data": {"respawn": "yes"}}',
    '{"type": "ping", "t": "soon"}',
    '{"type": "chat", "text": ""}',
])
def test_malformed_frames_get_bad_message_and_the_connection_stays(client: TestClient, frame: str) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        ws.send_text(frame)
        error = next_of(ws, "error")
        assert error["code"] == "bad_message" and error["message"]
        ws.send_json({"type": "ping", "t": 42})
        assert next_of(ws, "pong")["t"] == 42
        # a refused input is not acknowledged
        ws.send_json({"type": "sync"})
        assert next_of(ws, "state")["ack"] == 0


def test_binary_frames_are_bad_messages(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        ws.send_bytes(json.dumps({"type": "ping", "t": 1}).encode())
        assert next_of(ws, "error")["code"] == "bad_message"


def test_ping_is_answered_with_the_same_t(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        ws.send_json({"type": "ping", "t": 123.25, "rtt": 17})
        assert next_of(ws, "pong") == {"type": "pong", "t": 123.25}


def test_sync_answers_a_state_with_the_whole_snapshot(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        welcome = ws.receive_json()
        ws.send_json({"type": "sync"})
        state = next_of(ws, "state")
        assert state["tick"] > welcome["tick"]
        assert {"width", "height", "snakes", "food", "stones"} <= set(state["state"])
        assert state["state"]["snakes"][0]["id"] == welcome["player"]


def test_state_is_followed_by_the_next_tick(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        ws.send_json({"type": "sync"})
        state = next_of(ws, "state")
        assert next_of(ws, "tick")["tick"] == state["tick"] + 1


def test_chat_reaches_everyone_in_the_room(client: TestClient) -> None:
    room = create_room(client)
    with client.websocket_connect(ws_url(name="alice", room=room)) as a, \
            client.websocket_connect(ws_url(name="bob", room=room)) as b:
        me = a.receive_json()["player"]
        b.receive_json()
        a.send_json({"type": "chat", "text": "<b>hi</b> bob"})
        expected = {"type": "chat", "player": me, "name": "alice", "text": "<b>hi</b> bob"}
        assert next_of(a, "chat") == expected
        assert next_of(b, "chat") == expected


def test_leave_closes_1000_and_frees_the_seat(client: TestClient) -> None:
    room = create_room(client)
    with client.websocket_connect(ws_url(name="alice", room=room)) as ws:
        token = ws.receive_json()["token"]
        ws.send_json({"type": "leave"})
        expect_close(ws, 1000, None)
    with client.websocket_connect(ws_url(name="alice", room=room, token=token)) as ws:
        expect_close(ws, 4401, "bad_token")


def test_a_token_resumes_the_same_seat(client: TestClient) -> None:
    room = create_room(client)
    with client.websocket_connect(ws_url(name="alice", room=room)) as ws:
        first = ws.receive_json()
        ws.send_json({"type": "input", "seq": 3, "data": {"respawn": True}})
        while next_of(ws, "tick")["ack"] < 3:
            pass
    with client.websocket_connect(ws_url(name="alice", room=room, token=first["token"])) as ws:
        again = ws.receive_json()
        assert again["type"] == "welcome"
        assert again["player"] == first["player"]
        assert again["ack"] == 3
        assert [s["id"] for s in again["state"]["snakes"]] == [first["player"]]
    # without the room id, the token alone finds the room too
    with client.websocket_connect(ws_url(name="alice", token=first["token"])) as ws:
        assert ws.receive_json()["player"] == first["player"]


def test_a_second_connection_with_the_token_replaces_the_first(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as old:
        welcome = old.receive_json()
        with client.websocket_connect(ws_url(name="alice", room=welcome["room"], token=welcome["token"])) as new:
            assert new.receive_json()["player"] == welcome["player"]
            expect_close(old, 4002, "replaced")
            assert next_of(new, "tick")


def test_bad_name_closes_4400(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="<script>")) as ws:
        expect_close(ws, 4400, "bad_name")
    with client.websocket_connect("/ws") as ws:
        expect_close(ws, 4400, "bad_name")


def test_bad_token_closes_4401(client: TestClient) -> None:
    room = create_room(client)
    with client.websocket_connect(ws_url(name="alice", room=room, token="nope")) as ws:
        expect_close(ws, 4401, "bad_token")
    with client.websocket_connect(ws_url(name="alice", token="nope")) as ws:
        expect_close(ws, 4401, "bad_token")


def test_unknown_room_or_game_closes_4404(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice", room="nowhere")) as ws:
        expect_close(ws, 4404, "room_not_found")
    with client.websocket_connect(ws_url(name="alice", game="chess")) as ws:
        expect_close(ws, 4404, "room_not_found")


def test_full_room_closes_4409(client: TestClient) -> None:
    room = create_room(client, max_players=1, bots=3)
    with client.websocket_connect(ws_url(name="alice", room=room)) as ws:
        ws.receive_json()
        with client.websocket_connect(ws_url(name="bob", room=room)) as other:
            expect_close(other, 4409, "room_full")


def test_oversized_frame_closes_1009(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        ws.send_text(json.dumps({"type": "chat", "text": "x" * 5000}))
        expect_close(ws, 1009, "too_big")


def test_multibyte_text_is_measured_in_bytes(make_client: ClientFactory) -> None:
    client = make_client(max_message_bytes=1000)
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        ws.send_text(json.dumps({"type": "chat", "text": "é" * 150}, ensure_ascii=False))  # 300 bytes: fine
        assert next_of(ws, "chat")
        ws.send_text(json.dumps({"type": "chat", "text": "🐍" * 200}, ensure_ascii=False))  # 800+ bytes
        ws.send_text(json.dumps({"type": "chat", "text": "🐍" * 300}, ensure_ascii=False))  # 1200+ bytes
        expect_close(ws, 1009, "too_big")


def test_rate_limited_messages_are_dropped_and_the_connection_stays(make_client: ClientFactory) -> None:
    client = make_client(rate_limit=5, rate_burst=5)
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        for t in range(10):
            ws.send_json({"type": "ping", "t": t})
        pongs: list[int] = []
        limited = 0
        while len(pongs) + limited < 10:
            message = ws.receive_json()
            if message["type"] == "pong":
                pongs.append(message["t"])
            elif message["type"] == "error":
                assert message["code"] == "rate_limited"
                limited += 1
        assert pongs == [0, 1, 2, 3, 4]
        assert limited == 5


def test_a_flood_closes_1008(make_client: ClientFactory) -> None:
    client = make_client(rate_limit=5, rate_burst=5, flood_seconds=0.3)
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        for _ in range(400):
            ws.send_json({"type": "ping", "t": 0})
            time.sleep(0.002)
        expect_close(ws, 1008, "flood", limit=5000)


def test_closing_a_room_closes_its_players_4001(client: TestClient) -> None:
    room = create_room(client)
    with client.websocket_connect(ws_url(name="alice", room=room)) as ws:
        ws.receive_json()
        assert portal_of(client).call(registry_of(client).close_room, room)
        expect_close(ws, 4001, "room_closed")
    assert client.get("/api/rooms").json()["rooms"] == []


def test_draining_tells_players_server_shutdown_1012(client: TestClient) -> None:
    with client.websocket_connect(ws_url(name="alice")) as ws:
        ws.receive_json()
        portal_of(client).call(registry_of(client).drain)
        expect_close(ws, 1012, "server_shutdown")
    with client.websocket_connect(ws_url(name="bob")) as ws:
        expect_close(ws, 1012, "server_shutdown")


class ExplodingSnake(SnakeGame):
    name = "exploding"
    steps = 0

    def step(self, tick: int = 0, dt: float = 0.0) -> list[ScoreEvent]:
        ExplodingSnake.steps += 1
        if ExplodingSnake.steps == 3:
            raise RuntimeError("boom in the rules")
        return super().step(tick, dt)


def test_a_crashing_room_closes_4001_and_others_tick_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(GAMES, "exploding", ExplodingSnake)
    ExplodingSnake.steps = 0
    calm = create_room(client)
    doomed = create_room(client, game="exploding")
    with client.websocket_connect(ws_url(name="alice", room=calm)) as a, \
            client.websocket_connect(ws_url(name="bob", room=doomed)) as b:
        a.receive_json()
        b.receive_json()
        expect_close(b, 4001, "room_closed")
        first = next_of(a, "tick")["tick"]
        assert next_of(a, "tick")["tick"] == first + 1
    assert portal_of(client).call(registry_of(client).get, doomed) is None
    assert registry_of(client).rooms_crashed == 1
    crash = next(r for r in caplog.records if "room crashed" in r.getMessage())
    assert doomed in crash.getMessage()
    assert crash.exc_info and "boom in the rules" in str(crash.exc_info[1])


@pytest.mark.parametrize("origin, host, allowed, ok", [
    (None, "game.example:8000", (), True),
    ("http://game.example:8000", "game.example:8000", (), True),
    ("https://game.example", "game.example", (), True),
    ("http://evil.example:8000", "game.example:8000", (), False),
    ("http://game.example:9000", "game.example:8000", (), False),
    ("https://friend.example", "game.example", ("https://friend.example",), True),
    ("null", "game.example", (), False),
])
def test_origin_rule(origin: str | None, host: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert origin_allowed(origin, host, allowed) is ok


def test_a_foreign_origin_is_refused_before_the_upgrade(make_client: ClientFactory) -> None:
    client = make_client(allowed_origins=("http://friend.example",))
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(ws_url(name="alice"), headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()
    with client.websocket_connect(ws_url(name="alice"), headers={"origin": "http://friend.example"}) as ws:
        assert ws.receive_json()["type"] == "welcome"
    with client.websocket_connect(ws_url(name="bob"), headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "welcome"
