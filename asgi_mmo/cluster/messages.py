"""Messages between the process that runs a room and the processes that relay it.

Pure code, no I/O, as `protocol.py` is for the clients' messages. A message on
the wire is one JSON header with its kind in `"t"`, then, each after a newline,
the JSON texts it carries verbatim (a tick's change, a state, a welcome, a chat
frame), so a tick serialised once by the room's owner is never parsed and
re-encoded on the way: JSON text never holds a raw newline, so the split is
unambiguous. Each kind is a frozen dataclass with `encode()`; `parse(data)`
gives the message back, or raises `BadClusterMessage`.

Channels (`asgi_mmo.names`) and what travels on them:

| channel | kinds |
|---|---|
| `room_in` (owner) | `Join` `Reconnect` `Input` `PlayerChat` `Latency` `ViewSize` `Disconnect` `Sync` `CloseRoom` |
| `room_out`: from the owner to every relaying process | `Tick` `ViewTick` `RoomChat` `RoomClosed` `Moved` |
| `worker_channel`: to one process | `Joined` `Refused` `Kick` |

Two kinds share a `"t"` on different channels: `"chat"` and `"close"`. Every
message to an owner names the process that sends it (`"w"`), so `"chat"` with a
`"w"` is a player's chat to the owner and without one the owner's chat frame;
likewise `"close"` (a request to close the room, or the room's end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias, TypeGuard

import orjson

from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.protocol import refusal_from_wire


class BadClusterMessage(ValueError):
    """Raised by `parse` for bytes that are not a well-formed cluster message."""


@dataclass(frozen=True, slots=True)
class CloseReason:
    """Why a room or a player's socket ends: a code and close code of the contract."""

    code: str
    message: str
    close: int

    @classmethod
    def of(cls, refused: ConnectionRefused) -> CloseReason:
        assert refused.close_code is not None  # (a ConnectionRefused always has one)
        return cls(refused.code, refused.message, refused.close_code)

    def error(self) -> ConnectionRefused:
        return refusal_from_wire(self.code, self.message)

    def fields(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "close": self.close}


def _pack(header: dict[str, Any], *payloads: str) -> bytes:
    if not payloads:
        return orjson.dumps(header)
    return b"\n".join([orjson.dumps(header), *(payload.encode() for payload in payloads)])


# ---- to a room's owner (`room_in`): each names the relaying process that sends it ----------


@dataclass(frozen=True, slots=True)
class Join:
    """Seat a player (a new one, or `token`'s) for a socket on process `worker`; the
    owner answers `Joined` or `Refused` with the same `req` on that worker's channel."""

    worker: str
    req: str
    name: str
    token: str | None = None
    #: the view size the player asked for (`view=WxH`), so its welcome already has it
    view_width: int | None = None
    view_height: int | None = None
    #: a spectator's place instead of a seat: "watch", or "record" for a recorder (absent: a player)
    watch: str | None = None

    def encode(self) -> bytes:
        header: dict[str, str | int | None] = {
            "t": "join", "req": self.req, "name": self.name, "token": self.token, "w": self.worker,
        }
        if self.view_width is not None or self.view_height is not None:  # absent for older owners
            header |= {"view_width": self.view_width, "view_height": self.view_height}
        if self.watch is not None:
            header["watch"] = self.watch
        return _pack(header)


@dataclass(frozen=True, slots=True)
class Reconnect:
    """A player of `worker` still plays: a new owner seats it there again."""

    worker: str
    player: str
    token: str

    def encode(self) -> bytes:
        return _pack({"t": "reconnect", "p": self.player, "token": self.token, "w": self.worker})


@dataclass(frozen=True, slots=True)
class Input:
    worker: str
    player: str
    seq: int
    data: object  # the client's `data`, validated by the relaying process already

    def encode(self) -> bytes:
        return _pack({"t": "input", "p": self.player, "seq": self.seq, "data": self.data, "w": self.worker})


@dataclass(frozen=True, slots=True)
class PlayerChat:
    worker: str
    player: str
    text: str

    def encode(self) -> bytes:
        return _pack({"t": "chat", "p": self.player, "text": self.text, "w": self.worker})


@dataclass(frozen=True, slots=True)
class Latency:
    """The round trip a player's client measured, for the owner's admin API."""

    worker: str
    player: str
    ms: float

    def encode(self) -> bytes:
        return _pack({"t": "latency", "p": self.player, "ms": self.ms, "w": self.worker})


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A player's socket on `worker` ended; `leave` frees the seat at once."""

    worker: str
    player: str
    leave: bool

    def encode(self) -> bytes:
        return _pack({"t": "disconnect", "p": self.player, "leave": self.leave, "w": self.worker})


@dataclass(frozen=True, slots=True)
class ViewSize:
    """A player of a view room asks for a view of this size (None: keep that side)."""

    worker: str
    player: str
    width: int | None
    height: int | None
    #: a spectator's new top left corner (None: keep that axis)
    x: int | None = None
    y: int | None = None

    def encode(self) -> bytes:
        header = {"t": "view", "w": self.worker, "p": self.player, "width": self.width, "height": self.height}
        if self.x is not None or self.y is not None:
            header |= {"x": self.x, "y": self.y}
        return _pack(header)


@dataclass(frozen=True, slots=True)
class Sync:
    """Some players of `worker` missed ticks: send the whole state with the next tick. In a
    view room, `players` names those that wait for their view's state (empty: every player
    of `worker`, as an owner that does not read the list takes it too)."""

    worker: str
    players: tuple[str, ...] = ()

    def encode(self) -> bytes:
        header: dict[str, Any] = {"t": "sync", "w": self.worker}
        if self.players:
            header["p"] = list(self.players)
        return _pack(header)


@dataclass(frozen=True, slots=True)
class CloseRoom:
    """An admin of `worker` closes the room."""

    worker: str

    def encode(self) -> bytes:
        return _pack({"t": "close", "w": self.worker})


# ---- from a room's owner to every process relaying it (`room_out`) ------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """One tick: the change as the owner serialised it for its own players (`delta`),
    the acks of the players connected elsewhere, the owner's lease fence, the
    whole state when a relaying process asked for one, and the room's audience."""

    tick: int
    fence: int
    acks: dict[str, int]
    delta: str  # JSON text, carried verbatim
    state: str | None = None  # JSON text, carried verbatim
    #: the connections a chat line in the room reaches, all processes' (a relaying process limits
    #: its players' chat by it: `chatbudget.py`)
    audience: int = 0

    def encode(self) -> bytes:
        header = {"t": "tick", "tick": self.tick, "fence": self.fence, "acks": self.acks, "aud": self.audience}
        if self.state is None:
            return _pack(header, self.delta)
        return _pack(header, self.delta, self.state)


Bucket: TypeAlias = tuple[int, int]
#: a view's rectangle: x, y, width, height
ViewRect: TypeAlias = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class ViewTick:
    """A view room's tick for the players elsewhere: each one's rectangle, the fragments
    of the buckets their views cover, the snapshots of the buckets entering their views
    (JSON texts serialised once by the owner, carried verbatim), and the view states of
    those that need one (a relaying process asked: `Sync`), and the room's audience (as `Tick`'s)."""

    tick: int
    fence: int
    acks: dict[str, int]
    views: dict[str, ViewRect]
    fragments: dict[Bucket, str]
    entered: dict[Bucket, str]
    states: dict[str, str]
    audience: int = 0

    def encode(self) -> bytes:
        header = {
            "t": "vtick", "tick": self.tick, "fence": self.fence, "acks": self.acks,
            "views": self.views, "frag": list(self.fragments), "enter": list(self.entered),
            "states": list(self.states), "aud": self.audience,
        }  # fmt: skip
        return _pack(header, *self.fragments.values(), *self.entered.values(), *self.states.values())


@dataclass(frozen=True, slots=True)
class RoomChat:
    """A frame for every player relayed, as the owner sent it to its own, verbatim: a `chat`
    line, or a view room's `minimap` (frames any player may miss, handed on alike)."""

    frame: str

    def encode(self) -> bytes:
        return _pack({"t": "chat"}, self.frame)


@dataclass(frozen=True, slots=True)
class RoomClosed:
    """The room ended; every player relayed is told `reason`."""

    reason: CloseReason

    def encode(self) -> bytes:
        return _pack({"t": "close", **self.reason.fields()})


@dataclass(frozen=True, slots=True)
class Moved:
    """The owner handed the room over (graceful shutdown): take it over at once."""

    def encode(self) -> bytes:
        return _pack({"t": "moved"})


# ---- to one process (`worker_channel`) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Joined:
    """The owner seated a player for the process that asked (`Join` with this `req`)."""

    req: str
    player: str
    name: str
    token: str
    ack: int
    tick: int
    config: dict[str, Any]  # `RoomConfig.to_dict()`
    welcome: str  # the player's `welcome` frame, verbatim
    spectator: bool = False  # a spectator's place (`Join.watch`): `player` is its internal id

    def encode(self) -> bytes:
        header = {"t": "joined", "req": self.req, "p": self.player, "name": self.name, "token": self.token,
                  "ack": self.ack, "tick": self.tick, "config": self.config}  # fmt: skip
        if self.spectator:
            header["spectator"] = True
        return _pack(header, self.welcome)


@dataclass(frozen=True, slots=True)
class Refused:
    """The owner refused a `Join` (`req`) with a close code of the contract."""

    req: str
    reason: CloseReason

    def encode(self) -> bytes:
        return _pack({"t": "refused", "req": self.req, **self.reason.fields()})


@dataclass(frozen=True, slots=True)
class Kick:
    """Close the socket of `player` of `room` (its seat was resumed elsewhere)."""

    room: str
    player: str
    reason: CloseReason

    def encode(self) -> bytes:
        return _pack({"t": "kick", "room": self.room, "p": self.player, **self.reason.fields()})


ToOwner: TypeAlias = Join | Reconnect | Input | PlayerChat | Latency | ViewSize | Disconnect | Sync | CloseRoom
FromOwner: TypeAlias = Tick | ViewTick | RoomChat | RoomClosed | Moved
ToWorker: TypeAlias = Joined | Refused | Kick
Message: TypeAlias = ToOwner | FromOwner | ToWorker


# ---- parsing ---------------------------------------------------------------------------------


def parse(data: bytes) -> Message:
    """The message `data` encodes; `BadClusterMessage` for anything else."""
    header_bytes, *raw_payloads = data.split(b"\n")
    try:
        header = orjson.loads(header_bytes)
        payloads = [payload.decode() for payload in raw_payloads]
    except (orjson.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadClusterMessage(f"not a cluster message: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("t"), str):
        raise BadClusterMessage("a cluster message starts with a JSON object with a string 't'")
    kind: str = header["t"]
    fields = _Fields(kind, header)
    if "w" in header:
        return _parse_to_owner(kind, fields, fields.text("w"), payloads)
    return _parse_from_owner(kind, fields, payloads)


def _parse_to_owner(kind: str, fields: _Fields, worker: str, payloads: list[str]) -> ToOwner:
    _count(kind, payloads, 0)
    match kind:
        case "join":
            watch = fields.optional_text("watch")
            if watch not in (None, "watch", "record"):
                raise BadClusterMessage("a 'join' has 'watch': \"watch\", \"record\" or nothing")
            return Join(worker, fields.text("req"), fields.text("name"), fields.optional_text("token"),
                        fields.optional_integer("view_width"), fields.optional_integer("view_height"), watch)
        case "reconnect":
            return Reconnect(worker, fields.text("p"), fields.text("token"))
        case "input":
            return Input(worker, fields.text("p"), fields.integer("seq"), fields.header.get("data"))
        case "chat":
            return PlayerChat(worker, fields.text("p"), fields.text("text"))
        case "latency":
            return Latency(worker, fields.text("p"), fields.number("ms"))
        case "view":
            return ViewSize(worker, fields.text("p"), fields.optional_integer("width"),
                            fields.optional_integer("height"), fields.optional_integer("x"),
                            fields.optional_integer("y"))  # fmt: skip
        case "disconnect":
            return Disconnect(worker, fields.text("p"), fields.flag("leave"))
        case "sync":
            return Sync(worker, fields.optional_texts("p"))
        case "close":
            return CloseRoom(worker)
    raise BadClusterMessage(f"no message {kind[:32]!r} goes to a room's owner")


def _parse_from_owner(kind: str, fields: _Fields, payloads: list[str]) -> FromOwner | ToWorker:
    match kind:
        case "tick":
            if len(payloads) not in (1, 2):
                raise BadClusterMessage("a 'tick' carries its change and, maybe, a state")
            acks = fields.header.get("acks") or {}
            if not _is_acks(acks):
                raise BadClusterMessage("a 'tick' has 'acks': an object of integers")
            state = payloads[1] if len(payloads) == 2 else None
            return Tick(fields.integer("tick"), fields.integer("fence"), acks, payloads[0], state, fields.audience())
        case "vtick":
            return _view_tick(fields, payloads)
        case "chat":
            _count(kind, payloads, 1)
            return RoomChat(payloads[0])
        case "close":
            _count(kind, payloads, 0)
            return RoomClosed(fields.reason())
        case "moved":
            _count(kind, payloads, 0)
            return Moved()
        case "joined":
            _count(kind, payloads, 1)
            config = fields.header.get("config")
            if not isinstance(config, dict):
                raise BadClusterMessage("a 'joined' has 'config': an object")
            return Joined(fields.text("req"), fields.text("p"), fields.text("name"), fields.text("token"),
                          fields.integer("ack"), fields.integer("tick"), config, payloads[0],
                          fields.header.get("spectator") is True)  # fmt: skip
        case "refused":
            _count(kind, payloads, 0)
            return Refused(fields.text("req"), fields.reason())
        case "kick":
            _count(kind, payloads, 0)
            return Kick(fields.text("room"), fields.text("p"), fields.reason())
    raise BadClusterMessage(f"no message {kind[:32]!r}")


class _Fields:
    """Typed reads of a header's fields, each a `BadClusterMessage` when missing or mistyped."""

    __slots__ = ("kind", "header")

    def __init__(self, kind: str, header: dict[str, Any]) -> None:
        self.kind = kind
        self.header = header

    def _bad(self, name: str, what: str) -> BadClusterMessage:
        return BadClusterMessage(f"a {self.kind[:32]!r} message has {name!r}: {what}")

    def text(self, name: str) -> str:
        value = self.header.get(name)
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self.header.get(name)
        if value is not None and not isinstance(value, str):
            raise self._bad(name, "a string or null")
        return value

    def optional_texts(self, name: str) -> tuple[str, ...]:
        value = self.header.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._bad(name, "a list of strings")
        return tuple(value)

    def integer(self, name: str) -> int:
        value = self.header.get(name)
        if not _is_int(value):
            raise self._bad(name, "an integer")
        return value

    def audience(self) -> int:
        """A tick's `aud` (0 from an owner that sends none: a relaying process then counts its own)."""
        value = self.header.get("aud", 0)
        if not _is_int(value) or value < 0:
            raise self._bad("aud", "a count")
        return value

    def optional_integer(self, name: str) -> int | None:
        value = self.header.get(name)
        if value is not None and not _is_int(value):
            raise self._bad(name, "an integer or null")
        return value

    def buckets(self, name: str) -> list[Bucket]:
        value = self.header.get(name)
        if not isinstance(value, list) or not all(
            isinstance(b, list) and len(b) == 2 and _is_int(b[0]) and _is_int(b[1]) for b in value
        ):
            raise self._bad(name, "a list of [bx, by]")
        return [(b[0], b[1]) for b in value]

    def number(self, name: str) -> float:
        value = self.header.get(name)
        if not (_is_int(value) or isinstance(value, float)):
            raise self._bad(name, "a number")
        return float(value)

    def flag(self, name: str) -> bool:
        value = self.header.get(name)
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value

    def reason(self) -> CloseReason:
        """The close code comes from the contract's table, not from the wire (which carries it
        for older processes): an error code that does not close a connection is refused."""
        self.integer("close")
        try:
            return CloseReason.of(refusal_from_wire(self.header.get("code"), self.header.get("message")))
        except ValueError:
            raise self._bad("code", "an error code that closes the connection") from None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_acks(value: object) -> TypeGuard[dict[str, int]]:
    return isinstance(value, dict) and all(_is_int(ack) for ack in value.values())


def _count(kind: str, payloads: list[str], expected: int) -> None:
    if len(payloads) != expected:
        raise BadClusterMessage(f"a {kind[:32]!r} message carries {expected} JSON texts, not {len(payloads)}")




def _view_tick(fields: _Fields, payloads: list[str]) -> ViewTick:
    acks = fields.header.get("acks") or {}
    if not _is_acks(acks):
        raise BadClusterMessage("a 'vtick' has 'acks': an object of integers")
    views = fields.header.get("views")
    if not isinstance(views, dict) or not all(
        isinstance(r, list) and len(r) == 4 and all(_is_int(n) for n in r) for r in views.values()
    ):
        raise BadClusterMessage("a 'vtick' has 'views': an object of [x, y, width, height]")
    fragments, entered = fields.buckets("frag"), fields.buckets("enter")
    states = fields.header.get("states")
    if not isinstance(states, list) or not all(isinstance(p, str) for p in states):
        raise BadClusterMessage("a 'vtick' has 'states': a list of player ids")
    _count("vtick", payloads, len(fragments) + len(entered) + len(states))
    rest = iter(payloads)
    return ViewTick(
        fields.integer("tick"), fields.integer("fence"), acks,
        {pid: (r[0], r[1], r[2], r[3]) for pid, r in views.items()},
        {b: next(rest) for b in fragments}, {b: next(rest) for b in entered}, {p: next(rest) for p in states},
        fields.audience(),
    )  # fmt: skip
