"""View rooms through `/ws` and the HTTP API; the view rectangle's rules and parsing."""

from __future__ import annotations

import random

import pytest
from starlette.testclient import TestClient

from asgi_mmo.cluster.messages import BadClusterMessage, ViewSize, ViewTick, parse
from asgi_mmo.exceptions import MessageRefused
from asgi_mmo.games.snake.viewdelta import ViewPicture
from asgi_mmo.protocol import View, parse_client_message
from asgi_mmo.views.rect import MARGIN, Rect, clamp_size, follow, parse_size, place
from tests.wsclient import create_room, next_of, ws_url


@pytest.mark.parametrize(
    ("text", "size"),
    [("64x40", (64, 40)), ("16X16", (16, 16)), ("", None), (None, None), ("64", None), ("ax3", None),
     ("-4x20", None), ("64x40x2", None), ("9999999x1", None)],
)  # fmt: skip
def test_view_parameter_parsing(text: str | None, size: tuple[int, int] | None) -> None:
    assert parse_size(text) == size


def test_sizes_are_clamped_to_16_128_and_to_the_field() -> None:
    assert clamp_size(1, 500, 1000, 1000) == (16, 128)
    assert clamp_size(64, 40, 30, 20) == (30, 20)
    assert clamp_size(0, 0, 12, 10) == (12, 10)


def test_a_rectangle_follows_the_head_with_hysteresis_and_snapping() -> None:
    rng = random.Random(1)
    for _ in range(300):
        field = (rng.randint(16, 300), rng.randint(16, 300))
        width, height = clamp_size(rng.randint(16, 128), rng.randint(16, 128), *field)
        head = (rng.randrange(field[0]), rng.randrange(field[1]))
        rect = place(head, width, height, *field)
        for _ in range(60):
            head = (min(max(0, head[0] + rng.choice((-1, 0, 1))), field[0] - 1),
                    min(max(0, head[1] + rng.choice((-1, 0, 1))), field[1] - 1))  # fmt: skip
            moved = follow(rect, head, *field)
            inner = (rect.x + MARGIN <= head[0] <= rect.x + width - 1 - MARGIN
                     and rect.y + MARGIN <= head[1] <= rect.y + height - 1 - MARGIN)  # fmt: skip
            if inner:
                assert moved is rect, "no move while the head is well inside"
            rect = moved
            assert 0 <= rect.x <= field[0] - width and 0 <= rect.y <= field[1] - height
            axes = ((head[0], rect.x, width, field[0]), (head[1], rect.y, height, field[1]))
            for pos, start, side, field_side in axes:
                assert min(pos, MARGIN) <= pos - start, (rect, head)
                assert min(field_side - 1 - pos, MARGIN) <= start + side - 1 - pos, (rect, head)
    # players in the same place share a rectangle
    assert place((101, 50), 64, 40, 1000, 1000) == place((103, 52), 64, 40, 1000, 1000) == Rect(72, 32, 64, 40)


@pytest.mark.parametrize(
    "text", ['{"type":"view","width":"64"}', '{"type":"view","height":4.5}', '{"type":"view","width":true}',
             '{"type":"view","x":null}']
)  # fmt: skip
def test_a_view_message_with_non_integers_is_a_bad_message(text: str) -> None:
    with pytest.raises(MessageRefused) as refused:
        parse_client_message(text)
    assert refused.value.code == "bad_message"


def test_a_view_message_parses() -> None:
    assert parse_client_message('{"type":"view","width":64,"height":40}') == View(64, 40)
    assert parse_client_message('{"type":"view"}') == View(None, None)


def test_a_view_room_is_listed_with_view_and_only_for_games_with_views(client: TestClient) -> None:
    room = create_room(client, view=True, width=200, height=150)
    plain = create_room(client)
    listed = {entry["id"]: entry for entry in client.get("/api/rooms").json()["rooms"]}
    assert listed[room]["view"] is True and listed[plain]["view"] is False
    assert client.post("/api/rooms", json={"game": "arena", "view": True}).status_code == 422
    assert client.post("/api/rooms", json={"view": "yes"}).status_code == 422


def test_a_view_room_over_the_socket(client: TestClient) -> None:
    room = create_room(client, view=True, width=200, height=150)
    with client.websocket_connect(ws_url(room=room, name="ann", view="20x300")) as ws:
        welcome = next_of(ws, "welcome")
        view = welcome["view"]
        assert (view["width"], view["height"]) == (20, 128)
        assert (welcome["state"]["width"], welcome["state"]["height"]) == (200, 150)
        picture = ViewPicture.of(view, welcome["state"])
        assert welcome["player"] in picture.snakes, "the player sees its own snake"
        ws.send_json({"type": "view", "width": "wide"})
        assert next_of(ws, "error")["code"] == "bad_message"
        ws.send_json({"type": "view", "width": 40, "height": 30})
        ws.send_json({"type": "sync"})
        for _ in range(3):  # in effect within two ticks
            frame = ws.receive_json()
            if frame["type"] in ("tick", "state") and "view" in frame:
                picture.view = frame["view"]
                break
        assert (picture.view["width"], picture.view["height"]) == (40, 30)


def test_a_view_message_in_a_plain_room_changes_nothing(client: TestClient) -> None:
    room = create_room(client)
    with client.websocket_connect(ws_url(room=room, name="bob", view="20x20")) as ws:
        welcome = next_of(ws, "welcome")
        assert "view" not in welcome and welcome["state"]["width"] == 40
        ws.send_json({"type": "view", "width": 20, "height": 20})
        ws.send_json({"type": "ping", "t": 1})
        for _ in range(20):
            frame = ws.receive_json()
            assert frame["type"] != "error" and "view" not in frame
            if frame["type"] == "pong":
                break


def test_view_messages_between_processes_round_trip() -> None:
    entered = {(0, 1): '{"b":[0,1],"snakes":[],"cells":[],"food":[],"stones":[]}'}
    fragments = {(0, 0): '{"cut":[["p1",1,2]]}'}
    tick = ViewTick(7, 2, {"p1": 3}, {"p1": (0, 8, 20, 16)}, fragments, entered, {"p1": '{"width":9}'})
    assert parse(tick.encode()) == tick
    size = ViewSize("w:1", "p1", 30, None)
    assert parse(size.encode()) == size
    with pytest.raises(BadClusterMessage):
        parse(b'{"t":"vtick","tick":1,"fence":1,"acks":{},"views":{},"frag":[[0,0]],"enter":[],"states":[]}')
    with pytest.raises(BadClusterMessage):
        parse(b'{"t":"view","w":"w:1","p":"p1","width":"wide","height":null}')
