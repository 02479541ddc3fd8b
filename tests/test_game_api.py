"""Game API v2 at the edge: `GET /api/games`, room options, and input schemas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from asgi_mmo.exceptions import BadRequest
from asgi_mmo.games.base import Game, GameSetup, InvalidInput, ScoreEvent
from asgi_mmo.games.catalog import DEFAULT_GAME, GAMES
from asgi_mmo.games.inputs import check_input
from asgi_mmo.games.options import Option, resolve_options
from tests.wsclient import next_of

GAME_CLASSES = sorted(GAMES.values(), key=lambda game: game.name)
#: JSON values of every kind, nested, the way a hostile client could send them
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def test_the_games_are_listed_with_what_clients_need(client: TestClient) -> None:
    answer = client.get("/api/games")
    assert answer.status_code == 200
    games = {game["name"]: game for game in answer.json()["games"]}
    assert {"snake", "arena"} <= set(games)
    for info in games.values():
        assert set(info) >= {"name", "title", "description", "options", "input"}
        assert info["title"] and info["description"]
        jsonschema.Draft202012Validator.check_schema(info["input"])
        assert info["input"]["examples"], "every game shows at least one example input"
        for example in info["input"]["examples"]:
            jsonschema.Draft202012Validator(info["input"]).validate(example)
        for option in info["options"].values():
            assert option["type"] in ("integer", "number", "boolean", "string")
            assert {"default", "description"} <= set(option)


def test_snake_is_the_default_game() -> None:
    assert DEFAULT_GAME == "snake"


@pytest.mark.parametrize("game", GAME_CLASSES, ids=lambda game: game.name)
def test_every_example_input_is_accepted(game: type[Game]) -> None:
    for example in game.input_schema["examples"]:
        check_input(game, example)


@pytest.mark.parametrize("game", GAME_CLASSES, ids=lambda game: game.name)
@settings(max_examples=300, deadline=None)
@given(data=JSON)
def test_the_fast_validator_agrees_with_the_reference(game: type[Game], data: Any) -> None:
    """fastjsonschema (the server's) and jsonschema (the reference) judge every input alike."""
    reference_ok = jsonschema.Draft202012Validator(game.input_schema).is_valid(data)
    try:
        check_input(game, data)
    except InvalidInput:
        accepted = False
    else:
        accepted = True
    # parse_input may refuse more than a schema can say, never less.
    assert accepted <= reference_ok
    if reference_ok and not accepted:
        with pytest.raises(InvalidInput, match="^(?!input data does not match)"):
            check_input(game, data)


def test_room_options_are_filled_in_and_echoed(client: TestClient) -> None:
    arena = GAMES["arena"]
    name, option = next((n, o) for n, o in arena.options.items() if o.type == "integer")
    assert option.maximum is not None
    answer = client.post("/api/rooms", json={"game": "arena", "options": {name: int(option.maximum)}})
    assert answer.status_code == 201
    used = answer.json()["options"]
    assert used[name] == option.maximum
    assert set(used) == set(arena.options)  # every default is filled in
    assert all(used[other] == spec.default for other, spec in arena.options.items() if other != name)


@pytest.mark.parametrize("options", [
    {"no_such_option": 1},
    "not an object",
    [1, 2],
    {"hit_points": "3"},
    {"hit_points": 3.5},
    {"hit_points": True},
    {"hit_points": 0},
    {"hit_points": 10_000},
    {"hit_points": 1e300},
    {"lag_compensation_ms": -1},
])
def test_bad_options_answer_422_and_make_no_room(client: TestClient, options: object) -> None:
    before = client.get("/api/rooms").json()["rooms"]
    answer = client.post("/api/rooms", json={"game": "arena", "options": options})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "bad_request"
    assert client.get("/api/rooms").json()["rooms"] == before


def test_options_of_another_game_are_unknown(client: TestClient) -> None:
    answer = client.post("/api/rooms", json={"game": "snake", "options": {"hit_points": 3}})
    assert answer.status_code == 422
    assert "unknown option 'hit_points'" in answer.json()["error"]["message"]


def test_option_checks() -> None:
    spec = {
        "speed": Option("number", 1.0, "how fast", minimum=0.5, maximum=2),
        "mode": Option("string", "a", "which", enum=("a", "b")),
        "on": Option("boolean", False, "whether"),
    }
    assert resolve_options(spec, None) == {"speed": 1.0, "mode": "a", "on": False}
    assert resolve_options(spec, {"speed": 2, "mode": "b", "on": True}) == {"speed": 2.0, "mode": "b", "on": True}
    for bad in ({"speed": 3}, {"speed": "1"}, {"mode": "c"}, {"mode": 1}, {"on": 1}, {"other": 1}):
        with pytest.raises(BadRequest):
            resolve_options(spec, bad)


def test_the_guides_whole_game_works() -> None:
    """docs/games.md's "A whole game" runs as written, through the server's own checks."""
    guide = (Path(__file__).parent.parent / "docs" / "games.md").read_text()
    section = guide[guide.index("## A whole game") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/games.md", "exec"), namespace)
    game_class: type[Game] = namespace["ClickGame"]
    options = resolve_options(game_class.options, {"points": 2})
    game = game_class.create(GameSetup(10, 10, options, seed=None))
    game.add_player("a", "ann")
    game.add_player("b", "bob", bot=True)
    previous = game.snapshot()
    game.take_delta()
    game.apply_input("a", check_input(game_class, {"click": True}))
    game.apply_input("a", check_input(game_class, {"click": True}))
    with pytest.raises(InvalidInput):
        check_input(game_class, {"click": 1})
    for example in game_class.input_schema["examples"]:
        check_input(game_class, example)
    assert game.step(1, 0.1) == []
    assert game.take_delta() == {"players": [{"id": "a", "name": "ann", "score": 4, "bot": False}]}
    assert game.player_stats("a") == {"score": 4, "alive": True}
    copy = game_class.restore(orjson.loads(orjson.dumps(game.save())))
    assert copy.snapshot() == game.snapshot() != previous
    assert copy.take_delta() == {}
    assert game.remove_player("a") == ScoreEvent("a", "ann", 4, False)
    assert game.remove_player("b") is None
    assert game.take_delta() == {"removed": ["a", "b"]}
    assert game.make_bot_driver() is None


@pytest.mark.parametrize("data", [
    '{"move": [1e308, 0]}',
    '{"move": [0.5]}',
    '{"move": ["left", 0]}',
    '{"aim": 99}',
    '{"fire": 1}',
    '{"seen": 9007199254740993}',
    '{"seen": -1}',
    '{"teleport": true}',
    "{}",
])
def test_arena_inputs_off_the_schema_are_bad_messages_and_change_nothing(client: TestClient, data: str) -> None:
    room = client.post("/api/rooms", json={"game": "arena"}).json()["id"]
    with client.websocket_connect(f"/ws?name=ace&room={room}") as ws:
        welcome = ws.receive_json()
        me = next(s for s in welcome["state"]["ships"] if s["id"] == welcome["player"])
        ws.send_text(f'{{"type": "input", "seq": 1, "data": {data}}}')
        error = next_of(ws, "error")
        assert error["code"] == "bad_message" and "schema" in error["message"]
        ws.send_json({"type": "sync"})
        state = next_of(ws, "state")
        assert state["ack"] == 0  # neither applied nor acknowledged
        ship = next(s for s in state["state"]["ships"] if s["id"] == welcome["player"])
        assert (ship["x"], ship["y"], ship["vx"], ship["vy"]) == (me["x"], me["y"], 0.0, 0.0)
        ws.send_json({"type": "input", "seq": 2, "data": {"move": [1, 0]}})  # a good one still works
        tick = next_of(ws, "tick")
        while tick["ack"] < 2:
            tick = next_of(ws, "tick")
