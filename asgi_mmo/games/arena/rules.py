"""Arena, as pure rules: ships on a continuous field steer, aim and fire.

No I/O, no clock, randomness only from the game's own `random.Random`. The
rules and numbers are written out in docs/arena.md. Per-step work is linear in
the ships: movement and the position history are one pass; ray tests run only
for the shots fired in the step.

This module does not know the bots (bots.py reads the game through `ships()`
and `tick`); `asgi_mmo.games.arena.game.Arena` binds the two for the catalog.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Self

from asgi_mmo.games.arena import geometry
from asgi_mmo.games.arena.inputs import INPUT_SCHEMA, ArenaInput, parse_input
from asgi_mmo.games.arena.options import (
    HISTORY,
    MIN_SIDE,
    OPTIONS,
    SHIP_RADIUS,
    SHOT_RANGE,
    SPAWN_ATTEMPTS,
    SPAWN_CLEARANCE,
    SPAWN_WALL_MARGIN,
    ArenaRules,
)
from asgi_mmo.games.arena.ships import PALETTE, Ship, ShipView
from asgi_mmo.games.base import BotDriver, GameSetup, ScoreEvent
from asgi_mmo.games.options import Option

_SLOT: Final = HISTORY - 1  # tick & _SLOT is a tick's place in a ship's history ring


class ArenaGame:
    """The arena; satisfies Game API v2 (see docs/arena.md)."""

    name: ClassVar[str] = "arena"
    title: ClassVar[str] = "Arena"
    description: ClassVar[str] = (
        "A top-down arena: steer your ship, aim and fire. Ships move freely; "
        "hits are judged where you saw your target. A kill scores a point."
    )
    default_width: ClassVar[int] = 60
    default_height: ClassVar[int] = 40
    options: ClassVar[Mapping[str, Option]] = OPTIONS
    input_schema: ClassVar[Mapping[str, Any]] = INPUT_SCHEMA
    plan_function: ClassVar[str | None] = None  # its bots decide on the loop, in microseconds

    def __init__(self, width: int, height: int, seed: int | None = None, rules: ArenaRules | None = None) -> None:
        """An empty field; `create` is what rooms use."""
        if width < MIN_SIDE or height < MIN_SIDE:
            raise ValueError(f"the arena must be at least {MIN_SIDE}x{MIN_SIDE}, got {width}x{height}")
        self.width = width
        self.height = height
        self.seed = seed
        self.rules = rules or ArenaRules()
        self.tick = 0  # the last tick stepped (0 before the first step)
        self._rng = random.Random(seed)
        self._ships: dict[str, Ship] = {}  # join order
        self._joins = 0
        #: ships whose score or life changed since `take_score_changes` (games.base.ScoredGame)
        self._d_marks: dict[str, None] = {}
        self._reset_delta()

    # -- Game API v2 ----------------------------------------------------------------

    @classmethod
    def create(cls, setup: GameSetup) -> Self:
        return cls(setup.width, setup.height, setup.seed, ArenaRules.from_options(setup.options))

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> Self:
        if saved.get("version") != 1:
            raise ValueError(f"unknown saved arena version {saved.get('version')!r}")
        game = cls(saved["width"], saved["height"], saved["seed"], ArenaRules.from_options(saved["options"]))
        version, internal, gauss = saved["rng"]
        game._rng.setstate((version, tuple(internal), gauss))
        game.tick, game._joins = saved["tick"], saved["joins"]
        for s in saved["ships"]:
            ship = Ship(
                s["id"], s["name"], s["color"], s["bot"], s["x"], s["y"], s["vx"], s["vy"], s["aim"],
                s["hp"], s["alive"], s["score"], (s["move"][0], s["move"][1]), s["steer"], s["aim_next"],
                s["fire"], s["seen"], s["respawn"], s["ready_tick"], s["respawn_tick"], s["born"],
            )  # fmt: skip
            ship.away = s.get("away", False)
            first = game.tick - len(s["history"]) + 1
            for offset, (x, y) in enumerate(s["history"]):
                ship.hx[(first + offset) & _SLOT], ship.hy[(first + offset) & _SLOT] = x, y
            game._ships[ship.id] = ship
        return game

    @classmethod
    def parse_input(cls, data: Any) -> ArenaInput:
        return parse_input(data)

    def save(self) -> dict[str, Any]:
        version, internal, gauss = self._rng.getstate()
        ships = []
        for s in self._ships.values():
            saved = {
                **s.public(), "move": list(s.move), "steer": s.steer, "aim_next": s.aim_next,
                "fire": s.fire, "seen": s.seen, "respawn": s.respawn, "ready_tick": s.ready_tick,
                "respawn_tick": s.respawn_tick, "born": s.born,
            }  # fmt: skip
            ticks = range(max(s.born, self.tick - _SLOT), self.tick + 1) if s.alive else range(0)
            saved["history"] = [[s.hx[t & _SLOT], s.hy[t & _SLOT]] for t in ticks]
            ships.append(saved)
        return {
            "version": 1, "width": self.width, "height": self.height, "seed": self.seed,
            "options": self.rules.as_options(), "rng": [version, list(internal), gauss],
            "tick": self.tick, "joins": self._joins, "ships": ships,
        }  # fmt: skip

    def add_player(self, player_id: str, name: str, *, bot: bool = False) -> None:
        """A live ship at once, on a free place; `ValueError` if the id is taken."""
        self._spawn(self._join(player_id, name, bot), born=self.tick + 1)

    def remove_player(self, player_id: str) -> ScoreEvent | None:
        ship = self._ships.pop(player_id, None)
        if ship is None:
            return None
        self._d_removed[player_id] = None
        return self._score_event(ship) if ship.alive else None  # a dead one's score went at its death

    def set_away(self, player_id: str, away: bool) -> None:
        """`games.base.MarksAway`: the ship's entry carries `"away": true` while its player is
        away; a change sends the ship whole in the next delta."""
        ship = self._ships.get(player_id)
        if ship is None or ship.away is away:
            return
        ship.away = away
        self._d_added[player_id] = None

    def apply_input(self, player_id: str, parsed: ArenaInput) -> None:
        """Record an input for the next step. While dead, move and aim are kept
        for the next ship and fire is ignored; while alive, respawn is ignored."""
        ship = self._ships.get(player_id)
        if ship is None:
            return
        if parsed.move is not None:
            ship.move, ship.steer = parsed.move, True
        if parsed.aim is not None:
            ship.aim_next = parsed.aim
        if ship.alive:
            if parsed.fire:
                ship.fire, ship.seen = True, parsed.seen
        elif parsed.respawn:
            ship.respawn = True

    def step(self, tick: int, dt: float) -> list[ScoreEvent]:
        """Movement, then shots, then respawns (docs/arena.md, "A step")."""
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
        if tick <= self.tick:
            raise ValueError(f"ticks must increase: stepped {self.tick}, asked for {tick}")
        if tick > self.tick + 1:
            self._fill_history_gap(tick)
        self.tick = tick
        slot = tick & _SLOT
        speed, width, height, radius = self.rules.ship_speed, self.width, self.height, SHIP_RADIUS
        moved, aimed, advance = self._d_moved, self._d_aimed, geometry.advance
        shooters: list[Ship] = []
        spawning: list[Ship] = []
        for s in self._ships.values():
            if not s.alive:
                if s.respawn and tick >= s.respawn_tick:
                    spawning.append(s)
                continue
            if s.steer:
                s.steer = False
                vx, vy = geometry.velocity(s.move[0], s.move[1], speed)
                if vx != s.vx or vy != s.vy:
                    s.vx, s.vy = vx, vy
                    moved[s.id] = None
            if s.aim_next is not None:
                aim = geometry.quantize(s.aim_next)
                s.aim_next = None
                if aim != s.aim:
                    s.aim = aim
                    aimed[s.id] = None
            if s.vx or s.vy:
                x, y = advance(s.x, s.y, s.vx, s.vy, dt, width, height, radius)
                if x != s.x or y != s.y:
                    s.x, s.y = x, y
                    moved[s.id] = None
            s.hx[slot], s.hy[slot] = s.x, s.y
            if s.fire:
                s.fire = False
                if tick >= s.ready_tick:
                    shooters.append(s)
        events = self._shoot(shooters, tick, dt) if shooters else []
        for s in spawning:
            self._spawn(s, born=tick)
        return events

    def snapshot(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "rules": self._public_rules(),
            "ships": [s.public() for s in self._ships.values()],
        }

    def take_delta(self) -> dict[str, Any]:
        """Keys in the order a client applies them: removed, ships, moves, aims,
        hp, died, scores, then shots (events, not state); a key is present only
        when its list is not empty (docs/arena.md, "The tick delta")."""
        ships, added = self._ships, self._d_added

        def shown(sid: str) -> bool:  # a whole ship object replaces every other change
            return sid in ships and sid not in added

        parts: dict[str, list[Any]] = {
            "removed": list(self._d_removed),
            "ships": [ships[sid].public() for sid in added if sid in ships],
            "moves": [[sid, s.x, s.y, s.vx, s.vy] for sid in self._d_moved if shown(sid) for s in (ships[sid],)],
            "aims": [[sid, ships[sid].aim] for sid in self._d_aimed if shown(sid)],
            "hp": [[sid, ships[sid].hp] for sid in self._d_hp if shown(sid)],
            "died": [sid for sid in self._d_died if shown(sid)],
            "scores": [[sid, ships[sid].score] for sid in self._d_scores if shown(sid)],
            "shots": self._d_shots,
        }  # fmt: skip
        self._reset_delta()
        return {key: value for key, value in parts.items() if value}

    def player_stats(self, player_id: str) -> dict[str, Any]:
        """Raises `KeyError` for a player not in the game."""
        ship = self._ships[player_id]
        return {"score": ship.score, "alive": ship.alive}

    def take_score_changes(self) -> list[str]:
        ships = self._ships
        changed = [sid for sid in self._d_marks if sid in ships]
        self._d_marks = {}
        return changed

    def overlay_score(self, player_id: str, score: int, alive: bool) -> None:
        """The ship stays where the save has it: only its score and its life are brought up to date."""
        ship = self._ships.get(player_id)
        if ship is None:
            return
        if ship.alive and not alive:
            ship.alive, ship.vx, ship.vy, ship.hp = False, 0.0, 0.0, 0
            ship.respawn_tick = self.tick  # it died a while ago: it may come back when its player asks
            self._d_moved[player_id] = self._d_hp[player_id] = self._d_died[player_id] = None
        elif alive and not ship.alive:
            self._spawn(ship, born=self.tick + 1)
        ship.score = score
        self._d_scores[player_id] = self._d_marks[player_id] = None

    def make_bot_driver(self) -> BotDriver | None:
        """None here: rules.py does not know the bots. `game.Arena`, the class
        the catalog lists, returns an `ArenaBots`."""
        return None

    # -- what bots and tests read ---------------------------------------------------------

    def ships(self) -> Mapping[str, ShipView]:
        """Every ship by id, in join order (a live view: do not keep it across steps)."""
        return self._ships

    # -- scripted scenarios (tests, tutorials) ----------------------------------------

    def place_ship(
        self,
        player_id: str,
        x: float,
        y: float,
        *,
        name: str | None = None,
        bot: bool = False,
        aim: float = 0.0,
        move: tuple[float, float] = (0.0, 0.0),
        hp: int | None = None,
        score: int = 0,
    ) -> None:
        """Put a live ship exactly at `(x, y)` (quantized; inside the field),
        adding the player if new. Its life, and its history, start with the next tick."""
        if not (SHIP_RADIUS <= x <= self.width - SHIP_RADIUS and SHIP_RADIUS <= y <= self.height - SHIP_RADIUS):
            raise ValueError(f"({x}, {y}) is not inside the field for a ship")
        if hp is not None and not 1 <= hp <= self.rules.hit_points:
            raise ValueError(f"hp must be 1 to {self.rules.hit_points}, got {hp}")
        ship = self._ships.get(player_id) or self._join(player_id, name or player_id, bot)
        ship.move, ship.aim_next = move, None
        self._bring_to_life(ship, geometry.quantize(x), geometry.quantize(y), geometry.quantize(aim), self.tick + 1)
        ship.hp = self.rules.hit_points if hp is None else hp
        ship.score, ship.bot = score, bot

    # -- internals ------------------------------------------------------------------------

    def _public_rules(self) -> dict[str, Any]:
        return {**self.rules.as_options(), "ship_radius": SHIP_RADIUS, "shot_range": SHOT_RANGE}

    def _reset_delta(self) -> None:
        # Ordered dicts as ordered sets of ids; values are read when the delta is taken.
        self._d_removed: dict[str, None] = {}
        self._d_added: dict[str, None] = {}
        self._d_moved: dict[str, None] = {}
        self._d_aimed: dict[str, None] = {}
        self._d_hp: dict[str, None] = {}
        self._d_died: dict[str, None] = {}
        self._d_scores: dict[str, None] = {}
        self._d_shots: list[list[Any]] = []

    def _join(self, player_id: str, name: str, bot: bool) -> Ship:
        if player_id in self._ships:
            raise ValueError(f"player {player_id!r} is already in the game")
        ship = Ship(player_id, name, PALETTE[self._joins % len(PALETTE)], bot)
        self._joins += 1
        self._ships[player_id] = ship
        self._d_added[player_id] = None
        return ship

    def _score_event(self, ship: Ship) -> ScoreEvent | None:
        return ScoreEvent(ship.id, ship.name, ship.score, ship.bot) if ship.score > 0 else None

    def _bring_to_life(self, ship: Ship, x: float, y: float, aim: float, born: int) -> None:
        """Alive at (x, y), moving as its player's stick says (from the next step on).

        `born` is the first tick whose picture shows the ship: the coming one
        between steps, the current one for a respawn within a step. A shot
        judged at an earlier tick passes where it stands: its shooter did not
        see it there."""
        ship.x, ship.y, ship.aim = x, y, aim
        ship.vx, ship.vy = geometry.velocity(ship.move[0], ship.move[1], self.rules.ship_speed)
        ship.alive, ship.steer, ship.respawn, ship.fire, ship.seen = True, False, False, False, None
        ship.born, ship.ready_tick = born, self.tick + 1
        ship.hx[born & _SLOT], ship.hy[born & _SLOT] = x, y
        self._d_added[ship.id] = self._d_marks[ship.id] = None

    def _spawn(self, ship: Ship, born: int) -> None:
        """A fresh ship on a random place at least SPAWN_WALL_MARGIN from the
        walls and SPAWN_CLEARANCE from every live ship; on a crowded field, the
        roomiest of SPAWN_ATTEMPTS tries. Full hit points, score 0; it faces
        the aim its player sent while dead, or else the middle of the field."""
        rng, quantize = self._rng, geometry.quantize
        others = [(s.x, s.y) for s in self._ships.values() if s.alive and s is not ship]
        high_x, high_y = self.width - SPAWN_WALL_MARGIN, self.height - SPAWN_WALL_MARGIN
        best, best_room = (0.0, 0.0), -1.0
        for _ in range(SPAWN_ATTEMPTS):
            x = quantize(rng.uniform(SPAWN_WALL_MARGIN, high_x))
            y = quantize(rng.uniform(SPAWN_WALL_MARGIN, high_y))
            room_sq = min(((x - ox) ** 2 + (y - oy) ** 2 for ox, oy in others), default=math.inf)
            if room_sq > best_room:
                best, best_room = (x, y), room_sq
            if room_sq >= SPAWN_CLEARANCE * SPAWN_CLEARANCE:
                break
        x, y = best
        if ship.aim_next is None:
            aim = geometry.aim_towards(x, y, self.width / 2, self.height / 2)
        else:
            aim, ship.aim_next = geometry.quantize(ship.aim_next), None
        self._bring_to_life(ship, x, y, aim, born)
        ship.hp, ship.score = self.rules.hit_points, 0

    def _fill_history_gap(self, tick: int) -> None:
        # Ticks the room skipped: ships stood where they stood at the last step.
        for s in self._ships.values():
            if s.alive:
                for missing in range(max(self.tick + 1, tick - _SLOT), tick):
                    s.hx[missing & _SLOT], s.hy[missing & _SLOT] = s.x, s.y

    def _shoot(self, shooters: list[Ship], tick: int, dt: float) -> list[ScoreEvent]:
        """Every shot of this step, judged against the ships alive after the
        movement (so shots are simultaneous), then the damage in join order."""
        rules = self.rules
        earliest, cooldown = tick - rules.lag_ticks(dt), rules.cooldown_ticks(dt)
        targets = [s for s in self._ships.values() if s.alive]
        width, height, radius, quantize = self.width, self.height, SHIP_RADIUS, geometry.quantize
        hits: list[tuple[Ship, Ship | None]] = []
        for shooter in shooters:
            shooter.ready_tick = tick + cooldown
            judged = tick if shooter.seen is None else max(earliest, min(shooter.seen, tick))
            slot = judged & _SLOT
            ox, oy = shooter.x, shooter.y
            dx, dy = geometry.aim_vector(shooter.aim)
            reach = min(SHOT_RANGE, geometry.ray_exit(ox, oy, dx, dy, width, height))
            victim: Ship | None = None
            for t in targets:
                if t is shooter or t.born > judged:  # not born when the shooter looked
                    continue
                along = geometry.ray_circle(ox, oy, dx, dy, t.hx[slot], t.hy[slot], radius)
                if along is not None and along <= reach:
                    reach, victim = along, t
            hit = None if victim is None else victim.id
            self._d_shots.append([shooter.id, ox, oy, quantize(ox + dx * reach), quantize(oy + dy * reach), hit])
            hits.append((shooter, victim))
        dead: list[Ship] = []
        respawn_ticks = rules.respawn_ticks(dt)
        for shooter, victim in hits:
            if victim is None or victim.hp <= 0:  # a miss, or a second hit on a ship killed this step
                continue
            victim.hp -= 1
            self._d_hp[victim.id] = None
            if victim.hp == 0:
                victim.alive, victim.vx, victim.vy = False, 0.0, 0.0
                victim.respawn_tick = tick + respawn_ticks
                self._d_moved[victim.id] = self._d_died[victim.id] = self._d_marks[victim.id] = None
                dead.append(victim)
                shooter.score += 1
                self._d_scores[shooter.id] = self._d_marks[shooter.id] = None
        # Scores become final after every kill of the step is counted.
        return [event for s in dead if (event := self._score_event(s)) is not None]
