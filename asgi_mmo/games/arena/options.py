"""The arena's own options (beyond the room settings every game shares) and
the fixed numbers of its rules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from asgi_mmo.exceptions import BadRequest
from asgi_mmo.games.options import Option, resolve_options

SHIP_RADIUS: Final = 0.8
SHOT_RANGE: Final = 25.0
#: A new ship's centre is at least this far from every wall ...
SPAWN_WALL_MARGIN: Final = 2.0
#: ... and, when the field has room, from every live ship's centre.
SPAWN_CLEARANCE: Final = 6.0
SPAWN_ATTEMPTS: Final = 24
#: Ticks of position history kept per ship: more than 200 ms at 60 Hz (12 ticks).
HISTORY: Final = 16
#: The smallest field side the rules accept (rooms allow 10 and more).
MIN_SIDE: Final = 2 * SPAWN_WALL_MARGIN

OPTIONS: Final[Mapping[str, Option]] = {
    "hit_points": Option("integer", 3, "Hits a ship takes before it dies.", 1, 10),
    "ship_speed": Option("number", 12.0, "Ship speed in world units per second.", 1, 100),
    "fire_cooldown_ms": Option("integer", 300, "Milliseconds between two shots of one ship.", 50, 5000),
    "respawn_seconds": Option("number", 1.5, "Seconds a dead ship waits before it may respawn.", 0, 60),
    "lag_compensation_ms": Option(
        "integer", 200, "How far back (ms) a shot may be judged where its shooter saw the targets.", 0, 200
    ),
}


@dataclass(frozen=True, slots=True)
class ArenaRules:
    """The options of one game, resolved and checked."""

    hit_points: int = 3
    ship_speed: float = 12.0
    fire_cooldown_ms: int = 300
    respawn_seconds: float = 1.5
    lag_compensation_ms: int = 200

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> ArenaRules:
        """Options as a room hands them over; missing ones take their default.

        Raises `ValueError` for an unknown name, a wrong type or a value out of
        range (the room validates first; this guards direct callers).
        """
        try:
            values = resolve_options(OPTIONS, dict(options))
        except BadRequest as error:
            raise ValueError(error.message) from None
        return cls(
            hit_points=int(values["hit_points"]),
            ship_speed=float(values["ship_speed"]),
            fire_cooldown_ms=int(values["fire_cooldown_ms"]),
            respawn_seconds=float(values["respawn_seconds"]),
            lag_compensation_ms=int(values["lag_compensation_ms"]),
        )

    def as_options(self) -> dict[str, int | float]:
        """Back to option values (for `save` and the snapshot's `rules`)."""
        return {
            "hit_points": self.hit_points,
            "ship_speed": self.ship_speed,
            "fire_cooldown_ms": self.fire_cooldown_ms,
            "respawn_seconds": self.respawn_seconds,
            "lag_compensation_ms": self.lag_compensation_ms,
        }

    # Durations in ticks of `dt` seconds; the 1e-9 keeps 1.5 s at 20 Hz at 30 ticks
    # (1.5 / 0.05 is 30.000000000000004), not 31.

    def cooldown_ticks(self, dt: float) -> int:
        return max(1, math.ceil(self.fire_cooldown_ms / 1000 / dt - 1e-9))

    def respawn_ticks(self, dt: float) -> int:
        return max(0, math.ceil(self.respawn_seconds / dt - 1e-9))

    def lag_ticks(self, dt: float) -> int:
        """How many ticks back a shot may be judged (never more than the history holds)."""
        return min(HISTORY - 1, math.floor(self.lag_compensation_ms / 1000 / dt + 1e-9))
