from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from asgi_mmo.exceptions import ConnectionRefused, MessageRefused
from asgi_mmo.protocol import (
    CLOSE_CODES,
    Chat,
    Input,
    Leave,
    Ping,
    Sync,
    TickFrame,
    parse_client_message,
    refusal_from_wire,
    refuse,
    validate_name,
)


@pytest.mark.parametrize("raw, expected", [
    ("alice", "alice"),
    ("  Bob 2  ", "Bob 2"),
    ("a.b-c_d", "a.b-c_d"),
    ("Zoë", "Zoë"),
    ("x" * 16, "x" * 16),
])
def test_valid_names_are_trimmed(raw: str, expected: str) -> None:
    assert validate_name(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "x" * 17, "<b>", "a&b", "tab\there", "semi;colon", "emoji🐍"])
def test_bad_names_close_4400(raw: str | None) -> None:
    with pytest.raises(ConnectionRefused) as refused:
        validate_name(raw)
    assert refused.value.code == "bad_name"
    assert refused.value.close_code == 4400


def test_parse_each_client_message() -> None:
    assert parse_client_message('{"type":"input","seq":3,"data":{"dir":"up"}}') == Input(3, {"dir": "up"})
    assert parse_client_message('{"type":"sync"}') == Sync()
    assert parse_client_message('{"type":"ping","t":12.5}') == Ping(12.5, None)
    assert parse_client_message('{"type":"ping","t":1,"rtt":40}') == Ping(1, 40)
    assert parse_client_message('{"type":"chat","text":"  hi  "}') == Chat("hi")
    assert parse_client_message('{"type":"leave"}') == Leave()


@pytest.mark.parametrize("text", [
    "not json",
    "[1, 2]",
    '"just a string"',
    "{}",
    '{"type": 5}',
    '{"type": "dance"}',
    '{"type": "input", "data": {}}',
    '{"type": "input", "seq": 0, "data": {}}',
    '{"type": "input", "seq": -1, "data": {}}',
    '{"type": "input", "seq": 1.5, "data": {}}',
    '{"type": "input", "seq": true, "data": {}}',
    '{"type": "input", "seq": "1", "data": {}}',
    '{"type": "input", "seq": 1}',
    '{"type": "ping"}',
    '{"type": "ping", "t": "now"}',
    '{"type": "ping", "t": true}',
    '{"type": "ping", "t": 1, "rtt": -5}',
    '{"type": "chat"}',
    '{"type": "chat", "text": 7}',
    '{"type": "chat", "text": "   "}',
    '{"type": "chat", "text": "' + "x" * 201 + '"}',
])
def test_malformed_messages_are_bad_message(text: str) -> None:
    with pytest.raises(MessageRefused) as refused:
        parse_client_message(text)
    assert refused.value.code == "bad_message"
    assert refused.value.message


def test_close_codes_match_the_contract() -> None:
    assert CLOSE_CODES["flood"] == 1008
    assert CLOSE_CODES["too_big"] == 1009
    assert CLOSE_CODES["too_slow"] == 1008
    assert CLOSE_CODES["bad_name"] == 4400
    assert CLOSE_CODES["bad_token"] == 4401
    assert CLOSE_CODES["room_not_found"] == 4404
    assert CLOSE_CODES["room_full"] == 4409
    assert CLOSE_CODES["room_closed"] == 4001
    assert CLOSE_CODES["server_shutdown"] == 1012
    assert CLOSE_CODES["bad_message"] is None and CLOSE_CODES["rate_limited"] is None


def test_tick_frame_splices_each_players_ack_into_one_serialisation() -> None:
    frame = TickFrame("tick", 7, {"moves": [["a", 1, 2, 0]], "names": ["Zoë"]})
    for ack in (0, 5, 123456):
        text = frame.for_player(ack)
        expected = {"type": "tick", "tick": 7, "ack": ack, "moves": [["a", 1, 2, 0]], "names": ["Zoë"]}
        assert orjson.loads(text) == expected
        assert len(text) + frame.extra_bytes == len(text.encode())


def test_tick_frame_with_empty_change() -> None:
    assert orjson.loads(TickFrame("tick", 1, {}).for_player(2)) == {"type": "tick", "tick": 1, "ack": 2}


PROTOCOL_DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def documented_close_codes() -> dict[str, int | None]:
    """The table under "Errors and close codes" in docs/protocol.md: code -> close (None for "—")."""
    section = PROTOCOL_DOC.read_text().split("## Errors and close codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\d{4}|—) \|", section, re.MULTILINE)
    assert len(rows) == len({code for code, _ in rows}), "a code listed twice"
    return {code: None if close == "—" else int(close) for code, close in rows}


def test_the_docs_table_of_error_and_close_codes_is_close_codes() -> None:
    assert documented_close_codes() == CLOSE_CODES


def test_refuse_takes_the_close_code_from_the_table() -> None:
    refused = refuse("bad_token", "unknown or expired token")
    assert (refused.code, refused.message, refused.close_code) == ("bad_token", "unknown or expired token", 4401)
    with pytest.raises(AssertionError):
        refuse("rate_limited", "it does not close")


def test_a_reason_from_the_wire_gets_its_close_code_from_the_table() -> None:
    refused = refusal_from_wire("replaced", "this seat was resumed by another connection")
    assert isinstance(refused, ConnectionRefused) and refused.close_code == 4002


@pytest.mark.parametrize(("code", "message"), [
    ("no_such_code", "x"),
    ("bad_message", "a code that does not close"),
    (4401, "a close code is not an error code"),
    ("room_full", None),
])
def test_a_malformed_reason_from_the_wire_is_refused(code: str | int, message: str | None) -> None:
    with pytest.raises(ValueError, match="not a closing error code"):
        refusal_from_wire(code, message)
