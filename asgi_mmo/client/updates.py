"""What `async for update in player` yields: one small frozen object per thing that happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: a game's SNAPSHOT (or a view's), as the game's docs describe it
Snapshot = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tick:
    """The picture reached `tick`: a `tick` frame was applied, or (`full`) a `state` replaced it.

    `state` is the picture as the player holds it. In updates from the iterator it is the
    live picture, which is at this tick when the consumer keeps up (`tick == player.tick`)
    and later when it lags; from `Player.wait_tick` and `Player.sync` it is a copy.
    `frame` is the frame as it came: the game's change of this tick (its events too, such
    as the arena's `shots`), or the `state`.
    """

    tick: int
    ack: int
    full: bool
    state: Snapshot
    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat line of the room (`player` is None for a spectator's)."""

    player: str | None
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class Died:
    """A player's snake (or ship) died at `tick`; `me` when it is this player's."""

    player: str
    name: str
    tick: int
    me: bool


@dataclass(frozen=True, slots=True)
class Respawned:
    """A dead player's snake (or ship) lives again at `tick`."""

    player: str
    name: str
    tick: int
    me: bool


@dataclass(frozen=True, slots=True)
class Error:
    """An error frame whose code does not close the connection (`bad_message`, `rate_limited`)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Resumed:
    """The connection dropped and the seat was resumed (same player id) after `attempts` tries.

    `ack` is the welcome's: inputs above it that were not acknowledged were sent again.
    """

    attempts: int
    tick: int
    ack: int


Update = Tick | Chat | Died | Respawned | Error | Resumed
