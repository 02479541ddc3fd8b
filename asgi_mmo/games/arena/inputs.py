"""What an arena player may send: the JSON Schema of `input.data` and its parser.

The framework validates `data` against `INPUT_SCHEMA` first; `parse_input`
then checks everything again on its own (so Python callers that skip the
schema get the same answers) and refuses what JSON cannot carry but Python
can: NaN and infinities. It accepts exactly the data the schema accepts,
minus those (tests/test_arena.py holds them to that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from asgi_mmo.games.base import InvalidInput

#: The largest `seen` tick: JSON numbers are exact integers up to here.
MAX_TICK: Final = 2**53 - 1

_AXIS: Final[dict[str, Any]] = {"type": "number", "minimum": -1, "maximum": 1}

INPUT_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "arena input",
    "description": (
        "Steer, aim, fire, respawn. Every field is optional; at least one is present. "
        "Within one tick the last move and aim win; a fire or respawn in any input counts."
    ),
    "type": "object",
    "properties": {
        "move": {
            "description": "Stick [mx, my], each -1..1 (y down); longer than 1 is scaled to 1. "
            "The ship moves at ship_speed times this until the next move.",
            "type": "array",
            "items": _AXIS,
            "minItems": 2,
            "maxItems": 2,
        },
        "aim": {
            "description": "Aim angle in radians, atan2(dy, dx) of the aim vector (y down).",
            "type": "number",
            "minimum": -math.pi,
            "maximum": math.pi,
        },
        "fire": {"description": "true: fire at the next step if the gun is ready.", "type": "boolean"},
        "seen": {
            "description": "The tick whose picture the shooter saw when it fired (lag compensation).",
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_TICK,
        },
        "respawn": {
            "description": "true while dead: a new ship once the respawn delay has passed.",
            "type": "boolean",
        },
    },
    "additionalProperties": False,
    "minProperties": 1,
    "examples": [
        {"move": [1, 0]},
        {"move": [-0.6, 0.8], "aim": 2.214},
        {"aim": -1.5708, "fire": True, "seen": 1234},
        {"move": [0, 0], "aim": 0, "fire": True},
        {"respawn": True},
    ],
}


@dataclass(frozen=True, slots=True)
class ArenaInput:
    """One parsed input; None/False for the fields it did not carry."""

    move: tuple[float, float] | None = None
    aim: float | None = None
    fire: bool = False
    seen: int | None = None
    respawn: bool = False


_FIELDS: Final = frozenset(INPUT_SCHEMA["properties"])


def _number(value: object, low: float, high: float, what: str) -> float:
    # bool is an int in Python, never a number in JSON Schema; ints are compared
    # as ints (float(10**400) would overflow).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{what} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{what} must be finite")
    if not low <= value <= high:
        raise InvalidInput(f"{what} must be between {low} and {high}")
    return float(value)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be true or false")
    return value


def parse_input(data: object) -> ArenaInput:
    """Validate one input's `data`; raise `InvalidInput` naming what is wrong."""
    if not isinstance(data, dict):
        raise InvalidInput("arena input must be an object")
    if not data:
        raise InvalidInput("arena input must hold at least one of " + ", ".join(sorted(_FIELDS)))
    unknown = [key for key in data if key not in _FIELDS]
    if unknown:
        raise InvalidInput(f"unknown arena input field(s) {unknown!r}; known: {sorted(_FIELDS)}")
    move: tuple[float, float] | None = None
    if "move" in data:
        raw = data["move"]
        if not isinstance(raw, list) or len(raw) != 2:
            raise InvalidInput('"move" must be a list of two numbers [mx, my]')
        move = (_number(raw[0], -1, 1, '"move" x'), _number(raw[1], -1, 1, '"move" y'))
    aim = _number(data["aim"], -math.pi, math.pi, '"aim"') if "aim" in data else None
    seen: int | None = None
    if "seen" in data:
        raw = data["seen"]
        # JSON Schema's integers include 5.0; NaN and inf are not integral.
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_TICK:
            raise InvalidInput(f'"seen" must be an integer tick from 0 to {MAX_TICK}')
        seen = raw
    fire = _flag(data["fire"], '"fire"') if "fire" in data else False
    respawn = _flag(data["respawn"], '"respawn"') if "respawn" in data else False
    return ArenaInput(move, aim, fire, seen, respawn)
