"""What a room hands its game at creation (Game API v2; provisional, until the
lead moves these into `asgi_mmo.games.base`).

`Option` describes one of a game's own settings, as `GET /api/games` lists
it; `GameSetup` carries the field size, those options (validated, defaults
filled in) and the seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class GameSetup:
    """What a room hands its game at creation."""

    width: int  # field size (cells for snake, world units for the arena)
    height: int
    options: Mapping[str, object]  # the game's own options, validated, defaults filled in
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Option:
    """One of a game's own options (`GET /api/games` "options")."""

    type: Literal["integer", "number", "boolean", "string"]
    default: int | float | bool | str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None
