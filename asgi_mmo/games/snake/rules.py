"""Snake, as pure rules: no I/O, no clock, randomness only from the game's own `random.Random`.

The rules and numbers are written out in `docs/snake.md`. Per-tick work is proportional to the
number of snakes and changes, never to the field's area: food and stones are kept in dicts, and
every cell of a live snake, stone and food in a `grid.FieldGrid` (what collisions, spawns and
bots look up), that every step updates incrementally.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any, ClassVar, Final, Self

from asgi_mmo.games.base import Area, BotDriver, Bucket, GameSetup, InvalidInput, ScoreEvent
from asgi_mmo.games.options import Option
from asgi_mmo.games.snake.delta import apply_delta as apply_delta  # clients import it from here
from asgi_mmo.games.snake.directions import DIR_OF_STEP, DIRECTIONS, OPPOSITE
from asgi_mmo.games.snake.grid import SNAKE, STONE, FieldGrid
from asgi_mmo.games.snake.snake import Snake
from asgi_mmo.games.snake.spatial import SnakeBuckets, view_snapshot

Cell = tuple[int, int]

#: What `parse_input` returns for `{"respawn": true}`.
RESPAWN: Final = "respawn"
#: `input.data` of snake (docs/snake.md): a turn or a respawn, nothing else.
INPUT_SCHEMA: Final[Mapping[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "snake input",
    "type": "object",
    "oneOf": [
        {"properties": {"dir": {"enum": list(DIRECTIONS)}}, "required": ["dir"], "additionalProperties": False},
        {"properties": {"respawn": {"const": True}}, "required": ["respawn"], "additionalProperties": False},
    ],
    "examples": [{"dir": "up"}, {"dir": "left"}, {"respawn": True}],
}

#: Distinct colours, handed out by join order (cycling after the last).
PALETTE: Final = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
    "#808000", "#ffd8b1", "#000075", "#a9a9a9",
)  # fmt: skip
SPAWN_LENGTH: Final = 3
SPAWN_MARGIN: Final = 3  # every cell of a new snake is this far from every wall
SPAWN_CLEAR_AHEAD: Final = 3  # cells in front of a new head free of stones and snakes
#: A human's new or respawned snake stands this long, or until its first turn: nobody
#: dies before they have found the keys (the contract's start grace).
START_GRACE_SECONDS: Final = 3.0
SPAWN_ATTEMPTS: Final = 100
PLACE_ATTEMPTS: Final = 30  # random tries to find a free cell for one food or stone
FOOD_VALUES: Final = tuple(range(1, 10))
FOOD_WEIGHTS: Final = tuple(10 - v for v in FOOD_VALUES)  # 1 is 9x likelier than 9
FOOD_AREA: Final = 120  # one food per this many cells, at least 3
STONE_AREA: Final = 200  # at most one stone per this many cells, at least 2
STONE_CHANCE: Final = 0.25  # chance that eating a food raises a stone
STONE_HEAD_CLEARANCE: Final = 2  # a new stone is more than this (king moves) from live heads


class SnakeGame:
    """The snake rules; satisfy `asgi_mmo.games.base.Game`. Bots stand still
    here: rooms run `game.SnakeWithBots`, which adds their driver."""

    name: ClassVar[str] = "snake"
    title: ClassVar[str] = "Snake"
    description: ClassVar[str] = (
        "Steer your snake to the food digits and grow; run into a wall, a stone or a snake and you are out."
    )
    default_width: ClassVar[int] = 40
    default_height: ClassVar[int] = 30
    options: ClassVar[Mapping[str, Option]] = {}
    input_schema: ClassVar[Mapping[str, Any]] = INPUT_SCHEMA
    plan_function: ClassVar[str | None] = None  # the rules alone have no bots (game.SnakeWithBots)

    def __init__(
        self,
        width: int,
        height: int,
        seed: int | None = None,
        *,
        food_count: int | None = None,
        stone_limit: int | None = None,
        stone_chance: float = STONE_CHANCE,
    ) -> None:
        """An empty field: no snakes, food or stones yet (`create` adds them;
        `step` keeps food at `food_count`). The keywords override the
        area-based defaults, for scripted scenarios and tests."""
        if width < 1 or height < 1:
            raise ValueError(f"field must be at least 1x1, got {width}x{height}")
        self.width = width
        self.height = height
        self.food_count = max(3, width * height // FOOD_AREA) if food_count is None else food_count
        self.stone_limit = max(2, width * height // STONE_AREA) if stone_limit is None else stone_limit
        self.stone_chance = stone_chance
        self._rng = random.Random(seed)
        self._snakes: dict[str, Snake] = {}  # join order
        self._joins = 0
        self._food: dict[Cell, int] = {}
        self._stones: dict[Cell, None] = {}  # insertion order: oldest first
        #: live snakes' cells, stones and food as bytes: one lookup per cell, no set of cells to keep
        self._grid = FieldGrid(width, height)
        #: the field by bucket, kept once a view room asks for it (`bucket_changes`)
        self._spatial: SnakeBuckets | None = None
        #: snakes whose score or life changed since `game.SnakeWithBots.take_score_changes`
        self._d_marks: dict[str, None] = {}
        self._reset_delta()

    # -- the Game protocol ------------------------------------------------

    def make_bot_driver(self) -> BotDriver | None:
        return None  # bots stand still in the bare rules; rooms run game.SnakeWithBots

    @classmethod
    def create(cls, setup: GameSetup) -> Self:
        game = cls(setup.width, setup.height, setup.seed)
        for _ in range(game.stone_limit // 2):
            cell = game._random_free_cell()
            if cell is not None:
                game._add_stone(cell)
        game._replenish_food()
        game._reset_delta()  # the first delta starts from the created field
        return game

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> Self:
        game = cls(
            saved["width"], saved["height"], food_count=saved["food_count"],
            stone_limit=saved["stone_limit"], stone_chance=saved["stone_chance"],
        )  # fmt: skip
        if saved.get("version") != 1:
            raise ValueError(f"unknown saved snake version {saved.get('version')!r}")
        version, internal, gauss = saved["rng"]
        game._rng.setstate((version, tuple(internal), gauss))
        game._joins = saved["joins"]
        for s in saved["snakes"]:
            snake = Snake(
                s["id"], s["name"], s["color"], s["bot"], deque((x, y) for x, y in s["body"]),
                s["dir"], s["next_dir"], s["alive"], s["score"], s["grow"], s["respawn"],
                s.get("wait"), s.get("turned", False),
            )  # fmt: skip
            snake.away = s.get("away", False)
            game._snakes[snake.id] = snake
        game._food = {(x, y): v for x, y, v in saved["food"]}
        game._stones = {(x, y): None for x, y in saved["stones"]}
        live = [cell for snake in game._snakes.values() if snake.alive for cell in snake.body]
        game._grid = FieldGrid.of(game.width, game.height, live, game._stones, game._food)
        return game

    def save(self) -> dict[str, Any]:
        version, internal, gauss = self._rng.getstate()
        return {
            "version": 1, "width": self.width, "height": self.height,
            "food_count": self.food_count, "stone_limit": self.stone_limit,
            "stone_chance": self.stone_chance, "rng": [version, list(internal), gauss],
            "joins": self._joins,
            "snakes": [
                {**s.public(), "next_dir": s.next_dir, "grow": s.grow, "respawn": s.respawn,
                 "wait": s.waiting, "turned": s.turned}
                for s in self._snakes.values()
            ],
            "food": [[x, y, v] for (x, y), v in self._food.items()],
            "stones": [[x, y] for x, y in self._stones],
        }  # fmt: skip

    def add_player(self, player_id: str, name: str, *, bot: bool = False) -> None:
        """Raises `ValueError` if the id is already in the game."""
        snake = self._join(player_id, name, bot)
        self._spawn(snake)  # on a full field it stays dead, its player may respawn

    def remove_player(self, player_id: str) -> ScoreEvent | None:
        snake = self._snakes.pop(player_id, None)
        if snake is None:
            return None
        self._d_removed[player_id] = None
        if (index := self._spatial) is not None:
            index.rebuild(snake)
        if not snake.alive:
            return None
        self._grid.mark(snake.body, 0)
        return self._score_event(snake)

    def set_away(self, player_id: str, away: bool) -> None:
        """`MarksAway`: `"away": true` on the entry while its player is away; a change sends it whole."""
        snake = self._snakes.get(player_id)
        if snake is None or snake.away is away:
            return
        snake.away = away
        self._d_added[player_id] = None
        if self._spatial is not None:
            self._spatial.changed_snakes[player_id] = None

    @classmethod
    def parse_input(cls, data: Any) -> str:
        """`"up"`/`"down"`/`"left"`/`"right"` for a turn, `RESPAWN` for a respawn.

        The room checks `INPUT_SCHEMA` first; these checks keep the rules safe on their own."""
        if not isinstance(data, dict):
            raise InvalidInput('snake input must be an object: {"dir": ...} or {"respawn": true}')
        if data.keys() == {"dir"}:
            direction = data["dir"]
            if isinstance(direction, str) and direction in DIRECTIONS:
                return direction
            raise InvalidInput('"dir" must be one of "up", "down", "left", "right"')
        if data.keys() == {"respawn"}:
            if data["respawn"] is True:
                return RESPAWN
            raise InvalidInput('"respawn" must be true')
        raise InvalidInput('snake input must be exactly {"dir": ...} or {"respawn": true}')

    def apply_input(self, player_id: str, parsed: str) -> None:
        snake = self._snakes.get(player_id)
        if snake is None:
            return
        if parsed == RESPAWN:
            snake.respawn = not snake.alive
        elif snake.alive:
            snake.turned = snake.waiting is not None  # any turn ends the start grace
            if parsed != OPPOSITE[snake.dir]:
                # Checked against the direction it last moved, so no pair of
                # inputs within one tick turns it back into its neck.
                snake.next_dir = parsed

    def step(self, tick: int = 0, dt: float = 0.1) -> list[ScoreEvent]:
        """One cell per tick, whatever the tick's length; `dt` counts down the start grace."""
        food, index, blocked, moves = self._food, self._spatial, self._grid.blocked, self._d_moves
        # 1. Every live snake's new head; tails of non-growing snakes move on. One pass over the snakes
        # and one over the movers (3.): in a world, each pass costs a cache miss or more per snake.
        width, height = self.width, self.height
        planned: list[tuple[Snake, Cell, bool]] = []
        unmoved: list[Snake] = []  # alive but not moving this step (the start grace; a respawn, below)
        respawning: list[Snake] = []  # dead, and their players asked for a new snake
        arrivals: dict[Cell, int] = {}
        for s in self._snakes.values():
            if not s.alive:
                if s.respawn:
                    respawning.append(s)
                continue
            if s.waiting is not None and self._stands(s, dt):
                unmoved.append(s)
                continue
            dx, dy = DIRECTIONS[s.next_dir]
            body = s.body
            x, y = body[0]
            head = (x + dx, y + dy)
            growing = s.grow > 0
            if not growing:  # its tail's cell is free for any head this step (the snake may die: a ghost blocks no one)
                tx, ty = body[-1]
                blocked[ty * width + tx] = 0
            planned.append((s, head, growing))
            arrivals[head] = arrivals.get(head, 0) + 1
        # 2. Collisions, all against the state after everyone's move.
        movers: list[tuple[Snake, Cell, bool]] = []
        dying: list[Snake] = []
        for s, head, growing in planned:
            x, y = head
            if not (0 <= x < width and 0 <= y < height) or arrivals[head] > 1 or blocked[y * width + x]:
                dying.append(s)
            else:
                movers.append((s, head, growing))
        events: list[ScoreEvent] = []
        for s in dying:  # its body stays where it was, as a ghost that blocks no one
            self._kill(s)
            if (event := self._score_event(s)) is not None:
                events.append(event)
        # 3. Move: each mover's tail on and its head in; the heads take their cells in the grid
        # once every tail has left its own (a head may go where another's tail just was).
        eaten = 0
        view_moves: list[tuple[Snake, Cell, Cell | None]] = []
        for s, head, growing in movers:
            body = s.body
            left = None
            if growing:
                s.grow -= 1
            else:
                left = body.pop()  # (its cell freed in 1.)
            body.appendleft(head)
            s.serial += 1
            if index is not None:  # a view room: its moves go by bucket, never in a delta
                view_moves.append((s, head, left))
                if s.next_dir != s.dir:
                    index.changed_snakes[s.id] = None
            else:
                moves.append([s.id, head[0], head[1], int(growing)])
            s.dir = s.next_dir
            value = food.pop(head, None)
            if value is not None:
                self._note_food_gone(head)
                s.score += value
                s.grow += value  # the tail stays put over the next `value` steps
                self._d_scores[s.id] = self._d_marks[s.id] = None
                if index is not None:
                    index.changed_snakes[s.id] = None
                eaten += 1
        for _, (x, y), _ in movers:  # (a loop over the heads alone: no snake to fetch)
            blocked[y * width + x] = SNAKE
        if index is not None:
            index.moved(view_moves)
        # 4. Respawns; now and then a stone for a food eaten; food to the count.
        for s in respawning:
            if self._spawn(s):
                unmoved.append(s)
        heads: set[Cell] | None = None  # made once a step, only if a stone is raised
        for _ in range(eaten):
            if self._rng.random() < self.stone_chance:
                if heads is None:  # every live head: the movers' new ones, and the others' (few)
                    heads = {head for _, head, _ in movers}
                    heads.update(s.body[0] for s in unmoved)
                self._raise_stone(heads)
        self._replenish_food()
        return events

    def snapshot(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "snakes": [s.public() for s in self._snakes.values()],
            "food": [[x, y, v] for (x, y), v in self._food.items()],
            "stones": [[x, y] for x, y in self._stones],
        }

    def take_delta(self) -> dict[str, Any]:
        """Keys in the order a client applies them: removed, snakes, moves,
        died, scores, eaten, food, stones_removed, stones (see docs/snake.md);
        a key is present only when its list is not empty."""
        snakes, added = self._snakes, self._d_added

        def shown(sid: str) -> bool:  # a full object replaces every other change
            return sid in snakes and sid not in added

        parts: dict[str, list[Any]] = {
            "removed": list(self._d_removed),
            "snakes": [snakes[sid].public() for sid in added if sid in snakes],
            "moves": [m for m in self._d_moves if shown(m[0])],
            "died": [sid for sid in self._d_died if shown(sid)],
            "scores": [[sid, snakes[sid].score] for sid in self._d_scores if shown(sid)],
            "eaten": [[x, y] for x, y in self._d_eaten],
            "food": [[x, y, v] for (x, y), v in self._d_food.items()],
            "stones_removed": [[x, y] for x, y in self._d_stones_removed],
            "stones": [[x, y] for x, y in self._d_stones],
        }
        self._reset_delta()
        return {key: value for key, value in parts.items() if value}

    # -- views (games.base.SpatialGame; docs/snake.md "Views") --------------

    def bucket_changes(self, size: int) -> dict[Bucket, dict[str, Any]]:
        index = self._buckets(size)
        self._reset_delta()
        return index.take(self._snakes)

    def bucket_snapshot(self, bx: int, by: int, size: int) -> dict[str, Any]:
        return self._buckets(size).snapshot((bx, by), self._snakes)

    def view_snapshot(self, parts: Sequence[dict[str, Any]], area: Area) -> dict[str, Any]:
        return view_snapshot(self.width, self.height, parts, area)

    def focus(self, player_id: str) -> tuple[int, int] | None:
        snake = self._snakes.get(player_id)
        return snake.body[0] if snake is not None and snake.alive and snake.body else None

    def _buckets(self, size: int) -> SnakeBuckets:
        """The bucket index of `size`, built from the field the first time (one scan, once)."""
        index = self._spatial
        if index is None or index.size != size:
            index = self._spatial = SnakeBuckets.of_field(size, self._snakes.values(), self._food, self._stones)
        return index

    def player_stats(self, player_id: str) -> dict[str, Any]:
        """Raises `KeyError` for a player not in the game."""
        snake = self._snakes[player_id]
        return {"score": snake.score, "alive": snake.alive}

    # -- what bots see (games/snake/bots.py reads these; the rules know no bots) --

    def bot_ids(self) -> list[str]:
        return [s.id for s in self._snakes.values() if s.bot]

    def head_of(self, player_id: str) -> tuple[Cell, str, bool]:
        """A snake's head cell, the direction it last moved, and whether it lives."""
        snake = self._snakes[player_id]
        return (snake.body[0] if snake.body else (-1, -1)), snake.dir, snake.alive

    def field_grid(self) -> FieldGrid:
        """The field as bytes, current (read-only for bots: the rules keep it)."""
        return self._grid

    def food_cells(self) -> dict[Cell, int]:
        """Food by cell (read-only view for bots)."""
        return self._food

    # -- scripted scenarios (tests, tutorials) ----------------------------

    def place_snake(
        self, player_id: str, body: list[Cell], *, name: str | None = None, bot: bool = False,
        score: int = 0, grow: int = 0, direction: str | None = None,
    ) -> None:  # fmt: skip
        """Put a live snake exactly on `body` (head first, adjacent cells,
        inside the field, clear of stones and other live snakes), adding the
        player if new. `direction` defaults to the way from neck to head;
        `grow` is the number of coming steps in which its tail stays put."""
        cells = [(int(x), int(y)) for x, y in body]
        old = self._snakes.get(player_id)
        own = set(old.body) if old is not None and old.alive else set()
        if not cells or len(set(cells)) != len(cells):
            raise ValueError("body must be non-empty with distinct cells")
        for (ax, ay), (bx, by) in pairwise(cells):
            if abs(ax - bx) + abs(ay - by) != 1:
                raise ValueError(f"body cells {(ax, ay)} and {(bx, by)} are not adjacent")
        for cell in cells:
            if not self._inside(cell) or cell in self._stones or (self._blocked(cell) and cell not in own):
                raise ValueError(f"cell {cell} is outside the field or taken")
        if direction is None and len(cells) > 1:
            direction = DIR_OF_STEP[(cells[0][0] - cells[1][0], cells[0][1] - cells[1][1])]
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {list(DIRECTIONS)}")
        snake = old if old is not None else self._join(player_id, name or player_id, bot)
        self._grid.mark(own, 0)
        for cell in cells:
            if self._food.pop(cell, None) is not None:
                self._note_food_gone(cell)
        self._set_body(snake, cells, direction)
        snake.score, snake.grow, snake.bot = score, grow, bot
        snake.waiting = None  # a scripted snake moves from the first step

    def place_food(self, x: int, y: int, value: int) -> None:
        """Put a food of `value` (1 to 9) on a free cell."""
        if value not in FOOD_VALUES or not self._is_free((x, y)):
            raise ValueError(f"cannot put food {value} at {(x, y)}")
        self._put_food((x, y), value)

    def place_stone(self, x: int, y: int) -> None:
        """Put a stone on a free cell (the oldest goes if over `stone_limit`)."""
        if not self._is_free((x, y)):
            raise ValueError(f"cannot put a stone at {(x, y)}")
        self._add_stone((x, y))

    # -- internals -----------------------------------------------------------

    def _reset_delta(self) -> None:
        # Ordered dicts as ordered sets; food and stones net out within one
        # delta, so a cell both added and eaten in it is never sent.
        self._d_removed: dict[str, None] = {}
        self._d_added: dict[str, None] = {}
        self._d_moves: list[list[Any]] = []
        self._d_died: dict[str, None] = {}
        self._d_scores: dict[str, None] = {}
        self._d_eaten: dict[Cell, None] = {}
        self._d_food: dict[Cell, int] = {}
        self._d_stones_removed: dict[Cell, None] = {}
        self._d_stones: dict[Cell, None] = {}

    def _join(self, player_id: str, name: str, bot: bool) -> Snake:
        if player_id in self._snakes:
            raise ValueError(f"player {player_id!r} is already in the game")
        snake = Snake(player_id, name, PALETTE[self._joins % len(PALETTE)], bot)
        self._joins += 1
        self._snakes[player_id] = snake
        self._d_added[player_id] = None
        return snake

    def _kill(self, snake: Snake) -> None:
        """A death (in `step`, or known from elsewhere: `overlay_score`): its body stays as a ghost."""
        snake.alive = False
        self._grid.mark(snake.body, 0)
        self._d_died[snake.id] = self._d_marks[snake.id] = None
        if self._spatial is not None:
            self._spatial.changed_snakes[snake.id] = None

    def _score_event(self, snake: Snake) -> ScoreEvent | None:
        return ScoreEvent(snake.id, snake.name, snake.score, snake.bot) if snake.score > 0 else None

    def _inside(self, cell: Cell) -> bool:
        return 0 <= cell[0] < self.width and 0 <= cell[1] < self.height

    def _is_free(self, cell: Cell) -> bool:
        """Inside the field, and no live snake, stone or food on it."""
        x, y = cell
        i = y * self.width + x
        return 0 <= x < self.width and 0 <= y < self.height and not self._grid.blocked[i] and not self._grid.food[i]

    def _blocked(self, cell: Cell) -> bool:
        """A live snake or a stone on this cell (inside the field)."""
        return self._grid.blocked[cell[1] * self.width + cell[0]] != 0

    def _random_free_cell(self, far_from: set[Cell] | None = None) -> Cell | None:
        """A random free cell (at most PLACE_ATTEMPTS tries), optionally more
        than STONE_HEAD_CLEARANCE cells (king moves) from every cell of `far_from`."""
        rng, reach = self._rng, range(-STONE_HEAD_CLEARANCE, STONE_HEAD_CLEARANCE + 1)
        for _ in range(PLACE_ATTEMPTS):
            x, y = rng.randrange(self.width), rng.randrange(self.height)
            if self._is_free((x, y)) and not (
                far_from and any((x + dx, y + dy) in far_from for dx in reach for dy in reach)
            ):
                return (x, y)
        return None  # a crowded field: try again next time

    def _stands(self, snake: Snake, dt: float) -> bool:
        """True while a new snake's start grace holds it (it occupies its cells all the same)."""
        if snake.waiting is None:
            return False
        if snake.turned or snake.waiting <= 1e-9:
            snake.waiting, snake.turned = None, False
            self._d_added[snake.id] = None  # sent whole: its `waiting` mark is gone
            if self._spatial is not None:
                self._spatial.changed_snakes[snake.id] = None
            return False
        snake.waiting -= dt
        return True

    def _set_body(self, snake: Snake, cells: list[Cell], direction: str) -> None:
        if (index := self._spatial) is not None:
            index.rebuild(snake)
            index.changed_snakes[snake.id] = None
        snake.serial += len(cells)
        snake.body = deque(cells)
        snake.dir = snake.next_dir = direction
        snake.alive, snake.respawn = True, False
        snake.waiting, snake.turned = (None if snake.bot else START_GRACE_SECONDS), False
        self._grid.mark(cells, SNAKE)
        self._d_added[snake.id] = self._d_marks[snake.id] = None
        if index is not None:
            index.placed(snake)

    def _spawn(self, snake: Snake) -> bool:
        """Rule 5: a fresh length-3 snake well inside the field, or False."""
        low, high_x, high_y = SPAWN_MARGIN, self.width - 1 - SPAWN_MARGIN, self.height - 1 - SPAWN_MARGIN
        if high_x < low or high_y < low:
            return False
        rng = self._rng
        for _ in range(SPAWN_ATTEMPTS):
            mx, my = rng.randint(low, high_x), rng.randint(low, high_y)  # the middle cell
            direction = self._away_from_nearest_wall(mx, my)
            dx, dy = DIRECTIONS[direction]
            half = SPAWN_LENGTH // 2
            cells = [(mx + i * dx, my + i * dy) for i in range(half, half - SPAWN_LENGTH, -1)]
            if not all(low <= x <= high_x and low <= y <= high_y and self._is_free((x, y)) for x, y in cells):
                continue
            hx, hy = cells[0]
            ahead = [(hx + i * dx, hy + i * dy) for i in range(1, SPAWN_CLEAR_AHEAD + 1)]
            if any(self._inside(c) and self._blocked(c) for c in ahead):
                continue  # not born facing a stone or a snake
            self._set_body(snake, cells, direction)
            snake.score = snake.grow = 0
            return True
        return False

    def _away_from_nearest_wall(self, x: int, y: int) -> str:
        # Distance to the wall behind each heading; ties go to the first.
        behind = {"right": x, "left": self.width - 1 - x, "down": y, "up": self.height - 1 - y}
        return min(behind, key=behind.__getitem__)

    def _replenish_food(self) -> None:
        for _ in range(self.food_count - len(self._food)):
            cell = self._random_free_cell()
            if cell is None:
                return
            self._put_food(cell, self._rng.choices(FOOD_VALUES, FOOD_WEIGHTS)[0])

    def _put_food(self, cell: Cell, value: int) -> None:
        self._food[cell] = self._d_food[cell] = value
        self._grid.food[cell[1] * self.width + cell[0]] = value
        if self._spatial is not None:
            self._spatial.set_food(cell, value)

    def _note_food_gone(self, cell: Cell) -> None:
        self._grid.food[cell[1] * self.width + cell[0]] = 0
        if self._spatial is not None:
            self._spatial.set_food(cell, None)
        if self._d_food.pop(cell, None) is None:
            self._d_eaten[cell] = None

    def _raise_stone(self, heads: set[Cell]) -> None:
        cell = self._random_free_cell(far_from=heads)
        if cell is not None:
            self._add_stone(cell)

    def _add_stone(self, cell: Cell) -> None:
        self._stones[cell] = None
        self._d_stones[cell] = None
        self._grid.mark((cell,), STONE)
        if (index := self._spatial) is not None:
            index.set_stone(cell, True)
        while len(self._stones) > self.stone_limit:
            oldest = next(iter(self._stones))
            del self._stones[oldest]
            self._grid.mark((oldest,), 0)
            if index is not None:
                index.set_stone(oldest, False)
            if oldest in self._d_stones:  # added and removed within one delta
                del self._d_stones[oldest]
            else:
                self._d_stones_removed[oldest] = None
