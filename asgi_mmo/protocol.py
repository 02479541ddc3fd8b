"""The wire contract (protocol v1): client messages, server frames, error and close codes.

Pure code, no I/O. Parsing raises `MessageRefused` / `ConnectionRefused`
carrying the contract's error code; encoding builds JSON text frames.

A `tick` frame differs between players only in `ack`, so the room serialises
the game's change once (`TickFrame`) and each player's frame is two string
joins around its ack: no JSON work per player.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from asgi_mmo.exceptions import ConnectionRefused, MessageRefused

PROTOCOL_VERSION = 1
NAME_MAX = 16
CHAT_MAX = 200
NAME_PUNCTUATION = frozenset(" _-.")
#: the largest `seq`: the largest integer a JavaScript number holds exactly (Number.MAX_SAFE_INTEGER),
#: so an `ack` echoed back is always the client's own number
MAX_SEQ = 2**53 - 1

#: The contract's table: error code -> WebSocket close code (None: the connection stays open).
#: The only place in the code that names a close code; docs/protocol.md shows the same table
#: (tests/test_protocol.py holds the two together).
CLOSE_CODES: dict[str, int | None] = {
    "bad_message": None,
    "rate_limited": None,
    "flood": 1008,
    "too_big": 1009,
    "too_slow": 1008,
    "bad_name": 4400,
    "bad_token": 4401,
    "room_not_found": 4404,
    "room_full": 4409,
    "room_closed": 4001,
    "server_shutdown": 1012,
    # Extension: the seat was taken over by a newer connection with its token.
    "replaced": 4002,
    # Extension: the shared backend (Redis) cannot be reached to join a room run elsewhere.
    "unavailable": 1013,
    # Extension: player authorization is on (ASGI_MMO_AUTH) and refused this player's credential.
    "unauthorized": 4403,
    # Extension: the client's address holds its share of seats (ASGI_MMO_SEATS_PER_ADDRESS).
    "busy": 4429,
}
#: the close after `leave`: no error, no error frame
NORMAL_CLOSURE = 1000
#: the client went away without a close; never sent, it only names why a connection ended
ABNORMAL_CLOSURE = 1006


def refuse(code: str, message: str) -> ConnectionRefused:
    """A `ConnectionRefused` for a contract error code that closes the connection."""
    close_code = CLOSE_CODES[code]
    assert close_code is not None, f"{code} does not close the connection"
    return ConnectionRefused(code, message, close_code)


def refusal_from_wire(code: object, message: object) -> ConnectionRefused:
    """The `ConnectionRefused` another process sent as its error code and message.

    The close code is looked up in the table, never taken from the wire; a code
    that is not in the table, or that does not close, raises `ValueError` (the
    message it came in is malformed).
    """
    if isinstance(code, str) and isinstance(message, str):
        close_code = CLOSE_CODES.get(code)
        if close_code is not None:
            return ConnectionRefused(code, message, close_code)
    raise ValueError(f"not a closing error code and a message: {code!r}, {message!r}")


def validate_name(raw: str | None) -> str:
    """The trimmed name, or `bad_name`: 1-16 letters, digits, space, `_`, `-`, `.`."""
    name = (raw or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise refuse("bad_name", f"a name has 1 to {NAME_MAX} characters")
    for char in name:
        if not (char.isalpha() or char.isdigit() or char in NAME_PUNCTUATION):
            raise refuse("bad_name", "a name may hold letters, digits, space, '_', '-' and '.'")
    return name


# ---- client to server -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Input:
    seq: int
    data: Any


@dataclass(frozen=True, slots=True)
class Sync:
    pass


@dataclass(frozen=True, slots=True)
class Ping:
    t: float
    rtt: float | None  # extension: the client's last measured round trip, in ms


@dataclass(frozen=True, slots=True)
class Chat:
    text: str


@dataclass(frozen=True, slots=True)
class Leave:
    pass


@dataclass(frozen=True, slots=True)
class View:
    """A new view size (None: keep that side); clamped by the room. `x`, `y`: a spectator's corner."""

    width: int | None
    height: int | None
    x: int | None = None
    y: int | None = None


ClientMessage = Input | Sync | Ping | Chat | Leave | View


def _optional_int(message: dict[str, Any], key: str) -> int | None:
    value = message.get(key)
    if value is None and key not in message:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise MessageRefused("bad_message", f"view {key!r} must be an integer")
    return value


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_client_message(text: str) -> ClientMessage:
    """One client text frame, or `MessageRefused("bad_message")` saying what is wrong."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise MessageRefused("bad_message", "a frame must be JSON") from None
    if not isinstance(message, dict):
        raise MessageRefused("bad_message", "a frame must be a JSON object")
    kind = message.get("type")
    if kind == "input":
        seq = message.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ:
            raise MessageRefused("bad_message", f"input needs an integer 'seq' from 1 to {MAX_SEQ}")
        if "data" not in message:
            raise MessageRefused("bad_message", "input needs 'data'")
        return Input(seq, message["data"])
    if kind == "ping":
        t = message.get("t")
        if not _is_number(t):
            raise MessageRefused("bad_message", "ping needs a number 't'")
        rtt = message.get("rtt")
        if rtt is not None and not (_is_number(rtt) and rtt >= 0):
            raise MessageRefused("bad_message", "ping 'rtt' must be a number of milliseconds")
        return Ping(t, rtt)
    if kind == "sync":
        return Sync()
    if kind == "chat":
        text_ = message.get("text")
        if not isinstance(text_, str):
            raise MessageRefused("bad_message", "chat needs a string 'text'")
        text_ = text_.strip()
        if not 1 <= len(text_) <= CHAT_MAX:
            raise MessageRefused("bad_message", f"chat text has 1 to {CHAT_MAX} characters")
        return Chat(text_)
    if kind == "leave":
        return Leave()
    if kind == "view":
        return View(*(_optional_int(message, key) for key in ("width", "height", "x", "y")))
    if not isinstance(kind, str):
        raise MessageRefused("bad_message", "a frame needs a string 'type'")
    raise MessageRefused("bad_message", f"unknown message type {kind[:32]!r}")


# ---- server to client -------------------------------------------------------------


def encode(message: dict[str, Any]) -> str:
    """A server frame as JSON text."""
    return orjson.dumps(message).decode()


def error_frame(code: str, message: str) -> str:
    return encode({"type": "error", "code": code, "message": message})


class TickFrame:
    """One room tick, serialised once; `for_player(ack)` splices in a player's ack.

    `body_json` is the serialised change (or state) alone: what the room's owner
    relays to other processes, which rebuild the frame with `from_json`.
    """

    __slots__ = ("tick", "body_json", "_head", "_tail", "extra_bytes")

    def __init__(self, kind: str, tick: int, body: dict[str, Any]) -> None:
        self._build(kind, tick, orjson.dumps(body).decode())

    @classmethod
    def from_json(cls, kind: str, tick: int, body_json: str) -> TickFrame:
        frame = cls.__new__(cls)
        frame._build(kind, tick, body_json)
        return frame

    def _build(self, kind: str, tick: int, body_json: str) -> None:
        self.tick = tick
        self.body_json = body_json
        self._head = f'{{"type":"{kind}","tick":{tick},"ack":'
        self._tail = "}" if body_json == "{}" else "," + body_json[1:]
        #: UTF-8 bytes beyond the character count (names and chat may be non-ASCII)
        self.extra_bytes = len(self._tail.encode()) - len(self._tail)

    def for_player(self, ack: int) -> str:
        return f"{self._head}{ack}{self._tail}"
