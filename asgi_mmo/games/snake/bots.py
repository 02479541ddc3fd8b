"""Steering for snake's bots: a planned path to food when one is fresh, else a safe move.

Pure code like the game. Each tick, `act` gives every live bot a turn: the
next cell of its plan if that cell is still safe, otherwise the roomiest safe
move (`pathfinding.best_move`, cheap and bounded). Bots whose plan ran out,
went stale or lost its food ask for a new one: a breadth-first search
(`pathfinding.plan_path`) from the cell the head moves to this tick, over a
window around it, which the room runs in worker processes. Plans come back some ticks later; `accept` turns them
into cells on the field, and `act` picks up wherever the bot's head is on the
path by then. Dead bots respawn after a short pause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asgi_mmo.games.snake.directions import DIR_OF_STEP, DIRECTIONS, OPPOSITE
from asgi_mmo.games.snake.grid import FieldGrid
from asgi_mmo.games.snake.pathfinding import PlanRequest, best_move
from asgi_mmo.games.snake.rules import RESPAWN, Cell, SnakeGame

#: A plan covers this many cells around the head each way (a 33 x 33 window): at one food per
#: 120 cells the nearest food lies in it but for about one plan in ten thousand, and a window costs a
#: quarter of a 65 x 65 one to cut, pickle and search (docs/leaderboard-and-bots.md).
WINDOW_RADIUS = 16
#: Cells a search may expand: bounds one plan's cost (about 2 ms in pure Python).
MAX_NODES = 4000
#: A plan older than this many ticks is replaced (others may have taken its food).
REPLAN_TICKS = 10
#: Free cells a safe move must lead into to count as roomy: enough to see a dead end,
#: small enough that 50 bots' fallback moves cost about a millisecond a tick.
SPACE_LIMIT = 24
#: Ticks a dead bot waits before it respawns.
RESPAWN_TICKS = 15


@dataclass(slots=True)
class _Brain:
    path: dict[Cell, int] = field(default_factory=dict)  # cell -> its step number on the plan
    cells: list[Cell] = field(default_factory=list)  # the same cells by step number
    goal: Cell | None = None
    planned_at: int = -1_000_000
    waiting: Cell | None = None  # the cell a plan in flight starts from
    dead_since: int | None = None

    def drop_plan(self) -> None:
        self.path.clear()
        self.cells.clear()


class SnakeBots:
    def __init__(self, game: SnakeGame) -> None:
        self.game = game
        self._brains: dict[str, _Brain] = {}
        self._tick = 0

    def act(self, tick: int) -> list[tuple[str, PlanRequest]]:
        self._tick = tick
        game = self.game
        requests: list[tuple[str, PlanRequest]] = []
        field = game.field_grid()  # kept by the rules: no per-tick copy of the field
        grid = field.blocked
        food = game.food_cells()
        bots = game.bot_ids()
        for gone in set(self._brains) - set(bots):
            del self._brains[gone]
        for bot_id in bots:
            brain = self._brains.setdefault(bot_id, _Brain())
            head, moving, alive = game.head_of(bot_id)
            if not alive:
                brain.drop_plan()
                if brain.dead_since is None:
                    brain.dead_since = tick
                elif tick - brain.dead_since >= RESPAWN_TICKS:
                    game.apply_input(bot_id, RESPAWN)
                    brain.dead_since = None
                continue
            brain.dead_since = None
            turn = self._planned_turn(brain, head, moving, grid)
            if turn is None:
                brain.drop_plan()
                turn = best_move(game.width, game.height, grid, head, moving, SPACE_LIMIT)
            if turn is not None and turn != moving:
                game.apply_input(bot_id, turn)
            stale = not brain.path or brain.goal not in food or tick - brain.planned_at > REPLAN_TICKS
            if stale and brain.waiting is None:
                # Planned from where the head will be after this tick's move: the plan
                # comes back a tick later at the soonest, and then starts under the head.
                dx, dy = DIRECTIONS[turn or moving]
                start = (head[0] + dx, head[1] + dy)
                if not (0 <= start[0] < field.width and 0 <= start[1] < field.height) or grid[
                    start[1] * field.width + start[0]
                ]:
                    start = head
                brain.waiting = start
                requests.append((bot_id, self._request(field, start)))
        return requests

    def accept(self, bot_id: str, plan: list[str]) -> None:
        brain = self._brains.get(bot_id)
        if brain is None or brain.waiting is None:
            return
        cell, brain.waiting = brain.waiting, None
        if not plan:
            return
        # Directions do not depend on the window: the path starts at the cell the request was for.
        path: dict[Cell, int] = {cell: 0}
        cells = [cell]
        for number, direction in enumerate(plan, start=1):
            dx, dy = DIRECTIONS[direction]
            cell = (cell[0] + dx, cell[1] + dy)
            path[cell] = number
            cells.append(cell)
        brain.path, brain.cells, brain.goal, brain.planned_at = path, cells, cell, self._tick

    def forget(self, bot_id: str) -> None:
        """The bot's request was not run (queue full, no planner): it may ask again."""
        brain = self._brains.get(bot_id)
        if brain is not None:
            brain.waiting = None

    # -- internals ------------------------------------------------------------

    def _planned_turn(self, brain: _Brain, head: Cell, moving: str, grid: bytearray) -> str | None:
        """The turn onto the furthest safe cell of the plan next to the head, if any.

        The head has usually moved on while the plan was computed; stepping onto
        the furthest adjacent path cell rejoins the plan from wherever it is.
        """
        path = brain.path
        here = path.get(head)
        game = self.game
        width, height = game.width, game.height
        if here is not None:
            # On the plan (most ticks): a shortest path has no later cell next to this one but
            # the next, or it would not be shortest; so that one, if still safe, and no search.
            if here + 1 == len(brain.cells):
                return None
            x, y = brain.cells[here + 1]
            direction = DIR_OF_STEP[(x - head[0], y - head[1])]
            if direction == OPPOSITE[moving] or not (0 <= x < width and 0 <= y < height) or grid[y * width + x]:
                return None
            return direction
        best: tuple[int, str] | None = None
        for direction, (dx, dy) in DIRECTIONS.items():
            x, y = head[0] + dx, head[1] + dy
            number = path.get((x, y))
            if (
                number is None
                or direction == OPPOSITE[moving]
                or not (0 <= x < width and 0 <= y < height)
                or grid[y * width + x]  # something moved into the way since the plan was made
            ):
                continue
            if best is None or number > best[0]:
                best = (number, direction)
        return best[1] if best else None

    def _request(self, field: FieldGrid, head: Cell) -> PlanRequest:
        """A plan request from `head` for the window around it, in the window's coordinates.

        Its cost is the window's (a few row slices), never the field's or its food's."""
        width, height = field.width, field.height
        x0, y0 = max(0, head[0] - WINDOW_RADIUS), max(0, head[1] - WINDOW_RADIUS)
        x1, y1 = min(width, head[0] + WINDOW_RADIUS + 1), min(height, head[1] + WINDOW_RADIUS + 1)
        blocked, targets = field.window(x0, y0, x1, y1)
        window_head = (head[0] - x0, head[1] - y0)
        return PlanRequest(x1 - x0, y1 - y0, blocked, window_head, tuple(targets), MAX_NODES)
