"""Bot planning on a grid: pure functions, no I/O, no clock, no anyio.

The field is a flat `W*H` byte array (index `y*W + x`, nonzero = blocked:
stones and snake bodies; the edges are implicit walls). Flat indices, a
`bytearray` for the visited marks and a `deque` keep a plan cheap enough to
run thousands of times a second, in a worker process or inline.

`plan_path` is the fresh plan (breadth-first search to the nearest food,
bounded); `safe_moves` is the cheap fallback a bot takes between plans.

This module imports only the standard library (and the tiny `directions`
module) on purpose: worker processes import it to run `run_plan`, and a light
import keeps their start-up cheap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from asgi_mmo.games.snake.directions import DIRECTIONS, OPPOSITE

# Direction codes stored in the search's `came` array; 0 means "not reached".
_CODES: tuple[str, ...] = ("", "up", "down", "left", "right")
_START = 5


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """The arguments of `plan_path`, as one small picklable value.

    This is what crosses the process boundary (see `asgi_mmo.offload`);
    `blocked` should be `bytes` so pickling copies it once, compactly.
    """

    width: int
    height: int
    blocked: bytes
    head: tuple[int, int]
    food: tuple[tuple[int, int], ...]
    max_nodes: int = 20000


def run_plan(request: PlanRequest) -> list[str]:
    """`plan_path` for a `PlanRequest`: the function worker processes run."""
    return plan_path(
        request.width,
        request.height,
        request.blocked,
        request.head,
        list(request.food),
        request.max_nodes,
    )


def _check_field(width: int, height: int, blocked: bytes | bytearray) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(f"field must be at least 1x1, got {width}x{height}")
    if len(blocked) != width * height:
        raise ValueError(f"blocked has {len(blocked)} cells, expected {width}*{height}")


def plan_path(
    width: int,
    height: int,
    blocked: bytes | bytearray,
    head: tuple[int, int],
    food: list[tuple[int, int]],
    max_nodes: int = 20000,
) -> list[str]:
    """Directions from `head` to the nearest reachable food, shortest first.

    Breadth-first search over free cells; the head's own cell may be marked
    blocked (it is part of the snake). Food on a blocked cell, outside the
    field or under the head is not a target. At most `max_nodes` cells are
    expanded: if no food is found within that bound, or none is reachable,
    the answer is `[]` and the bot falls back to `safe_moves`.
    """
    _check_field(width, height, blocked)
    hx, hy = head
    if not (0 <= hx < width and 0 <= hy < height):
        return []
    size = width * height
    start = hy * width + hx
    targets = {
        y * width + x
        for x, y in food
        if 0 <= x < width and 0 <= y < height and not blocked[y * width + x]
    }
    targets.discard(start)
    if not targets:
        return []

    # came[i] is the direction code of the step that first reached cell i;
    # bytearray(size) is one zeroed allocation, cheap even for 1000x1000.
    came = bytearray(size)
    came[start] = _START
    queue: deque[int] = deque((start,))
    popleft, append = queue.popleft, queue.append
    last_row = size - width
    right_edge = width - 1
    expanded = 0
    found = -1
    # Neighbours in a fixed order (up, down, left, right): same input, same path, which
    # keeps bots deterministic for a seeded game. Written out rather than looped over a
    # tuple of neighbours per cell: no tuples built per cell, half the cost of a plan.
    while queue:
        if expanded >= max_nodes:
            return []
        cell = popleft()
        expanded += 1
        if cell >= width:
            nxt = cell - width
            if not came[nxt] and not blocked[nxt]:
                came[nxt] = 1
                if nxt in targets:
                    found = nxt
                    break
                append(nxt)
        if cell < last_row:
            nxt = cell + width
            if not came[nxt] and not blocked[nxt]:
                came[nxt] = 2
                if nxt in targets:
                    found = nxt
                    break
                append(nxt)
        x = cell % width
        if x > 0:
            nxt = cell - 1
            if not came[nxt] and not blocked[nxt]:
                came[nxt] = 3
                if nxt in targets:
                    found = nxt
                    break
                append(nxt)
        if x < right_edge:
            nxt = cell + 1
            if not came[nxt] and not blocked[nxt]:
                came[nxt] = 4
                if nxt in targets:
                    found = nxt
                    break
                append(nxt)
    if found < 0:
        return []

    path: list[str] = []
    cell = found
    step_back = {1: width, 2: -width, 3: 1, 4: -1}
    while cell != start:
        code = came[cell]
        path.append(_CODES[code])
        cell += step_back[code]
    path.reverse()
    return path


def _free_space(
    width: int,
    height: int,
    blocked: bytes | bytearray,
    origin: int,
    also_blocked: int,
    limit: int,
) -> int:
    """Free cells reachable from `origin` (itself included), counting to `limit`."""
    seen = {origin, also_blocked}
    queue: deque[int] = deque((origin,))
    popleft, append, add = queue.popleft, queue.append, seen.add
    count = 0
    last_row = width * height - width
    right_edge = width - 1
    while queue and count < limit:  # (neighbours written out, as in `plan_path`)
        cell = popleft()
        count += 1
        if cell >= width and (nxt := cell - width) not in seen and not blocked[nxt]:
            add(nxt)
            append(nxt)
        if cell < last_row and (nxt := cell + width) not in seen and not blocked[nxt]:
            add(nxt)
            append(nxt)
        x = cell % width
        if x > 0 and (nxt := cell - 1) not in seen and not blocked[nxt]:
            add(nxt)
            append(nxt)
        if x < right_edge and (nxt := cell + 1) not in seen and not blocked[nxt]:
            add(nxt)
            append(nxt)
    return count


def safe_moves(
    width: int,
    height: int,
    blocked: bytes | bytearray,
    head: tuple[int, int],
    current_dir: str | None,
    space_limit: int = 64,
) -> list[str]:
    """The directions that do not die at once, roomiest first.

    A move is safe if it is not straight back (`current_dir`'s opposite),
    stays in the field and enters a free cell. Safe moves are ordered by the
    free space behind them (a flood fill that stops counting at
    `space_limit`, so the cost stays bounded), so a bot does not turn into a
    pocket it cannot leave when a roomier way exists. Ties keep
    `current_dir` first, then up, down, left, right. `[]` means every move
    dies. The moving tail is not modelled: the answer is cautious, never
    optimistic.
    """
    _check_field(width, height, blocked)
    hx, hy = head
    if not (0 <= hx < width and 0 <= hy < height):
        return []
    start = hy * width + hx
    reverse = OPPOSITE.get(current_dir) if current_dir is not None else None
    order = list(DIRECTIONS)
    if current_dir in DIRECTIONS:
        order.remove(current_dir)
        order.insert(0, current_dir)

    scored: list[tuple[int, int, str]] = []
    for rank, name in enumerate(order):
        if name == reverse:
            continue
        dx, dy = DIRECTIONS[name]
        x, y = hx + dx, hy + dy
        if not (0 <= x < width and 0 <= y < height):
            continue
        cell = y * width + x
        if blocked[cell]:
            continue
        # The head's cell becomes the neck after the move: count it blocked.
        space = _free_space(width, height, blocked, cell, start, space_limit)
        scored.append((-space, rank, name))
    scored.sort()
    return [name for _, _, name in scored]


def best_move(
    width: int,
    height: int,
    blocked: bytes | bytearray,
    head: tuple[int, int],
    current_dir: str | None,
    space_limit: int = 64,
) -> str | None:
    """`safe_moves(...)[0]` (None when every move dies), for less: the moves are
    tried in tie order (`current_dir` first), and the first whose free space
    reaches `space_limit` wins at once, since no later move can beat it. Most
    ticks that is the first move tried, one bounded flood fill instead of three."""
    _check_field(width, height, blocked)
    hx, hy = head
    if not (0 <= hx < width and 0 <= hy < height):
        return None
    start = hy * width + hx
    reverse = OPPOSITE.get(current_dir) if current_dir is not None else None
    order = list(DIRECTIONS)
    if current_dir in DIRECTIONS:
        order.remove(current_dir)
        order.insert(0, current_dir)
    best: tuple[int, str] | None = None
    for name in order:
        if name == reverse:
            continue
        dx, dy = DIRECTIONS[name]
        x, y = hx + dx, hy + dy
        if not (0 <= x < width and 0 <= y < height) or blocked[y * width + x]:
            continue
        space = _free_space(width, height, blocked, y * width + x, start, space_limit)
        if space >= space_limit:
            return name
        if best is None or space > best[0]:
            best = (space, name)
    return best[1] if best else None
