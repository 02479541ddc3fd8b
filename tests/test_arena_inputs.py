"""The arena's input contract: its JSON Schema, and `parse_input` agreeing with it."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from asgi_mmo.games.arena.inputs import MAX_TICK, ArenaInput
from asgi_mmo.games.arena.rules import ArenaGame
from asgi_mmo.games.base import InvalidInput

SCHEMA = ArenaGame.input_schema
VALIDATOR = Draft202012Validator(SCHEMA)


def refused(data: Any) -> bool:
    """True when the schema or the parser refuses `data`; the parser never raises anything else."""
    try:
        ArenaGame.parse_input(data)
    except InvalidInput:
        return True
    return not VALIDATOR.is_valid(data)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["additionalProperties"] is False
    assert set(SCHEMA["properties"]) == {"move", "aim", "fire", "seen", "respawn"}
    orjson.dumps(SCHEMA)  # plain JSON, for GET /api/games


def test_every_example_is_valid_and_parses() -> None:
    assert len(SCHEMA["examples"]) >= 3
    for example in SCHEMA["examples"]:
        assert VALIDATOR.is_valid(example), example
        assert isinstance(ArenaGame.parse_input(example), ArenaInput)


def test_parse_input_gives_what_was_sent() -> None:
    parse = ArenaGame.parse_input
    assert parse({"move": [1, -0.5]}) == ArenaInput(move=(1.0, -0.5))
    assert parse({"aim": -math.pi, "fire": True, "seen": 12.0}) == ArenaInput(aim=-math.pi, fire=True, seen=12)
    assert parse({"respawn": True, "fire": False}) == ArenaInput(respawn=True)
    assert parse({"seen": MAX_TICK}) == ArenaInput(seen=MAX_TICK)
    move = parse({"move": [1, 0]}).move
    assert move is not None and isinstance(move[0], float) and isinstance(move[1], float)


@pytest.mark.parametrize(
    "data",
    [
        None, [], "fire", 3, {},  # not an object, or empty
        {"shoot": True}, {"fire": True, "extra": 1}, {1: True},  # unknown fields
        {"move": [math.nan, 0]}, {"move": [0, math.inf]}, {"move": [-math.inf, 0]}, {"aim": math.nan},
        {"aim": math.inf}, {"seen": math.nan}, {"seen": math.inf},  # what JSON cannot carry
        {"move": [1e308, 0]}, {"aim": 1e308}, {"aim": -1e308}, {"seen": 1e308}, {"move": [10**400, 0]},
        {"seen": 2**53}, {"seen": -1}, {"aim": 3.15}, {"move": [1.0001, 0]},  # out of range
        {"move": ["1", 0]}, {"move": [True, 0]}, {"aim": "0"}, {"fire": 1}, {"fire": "true"},
        {"respawn": 1}, {"seen": "5"}, {"seen": True}, {"seen": 5.5},  # wrong types
        {"move": [1]}, {"move": [1, 0, 0]}, {"move": []}, {"move": (1, 0)}, {"move": {"x": 1, "y": 0}},
    ],
)  # fmt: skip
def test_bad_input_is_refused(data: Any) -> None:
    assert refused(data)
    with pytest.raises(InvalidInput):
        ArenaGame.parse_input(data)  # the parser alone refuses all of it, too


def test_nan_passes_the_schema_so_the_parser_stops_it() -> None:
    assert VALIDATOR.is_valid({"aim": math.nan})  # NaN compares false to every bound
    with pytest.raises(InvalidInput, match="finite"):
        ArenaGame.parse_input({"aim": math.nan})


_NUMBERS = st.one_of(
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1.5, max_value=1.5),
    st.sampled_from([-math.pi, math.pi, -1, 1, 0, -0.0, MAX_TICK, MAX_TICK + 1]),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=4))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
_AXES = st.floats(min_value=-1, max_value=1) | _NUMBERS | st.booleans()
_FIELDS = {
    "move": st.lists(st.floats(min_value=-1, max_value=1), min_size=2, max_size=2)
    | st.lists(_AXES, max_size=3)
    | _VALUES,
    "aim": st.floats(min_value=-3.2, max_value=3.2) | _SCALARS,
    "fire": st.booleans() | _SCALARS,
    "seen": st.integers(min_value=-2, max_value=MAX_TICK + 2) | _SCALARS,
    "respawn": st.booleans() | _SCALARS,
}
_VALID = st.fixed_dictionaries(
    {},
    optional={
        "move": st.lists(st.floats(min_value=-1, max_value=1), min_size=2, max_size=2),
        "aim": st.floats(min_value=-math.pi, max_value=math.pi),
        "fire": st.booleans(),
        "seen": st.integers(min_value=0, max_value=MAX_TICK),
        "respawn": st.booleans(),
    },
)
# Near misses of the contract (each field right or wrong), some with a stray key.
_NEAR = st.fixed_dictionaries({}, optional=_FIELDS)
_STRAY = st.tuples(_NEAR, st.text(max_size=5), _VALUES).map(lambda t: {**t[0], t[1]: t[2]})
_ONE_OFF = st.tuples(_VALID, st.sampled_from(sorted(_FIELDS))).flatmap(
    lambda t: _FIELDS[t[1]].map(lambda value: {**t[0], t[1]: value})
)  # valid but for one field
# Valid input, valid but for one field, near misses, anything.
_INPUTS = _VALID | _ONE_OFF | _NEAR | _STRAY | _VALUES


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(_INPUTS)
def test_parse_input_accepts_exactly_what_the_schema_accepts_without_nan(data: Any) -> None:
    try:
        ArenaGame.parse_input(data)
        parsed = True
    except InvalidInput:
        parsed = False
    assert parsed == (VALIDATOR.is_valid(data) and not _has_nan(data))
