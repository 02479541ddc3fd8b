"""The cluster's wire messages: every kind round-trips, payloads travel verbatim, garbage is refused."""

from __future__ import annotations

import orjson
import pytest

from asgi_mmo.cluster.messages import (
    BadClusterMessage,
    CloseReason,
    CloseRoom,
    Disconnect,
    Input,
    Join,
    Joined,
    Kick,
    Latency,
    Message,
    Moved,
    PlayerChat,
    Reconnect,
    Refused,
    RoomChat,
    RoomClosed,
    Sync,
    Tick,
    parse,
)
from asgi_mmo.names import room_in, room_out, worker_channel

SHUTDOWN = CloseReason("server_shutdown", "going down", 1012)
DELTA = orjson.dumps({"moves": [["a", 1, 2, 0]], "names": ["Zoë\nline"]}).decode()
WELCOME = orjson.dumps({"type": "welcome", "tick": 4, "state": {"snakes": []}}).decode()

EVERY_KIND: list[Message] = [
    Join("host:1", "r1", "alice", None),
    Join("host:1", "r2", "alice", "tok"),
    Reconnect("host:1", "p1", "tok"),
    Input("host:1", "p1", 7, {"dir": "up"}),
    PlayerChat("host:1", "p1", "hello\nthere"),
    Latency("host:1", "p1", 42.5),
    Disconnect("host:1", "p1", True),
    Sync("host:1"),
    Sync("host:1", ("p1", "w-2a")),
    CloseRoom("host:1"),
    Tick(5, 2, {"p1": 7}, DELTA),
    Tick(6, 2, {}, "{}", '{"state":{"snakes":[]}}'),
    Tick(7, 2, {}, "{}", None, 1000),
    RoomChat('{"type":"chat","player":"p1","name":"a","text":"hi"}'),
    RoomClosed(SHUTDOWN),
    Moved(),
    Joined("r1", "p1", "alice", "tok", 3, 4, {"game": "snake", "tick_rate": 20}, WELCOME),
    Refused("r1", CloseReason("room_full", "full", 4409)),
    Kick("room1", "p1", CloseReason("replaced", "resumed elsewhere", 4002)),
]


@pytest.mark.parametrize("message", EVERY_KIND, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    assert parse(message.encode()) == message


def test_payloads_travel_verbatim_after_the_header() -> None:
    data = Tick(5, 1, {}, DELTA, "{}").encode()
    header, *payloads = data.split(b"\n")
    assert orjson.loads(header) == {"t": "tick", "tick": 5, "fence": 1, "acks": {}, "aud": 0}
    assert payloads == [DELTA.encode(), b"{}"]
    parsed = parse(data)
    assert isinstance(parsed, Tick) and (parsed.delta, parsed.state) == (DELTA, "{}")


def test_the_wire_format_is_the_one_older_processes_speak() -> None:
    """The header fields of the untyped dicts of before, so old and new processes interoperate."""
    assert orjson.loads(Join("w1", "r", "bob", None).encode()) == {
        "t": "join", "req": "r", "name": "bob", "token": None, "w": "w1"}
    assert orjson.loads(Input("w1", "p", 3, {"dir": "up"}).encode()) == {
        "t": "input", "p": "p", "seq": 3, "data": {"dir": "up"}, "w": "w1"}
    assert orjson.loads(Disconnect("w1", "p", False).encode()) == {
        "t": "disconnect", "p": "p", "leave": False, "w": "w1"}
    assert orjson.loads(Kick("r", "p", SHUTDOWN).encode()) == {
        "t": "kick", "room": "r", "p": "p", "code": "server_shutdown", "message": "going down", "close": 1012}
    header, welcome = Joined("q", "p", "n", "t", 1, 2, {"game": "snake"}, WELCOME).encode().split(b"\n")
    assert orjson.loads(header) == {
        "t": "joined", "req": "q", "p": "p", "name": "n", "token": "t", "ack": 1, "tick": 2,
        "config": {"game": "snake"}}
    assert welcome == WELCOME.encode()
    assert Moved().encode() == b'{"t":"moved"}'


def test_chat_and_close_are_told_apart_by_the_sender_field() -> None:
    assert isinstance(parse(b'{"t":"chat","p":"p1","text":"hi","w":"x"}'), PlayerChat)
    assert isinstance(parse(b'{"t":"chat"}\n{"type":"chat"}'), RoomChat)
    assert isinstance(parse(b'{"t":"close","w":"x"}'), CloseRoom)
    assert parse(b'{"t":"close","code":"room_closed","message":"m","close":4001}') == RoomClosed(
        CloseReason("room_closed", "m", 4001))


def test_a_reason_becomes_the_error_it_was_made_of() -> None:
    error = SHUTDOWN.error()
    assert (error.code, error.message, error.close_code) == ("server_shutdown", "going down", 1012)
    assert CloseReason.of(error) == SHUTDOWN


GARBAGE = [
    b"",
    b"not json",
    b"[1,2]",
    b'{"no": "t"}',
    b'{"t": 5}',
    b'{"t":"teleport"}',
    b'{"t":"teleport","w":"x"}',
    b'{"t":"input","p":"p1","seq":"7","w":"x"}',
    b'{"t":"input","p":"p1","seq":true,"w":"x"}',
    b'{"t":"input","seq":7,"w":"x"}',
    b'{"t":"join","req":"r","name":"a","token":5,"w":"x"}',
    b'{"t":"join","req":"r","name":"a","w":7}',
    b'{"t":"latency","p":"p1","ms":"fast","w":"x"}',
    b'{"t":"disconnect","p":"p1","leave":1,"w":"x"}',
    b'{"t":"sync","w":"x"}\n{}',
    b'{"t":"tick","tick":1,"fence":1,"acks":{}}',
    b'{"t":"tick","tick":1,"fence":1,"acks":{}}\n{}\n{}\n{}',
    b'{"t":"tick","tick":1,"fence":1,"acks":{"p":"x"}}\n{}',
    b'{"t":"tick","tick":1.5,"fence":1,"acks":{}}\n{}',
    b'{"t":"tick","tick":1,"acks":{}}\n{}',
    b'{"t":"chat"}',
    b'{"t":"close","code":"x","message":"m"}',
    b'{"t":"joined","req":"r","p":"p","name":"n","token":"t","ack":1,"tick":2,"config":[]}\n{}',
    b'{"t":"joined","req":"r","p":"p","name":"n","token":"t","ack":1,"tick":2,"config":{}}',
    b'{"t":"refused","req":"r","code":"x","message":"m","close":"4001"}',
    b'{"t":"kick","p":"p","code":"x","message":"m","close":4001}',
    b'{"t":"moved"}\n{}',
    b'{"t":"chat"}\n\xff\xfe',
]


@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(BadClusterMessage):
        parse(data)


def test_the_error_is_a_value_error() -> None:
    assert issubclass(BadClusterMessage, ValueError)


def test_channels_name_their_room_or_worker() -> None:
    assert room_in("abc") == "mmo:in:abc"
    assert room_out("abc") == "mmo:out:abc"
    assert worker_channel("host:12") == "mmo:w:host:12"
