"""A game's own options: their spec (`GET /api/games`) and their validation (`POST /api/rooms`).

Pure code, no I/O. A game declares `options: Mapping[str, Option]`; a room asks
for values under `"options"`, and `resolve_options` checks every one against
its spec (unknown names, wrong types, values out of range or not in `enum`
are a `BadRequest`, so no room is made) and fills in the defaults, so the
options a room runs with are always explicit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from asgi_mmo.exceptions import BadRequest

OptionType = Literal["integer", "number", "boolean", "string"]
OptionValue = int | float | bool | str
#: JSON integers beyond this lose precision in JavaScript clients
SAFE_INTEGER = 2**53 - 1
STRING_MAX = 200


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a game, as `GET /api/games` lists it."""

    type: OptionType
    default: OptionValue
    description: str
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # A programmer's mistake in a game's declaration, caught when the game is imported.
        assert self.check(self.default) == self.default, f"default {self.default!r} breaks its own option"

    def to_json(self) -> dict[str, object]:
        spec: dict[str, object] = {"type": self.type, "default": self.default, "description": self.description}
        if self.minimum is not None:
            spec["minimum"] = self.minimum
        if self.maximum is not None:
            spec["maximum"] = self.maximum
        if self.enum is not None:
            spec["enum"] = list(self.enum)
        return spec

    def check(self, value: object, name: str = "option") -> OptionValue:
        """`value` if it fits this option, as an int for an `integer` and a float for a `number`."""
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise BadRequest(f"option {name!r} must be true or false")
            return value
        if self.type == "string":
            if not isinstance(value, str) or len(value) > STRING_MAX:
                raise BadRequest(f"option {name!r} must be a string of at most {STRING_MAX} characters")
            if self.enum is not None and value not in self.enum:
                raise BadRequest(f"option {name!r} must be one of {', '.join(self.enum)}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRequest(f"option {name!r} must be a{'n integer' if self.type == 'integer' else ' number'}")
        if not math.isfinite(value) or abs(value) > SAFE_INTEGER:
            raise BadRequest(f"option {name!r} must be a finite number")
        if self.type == "integer" and not float(value).is_integer():
            raise BadRequest(f"option {name!r} must be an integer")  # 3.0 is one, as in JSON Schema
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if not low <= value <= high:
            raise BadRequest(f"option {name!r} must be between {_plain(low)} and {_plain(high)}")
        return int(value) if self.type == "integer" else float(value)


def resolve_options(spec: Mapping[str, Option], asked: object) -> dict[str, OptionValue]:
    """Every option of `spec`: the asked value, checked, or the default."""
    if asked is None:
        asked = {}
    if not isinstance(asked, dict):
        raise BadRequest("'options' must be a JSON object")
    unknown = sorted(str(name)[:32] for name in asked if name not in spec)
    if unknown:
        known = ", ".join(sorted(spec)) or "none"
        raise BadRequest(f"unknown option {unknown[0]!r}; this game's options: {known}")
    return {name: option.check(asked[name], name) if name in asked else option.default
            for name, option in spec.items()}


def _plain(number: float) -> str:
    return str(int(number)) if math.isfinite(number) and number == int(number) else str(number)
