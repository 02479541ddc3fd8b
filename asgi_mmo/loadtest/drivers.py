"""How a simulated player plays a game: its next input, its own death, its respawn.

A `Driver` is one player's way of playing one game; `driver_kind(name)` picks
the kind for a game: the game's own (`DRIVERS`: snake, arena) or, for any
other game, `ExamplesDriver`, which cycles through the `examples` of the
game's input schema (GAME_INFO of `GET /api/games`), so every game the server
lists can be loaded without code of its own.

The player reads deaths from tick frames without parsing them: a driver names
the key whose list holds the ids of the ships or snakes that died this tick
(`died_marker`), and, for a game whose respawn waits (arena), the key whose
list holds the ones that came back (`respawned_marker`). The player looks for
its own quoted id between the marker and the next `]`, so a marker's list must
hold no nested list.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import orjson

#: GAME_INFO of the contract: `{"name", "title", "description", "options", "input"}`, as JSON.
GameInfo = Mapping[str, Any]

#: seconds between a snake player's inputs: a person's key presses
KEY_PRESSES: Final = (0.3, 0.8)
#: seconds between an arena player's inputs: aim changes and clicks, as a client throttles them
AIM_AND_CLICKS: Final = (0.1, 0.3)
#: snake: cells of field per player when the field size is chosen for the room's players
CELLS_PER_PLAYER: Final = 48
#: arena: the game's default field (60 x 40 units) is sized for this many ships
ARENA_SHIPS_PER_DEFAULT_FIELD: Final = 50


class Driver(Protocol):
    """One simulated player's play. Attributes are read once, when the player is made."""

    #: `b'"died":['`-like: the list of this tick's dead; `b""` when the frames do not say
    #: (`bytes.find(b"")` answers 0, which the player reads as "not there")
    died_marker: bytes
    #: `b""`: alive again once the respawn input is acked; else the list of this tick's respawned
    respawned_marker: bytes
    #: the `data` (JSON text) of the respawn input
    respawn_input: str
    #: (low, high) seconds between two inputs, drawn uniformly
    input_every: tuple[float, float]

    def next_input(self, tick: int) -> str:
        """The `data` (JSON text) of the next input while alive; `tick` is the last one received."""
        ...

    def alive_in(self, state: Mapping[str, Any], player_id: str) -> bool:
        """Whether the player's own ship or snake lives in a SNAPSHOT (`welcome`, `state`)."""
        ...

    def respawned(self) -> None:
        """The player is alive again."""
        ...


class DriverKind(Protocol):
    """A driver class: makes one driver per player, and sizes the rooms the load test makes."""

    def __call__(self, rng: random.Random, info: GameInfo) -> Driver: ...

    def field_for(self, players_per_room: int) -> tuple[int, int] | None:
        """The field (width, height) for a room of that many players; None: the game's default."""
        ...


def _square_field(players_per_room: int) -> tuple[int, int]:
    side = max(40, min(1000, math.ceil(math.sqrt(players_per_room * CELLS_PER_PLAYER))))
    return side, side


class SnakeDriver:
    """A random turn perpendicular to the last one, a key press apart; respawn on its ack."""

    __slots__ = ("rng", "direction")

    died_marker = b'"died":['
    respawned_marker = b""
    respawn_input = '{"respawn":true}'
    input_every = KEY_PRESSES

    _TURNS: Final = {
        None: ("up", "down", "left", "right"),
        "up": ("left", "right"), "down": ("left", "right"),
        "left": ("up", "down"), "right": ("up", "down"),
    }

    def __init__(self, rng: random.Random, info: GameInfo | None = None) -> None:
        self.rng = rng
        self.direction: str | None = None

    @classmethod
    def field_for(cls, players_per_room: int) -> tuple[int, int]:
        """About CELLS_PER_PLAYER cells a player, square, 40 to 1000 a side."""
        return _square_field(players_per_room)

    def next_input(self, tick: int) -> str:
        turns = self._TURNS
        turn = self.rng.choice(turns.get(self.direction, turns[None]))
        self.direction = turn
        return f'{{"dir":"{turn}"}}'

    def alive_in(self, state: Mapping[str, Any], player_id: str) -> bool:
        for snake in state.get("snakes", ()):
            if snake.get("id") == player_id:
                if snake.get("alive"):
                    self.direction = snake.get("dir")
                    return True
                return False
        return False

    def respawned(self) -> None:
        self.direction = None


#: the largest aim the driver sends: its 3 decimals stay inside the schema's -pi..pi
_AIM_LIMIT: Final = 3.141


class ArenaDriver:
    """Steer, sweep the aim, fire with `seen` = the last tick received; respawn after death.

    Each input turns the aim by a random amount; about one in four picks a new
    stick (one in ten of those lets go of it); six in ten fire. The respawn
    request waits on the server until the delay has passed, so the player is
    alive again when its ship shows in a tick's `ships` list.
    """

    __slots__ = ("rng", "aim", "stick")

    died_marker = b'"died":['
    respawned_marker = b'"ships":['
    respawn_input = '{"respawn":true}'
    input_every = AIM_AND_CLICKS

    def __init__(self, rng: random.Random, info: GameInfo | None = None) -> None:
        self.rng = rng
        self.aim = rng.uniform(-_AIM_LIMIT, _AIM_LIMIT)
        self.stick = "[0,0]"

    @classmethod
    def field_for(cls, players_per_room: int) -> tuple[int, int]:
        """The game's 60 x 40 for 50 ships, scaled with the ships (the same room per ship), at least 30 x 20."""
        scale = math.sqrt(players_per_room / ARENA_SHIPS_PER_DEFAULT_FIELD)
        return max(30, min(1000, math.ceil(60 * scale))), max(20, min(1000, math.ceil(40 * scale)))

    def next_input(self, tick: int) -> str:
        rng = self.rng
        aim = self.aim + rng.gauss(0.0, 0.8)
        if aim > math.pi:
            aim -= 2 * math.pi
        elif aim < -math.pi:
            aim += 2 * math.pi
        self.aim = aim = min(_AIM_LIMIT, max(-_AIM_LIMIT, aim))
        chance = rng.random()
        if chance < 0.025:
            self.stick = "[0,0]"
        elif chance < 0.25:
            heading = rng.uniform(-math.pi, math.pi)
            self.stick = f"[{math.cos(heading):.3f},{math.sin(heading):.3f}]"
        if rng.random() < 0.6:
            return f'{{"move":{self.stick},"aim":{aim:.3f},"fire":true,"seen":{tick}}}'
        return f'{{"move":{self.stick},"aim":{aim:.3f}}}'

    def alive_in(self, state: Mapping[str, Any], player_id: str) -> bool:
        for ship in state.get("ships", ()):
            if ship.get("id") == player_id:
                return bool(ship.get("alive"))
        return False

    def respawned(self) -> None:
        pass


class ExamplesDriver:
    """Any game: its input schema's `examples` in turn, from a random one on; always alive.

    It knows nothing of the game's state, so it reads no deaths and sends no
    respawn of its own (a respawn among the examples is sent in its turn).
    """

    __slots__ = ("examples", "next")

    died_marker = b""
    respawned_marker = b""
    respawn_input = ""
    input_every = KEY_PRESSES

    def __init__(self, rng: random.Random, info: GameInfo) -> None:
        self.examples = input_examples(info)
        self.next = rng.randrange(len(self.examples))

    @classmethod
    def field_for(cls, players_per_room: int) -> None:
        return None

    def next_input(self, tick: int) -> str:
        text = self.examples[self.next]
        self.next = (self.next + 1) % len(self.examples)
        return text

    def alive_in(self, state: Mapping[str, Any], player_id: str) -> bool:
        return True

    def respawned(self) -> None:
        pass


class NoExamples(ValueError):
    """A game's input schema lists no examples: the examples driver has nothing to send."""


def input_examples(info: GameInfo) -> list[str]:
    """The examples of a game's input schema, as JSON text; `NoExamples` if there are none."""
    schema = info.get("input")
    examples: Sequence[object] = schema.get("examples", ()) if isinstance(schema, Mapping) else ()
    if not examples:
        raise NoExamples(f"game {info.get('name')!r} lists no input examples in its schema")
    return [orjson.dumps(example).decode() for example in examples]


#: the games whose players have a driver of their own
DRIVERS: Final[Mapping[str, DriverKind]] = {"snake": SnakeDriver, "arena": ArenaDriver}
#: `--driver` values: the game's own driver when it has one, or the examples driver for every game
DRIVER_CHOICES: Final = ("auto", "examples")


def driver_kind(game: str, choice: str = "auto") -> DriverKind:
    """The driver class for a game's players: its own (`auto`), else the examples driver."""
    if choice not in DRIVER_CHOICES:
        raise ValueError(f"unknown driver {choice!r}: one of {', '.join(DRIVER_CHOICES)}")
    if choice == "auto" and game in DRIVERS:
        return DRIVERS[game]
    return ExamplesDriver


def driver_name(kind: DriverKind) -> str:
    """How the summary names a driver: the game it belongs to, or `examples`."""
    for game, known in DRIVERS.items():
        if known is kind:
            return game
    return "examples"
