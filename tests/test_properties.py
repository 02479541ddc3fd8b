"""Property-based tests (hypothesis): whatever a client sends, the parsers raise only the contract's errors.

Each parser that reads client input is given arbitrary text, bytes decoded as text, arbitrary
JSON, and JSON shaped like what it expects with the values gone wrong. Any exception but the
contract's (`MessageRefused` for a WebSocket message, `BadRequest` for a request, `InvalidInput`
for a game's input data, `ConnectionRefused("bad_name")` for a name) would be a 500 or a
dropped connection in the server, and fails here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi_mmo.exceptions import BadRequest, ConnectionRefused, MessageRefused
from asgi_mmo.games.base import InvalidInput
from asgi_mmo.games.catalog import GAMES
from asgi_mmo.games.inputs import check_input, schema_examples
from asgi_mmo.protocol import MAX_SEQ, Input, parse_client_message, validate_name
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.views.rect import parse_size
from asgi_mmo.web.websocket import origin_allowed

# Moderate: the whole file runs in a few seconds; deadline off for a loaded machine.
CASES = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: any JSON value, as orjson reads it (integers beyond 64 bits are not JSON orjson reads)
scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
#: the names the parsers look at, so generated objects hit their branches
MESSAGE_TYPES = ["input", "ping", "sync", "chat", "leave", "view", "nonsense", ""]
MESSAGE_FIELDS = ["type", "seq", "data", "t", "rtt", "text", "width", "height", "x", "y"]
ROOM_FIELDS = ["game", "private", "view", "max_players", "bots", "width", "height", "tick_rate", "options"]


def shaped(fields: list[str], values: st.SearchStrategy[Any] = json_values) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(fields), values, max_size=len(fields))


messages = shaped(MESSAGE_FIELDS, json_values | st.sampled_from(MESSAGE_TYPES)).map(
    lambda message: message
) | st.builds(lambda kind, rest: {**rest, "type": kind}, st.sampled_from(MESSAGE_TYPES), shaped(MESSAGE_FIELDS))


def _parse(text: str) -> None:
    try:
        parse_client_message(text)
    except MessageRefused as refused:
        assert refused.code == "bad_message"


# ---- the WebSocket messages ------------------------------------------------------------------------


@CASES
@given(st.text(max_size=200))
def test_any_text_is_a_message_or_bad_message(text: str) -> None:
    _parse(text)


@CASES
@given(st.binary(max_size=200))
def test_any_bytes_read_as_text_are_a_message_or_bad_message(data: bytes) -> None:
    _parse(data.decode("utf-8", errors="surrogateescape").encode("utf-8", errors="replace").decode())


@CASES
@given(json_values)
def test_any_json_is_a_message_or_bad_message(value: Any) -> None:
    _parse(orjson.dumps(value).decode())


@CASES
@given(messages)
def test_messages_of_every_type_with_wrong_fields_are_bad_message_at_worst(message: dict[str, Any]) -> None:
    _parse(orjson.dumps(message).decode())


@CASES
@given(st.integers(min_value=MAX_SEQ + 1, max_value=2**64 - 1) | st.integers(max_value=0))
def test_a_seq_javascript_cannot_hold_exactly_or_not_positive_is_bad_message(seq: int) -> None:
    with pytest.raises(MessageRefused) as refused:
        parse_client_message(json.dumps({"type": "input", "seq": seq, "data": {}}))
    assert refused.value.code == "bad_message"


@CASES
@given(st.integers(min_value=1, max_value=MAX_SEQ))
def test_every_seq_javascript_holds_exactly_is_accepted(seq: int) -> None:
    parsed = parse_client_message(json.dumps({"type": "input", "seq": seq, "data": {}}))
    assert isinstance(parsed, Input) and parsed.seq == seq


def test_huge_numbers_in_json_are_bad_message() -> None:
    for text in ('{"type": "input", "seq": 1e400, "data": {}}', '{"type": "input", "seq": 9' + "9" * 400 + "}",
                 '{"type": "ping", "t": NaN}', '{"type": "ping", "t": Infinity}'):
        _parse(text)


# ---- names, views and origins from the query ---------------------------------------------------------------


@CASES
@given(st.text(max_size=40) | st.none())
def test_any_name_is_a_name_or_bad_name(raw: str | None) -> None:
    try:
        name = validate_name(raw)
    except ConnectionRefused as refused:
        assert refused.code == "bad_name"
    else:
        assert 1 <= len(name) <= 16


@CASES
@given(st.text(max_size=20) | st.none() | st.text(alphabet="0123456789xX²٣ -+_", max_size=12))
def test_any_view_size_is_a_size_or_none(text: str | None) -> None:
    size = parse_size(text)
    assert size is None or all(isinstance(side, int) and side >= 0 for side in size)


@CASES
@given(st.text(max_size=60) | st.none(), st.text(max_size=40) | st.none())
def test_any_origin_and_host_are_let_in_or_not(origin: str | None, host: str | None) -> None:
    assert origin_allowed(origin, host, ("http://friend.example",)) in (True, False)


# ---- room settings (POST /api/rooms) ---------------------------------------------------------------------------------


def _room(body: Any) -> None:
    try:
        config = RoomConfig.from_request(body)
    except BadRequest:
        pass  # answered 422 bad_request
    else:
        assert config.game in GAMES
        assert all(math.isfinite(v) for v in config.options.values() if isinstance(v, float))


@CASES
@given(json_values)
def test_any_json_body_is_a_room_or_bad_request(body: Any) -> None:
    _room(body)


@settings(CASES, max_examples=30)
@given(shaped(ROOM_FIELDS), st.sampled_from([*GAMES, "nope"]))
def test_room_settings_with_wrong_values_are_bad_request_at_worst(body: dict[str, Any], game: str) -> None:
    _room(body)
    _room({**body, "game": game})


@CASES
@given(st.sampled_from(sorted(GAMES)), st.data())
def test_any_game_options_are_options_or_bad_request(game: str, data: st.DataObject) -> None:
    names = [*GAMES[game].options, "unknown"]
    options = data.draw(st.dictionaries(st.sampled_from(names), json_values, max_size=len(names)) | json_values)
    _room({"game": game, "options": options})


# ---- game inputs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("game", sorted(GAMES))
def test_any_input_data_is_an_input_or_invalid(game: str) -> None:
    game_class = GAMES[game]
    keys = sorted({key for example in schema_examples(game_class.input_schema) if isinstance(example, dict)
                   for key in example})

    @CASES
    @given(json_values | shaped(keys or ["x"]) | st.sampled_from(schema_examples(game_class.input_schema)))
    def check(data: Any) -> None:
        try:
            check_input(game_class, data)
        except InvalidInput:
            pass  # answered bad_message

    check()
