"""Steering for the arena's bots: chase the nearest ship, keep a standoff
distance while strafing, aim with a little (seeded) error, fire when ready.

Pure code like the game, and cheap: one pass over the bots per tick, and a
nearest-target search (a pass over the live ships) only when a bot's target
died or its retarget time came, which is spread over RETARGET_TICKS. No plans
are asked for: `act` returns []. A bot fires with `seen` = the tick it looked
at, so lag compensation judges its shot where it saw its target, as it does
for people. A dead bot asks to respawn at once; the rules hold the request
until the respawn delay has passed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Final

from asgi_mmo.games.arena.inputs import ArenaInput
from asgi_mmo.games.arena.options import SHOT_RANGE
from asgi_mmo.games.arena.rules import ArenaGame
from asgi_mmo.games.arena.ships import ShipView

#: The distance a bot keeps from its target, give or take STANDOFF_BAND.
STANDOFF: Final = 11.0
STANDOFF_BAND: Final = 2.5
#: How hard a bot strafes (sideways share of its stick), and how long (ticks) one way.
STRAFE: Final = 0.8
STRAFE_TICKS: Final = (15, 50)
#: Closer than this to a wall, a bot steers away from it.
WALL_MARGIN: Final = 3.0
#: A bot looks for the nearest target again after this many ticks (plus up to half again).
RETARGET_TICKS: Final = 20
#: Standard deviation of a bot's aim error, radians (about 0.5 units off at the standoff).
AIM_SPREAD: Final = 0.045
#: A bot fires at targets at most this far away.
FIRE_RANGE: Final = SHOT_RANGE - 1.0
#: A bot without a target wanders to a random point; there, it picks another.
WANDER_REACHED: Final = 2.0

_RESPAWN: Final = ArenaInput(respawn=True)


@dataclass(slots=True)
class _Brain:
    target: str | None = None
    retarget_at: int = 0
    strafe: float = 1.0
    strafe_until: int = 0
    wander: tuple[float, float] | None = None


class ArenaBots:
    """The arena's `BotDriver`: the game's bots get their input in `act`."""

    def __init__(self, game: ArenaGame, seed: int | None = None) -> None:
        """`seed` defaults to the game's, so a seeded game plays the same bots."""
        self.game = game
        self._rng = random.Random(game.seed if seed is None else seed)
        self._brains: dict[str, _Brain] = {}

    def act(self, tick: int) -> list[tuple[str, Any]]:
        game, rng, brains = self.game, self._rng, self._brains
        ships = game.ships()
        now = game.tick  # the picture the bots look at
        live: list[ShipView] | None = None  # found only if some bot needs a target
        bots = 0
        for s in ships.values():
            if not s.bot:
                continue
            bots += 1
            brain = brains.get(s.id)
            if brain is None:
                brain = brains[s.id] = _Brain(strafe=rng.choice((-1.0, 1.0)))
            if not s.alive:
                brain.target = None
                game.apply_input(s.id, _RESPAWN)
                continue
            target = None if brain.target is None else ships.get(brain.target)
            if target is None or not target.alive or now >= brain.retarget_at:
                if live is None:
                    live = [t for t in ships.values() if t.alive]
                target = _nearest(s, live)
                brain.target = None if target is None else target.id
                brain.retarget_at = now + RETARGET_TICKS + rng.randrange(RETARGET_TICKS // 2 + 1)
            if now >= brain.strafe_until:
                brain.strafe = -brain.strafe
                brain.strafe_until = now + rng.randint(*STRAFE_TICKS)
            if target is None:
                game.apply_input(s.id, ArenaInput(move=self._wander(s, brain)))
                continue
            dx, dy = target.x - s.x, target.y - s.y
            dist = math.hypot(dx, dy) or 1e-9
            ux, uy = dx / dist, dy / dist
            radial = 1.0 if dist > STANDOFF + STANDOFF_BAND else -1.0 if dist < STANDOFF - STANDOFF_BAND else 0.0
            side = brain.strafe * STRAFE
            mx, my = ux * radial - uy * side, uy * radial + ux * side
            mx, my = self._off_walls(s, mx, my)
            aim = math.remainder(math.atan2(dy, dx) + rng.gauss(0.0, AIM_SPREAD), math.tau)
            fire = dist <= FIRE_RANGE and now + 1 >= s.ready_tick
            game.apply_input(s.id, ArenaInput(move=(mx, my), aim=aim, fire=fire, seen=now if fire else None))
        if len(brains) > bots:  # some bots left the game
            for gone in [bid for bid in brains if bid not in ships or not ships[bid].bot]:
                del brains[gone]
        return []

    def accept(self, bot_id: str, plan: Any) -> None:
        """Arena bots ask for no plans."""

    def forget(self, bot_id: str) -> None:
        """Arena bots ask for no plans."""

    # -- internals ----------------------------------------------------------------------

    def _off_walls(self, s: ShipView, mx: float, my: float) -> tuple[float, float]:
        """The stick pushed away from walls closer than WALL_MARGIN, at full length."""
        width, height = self.game.width, self.game.height
        if s.x < WALL_MARGIN:
            mx += 1.0
        elif s.x > width - WALL_MARGIN:
            mx -= 1.0
        if s.y < WALL_MARGIN:
            my += 1.0
        elif s.y > height - WALL_MARGIN:
            my -= 1.0
        length = math.hypot(mx, my)
        return (mx / length, my / length) if length > 0.0 else (0.0, 0.0)

    def _wander(self, s: ShipView, brain: _Brain) -> tuple[float, float]:
        game = self.game
        if brain.wander is None or math.hypot(brain.wander[0] - s.x, brain.wander[1] - s.y) < WANDER_REACHED:
            rng = self._rng
            brain.wander = (
                rng.uniform(WALL_MARGIN, game.width - WALL_MARGIN),
                rng.uniform(WALL_MARGIN, game.height - WALL_MARGIN),
            )
        dx, dy = brain.wander[0] - s.x, brain.wander[1] - s.y
        length = math.hypot(dx, dy) or 1.0
        return dx / length, dy / length


def _nearest(s: ShipView, live: list[ShipView]) -> ShipView | None:
    """The live ship nearest to `s`, not `s` itself."""
    x, y, sid = s.x, s.y, s.id
    best, best_sq = None, math.inf
    for t in live:
        d_sq = (t.x - x) ** 2 + (t.y - y) ** 2
        if d_sq < best_sq and t.id != sid:
            best, best_sq = t, d_sq
    return best
