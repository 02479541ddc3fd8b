"""Bot planning on fixed layouts: plain synchronous functions."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi_mmo.games.snake.directions import DIRECTIONS
from asgi_mmo.games.snake.pathfinding import PlanRequest, best_move, plan_path, run_plan, safe_moves


def parse(*rows: str) -> tuple[int, int, bytearray, tuple[int, int], list[tuple[int, int]]]:
    """A layout drawn as text: `#` blocked, `H` the head, `F` food, `.` free."""
    width, height = len(rows[0]), len(rows)
    blocked = bytearray(width * height)
    head = (-1, -1)
    food: list[tuple[int, int]] = []
    for y, row in enumerate(rows):
        assert len(row) == width
        for x, char in enumerate(row):
            if char == "#":
                blocked[y * width + x] = 1
            elif char == "H":
                head = (x, y)
            elif char == "F":
                food.append((x, y))
    return width, height, blocked, head, food


def walk(
    width: int, height: int, blocked: bytes | bytearray, head: tuple[int, int], path: list[str]
) -> tuple[int, int]:
    """Follow `path`, asserting every step stays in the field on a free cell."""
    x, y = head
    for direction in path:
        dx, dy = DIRECTIONS[direction]
        x, y = x + dx, y + dy
        assert 0 <= x < width and 0 <= y < height, f"{direction} leaves the field at {(x, y)}"
        assert not blocked[y * width + x], f"{direction} enters a blocked cell {(x, y)}"
    return x, y


def test_straight_path_to_food() -> None:
    w, h, blocked, head, food = parse(
        ".....",
        ".H..F",
        ".....",
    )
    assert plan_path(w, h, blocked, head, food) == ["right", "right", "right"]


def test_directions_follow_the_protocol() -> None:
    # up is y-1, right is x+1
    w, h, blocked, head, food = parse(
        "..F",
        "...",
        "H..",
    )
    path = plan_path(w, h, blocked, head, food)
    assert len(path) == 4
    assert sorted(path) == ["right", "right", "up", "up"]
    assert walk(w, h, blocked, head, path) == (2, 0)


def test_nearest_of_several_foods() -> None:
    w, h, blocked, head, food = parse(
        "F.......",
        "........",
        "....H..F",
        "........",
    )
    path = plan_path(w, h, blocked, head, food)
    assert path == ["right", "right", "right"]


def test_goes_around_stones_and_bodies_by_a_shortest_way() -> None:
    w, h, blocked, head, food = parse(
        "........",
        ".######.",
        ".#H...#.",
        ".####.#.",
        "......#F",
    )
    path = plan_path(w, h, blocked, head, food)
    # Out through the gap at (5, 3), then left along the bottom, up the left
    # side, over the top and down the right side: the only way.
    assert walk(w, h, blocked, head, path) == (7, 4)
    assert len(path) == 3 + 2 + 5 + 4 + 7 + 4


def test_head_cell_marked_blocked_is_still_the_start() -> None:
    w, h, blocked, head, food = parse(
        "##.F",
    )
    # The snake's own head is part of its body: blocked, yet the start.
    blocked[1] = 1
    head = (1, 0)
    assert plan_path(w, h, blocked, head, food) == ["right", "right"]


def test_enclosed_head_finds_nothing() -> None:
    w, h, blocked, head, food = parse(
        ".....",
        ".###.",
        ".#H#F",
        ".###.",
    )
    assert plan_path(w, h, blocked, head, food) == []


def test_food_behind_walls_or_on_blocked_cells_is_ignored() -> None:
    w, h, blocked, head, food = parse(
        "H..#F",
        "...#.",
        "...#.",
    )
    assert plan_path(w, h, blocked, head, food) == []
    assert plan_path(w, h, blocked, head, [(3, 0), (99, 99), (-1, 0)]) == []
    assert plan_path(w, h, blocked, head, []) == []


def test_bound_on_expansions() -> None:
    width, height = 200, 200
    blocked = bytes(width * height)
    head, food = (0, 0), [(199, 199)]
    assert plan_path(width, height, blocked, head, food, max_nodes=1000) == []
    full = plan_path(width, height, blocked, head, food, max_nodes=width * height)
    assert len(full) == 199 + 199


def test_bound_is_exact_enough_for_near_food() -> None:
    w, h, blocked, head, food = parse("H.F")
    # Expanding the head and its neighbour is enough for food two steps away.
    assert plan_path(w, h, blocked, head, food, max_nodes=2) == ["right", "right"]
    assert plan_path(w, h, blocked, head, food, max_nodes=1) == []


def test_head_outside_the_field_and_bad_field() -> None:
    w, h, blocked, _, food = parse("..F")
    assert plan_path(w, h, blocked, (-1, 0), food) == []
    with pytest.raises(ValueError):
        plan_path(w, h, bytearray(2), (0, 0), food)


def test_run_plan_takes_a_request() -> None:
    w, h, blocked, head, food = parse(".H.F")
    request = PlanRequest(w, h, bytes(blocked), head, tuple(food))
    assert run_plan(request) == ["right", "right"]


def test_large_field_is_fast() -> None:
    width = height = 1000
    blocked = bytearray(width * height)
    for y in range(0, height, 4):  # horizontal walls with a gap
        for x in range(width):
            if x != (y * 7) % width:
                blocked[y * width + x] = 1
    started = time.perf_counter()
    path = plan_path(width, height, bytes(blocked), (500, 501), [(10, 998)], max_nodes=20000)
    elapsed = time.perf_counter() - started
    assert path == []  # far beyond 20000 expansions
    assert elapsed < 0.5


# -- safe_moves --------------------------------------------------------------


def test_safe_moves_never_reverses_or_leaves_the_field() -> None:
    w, h, blocked, head, _ = parse(
        "H...",
        "....",
    )
    moves = safe_moves(w, h, blocked, head, "left")
    assert "right" not in moves  # straight back
    assert "left" not in moves and "up" not in moves  # walls
    assert moves == ["down"]


def test_safe_moves_avoid_blocked_cells() -> None:
    w, h, blocked, head, _ = parse(
        ".#.",
        "#H.",
        "...",
    )
    assert set(safe_moves(w, h, blocked, head, "right")) == {"right", "down"}
    # Moving up, down would be straight back: only right is left.
    assert safe_moves(w, h, blocked, head, "up") == ["right"]


def test_safe_moves_prefer_room_to_live() -> None:
    w, h, blocked, head, _ = parse(
        "##.######",
        "##.######",
        "##H......",
        "#########",
    )
    # Up leads into a dead end of 2 cells; right into open space.
    assert safe_moves(w, h, blocked, head, "right") == ["right", "up"]
    assert safe_moves(w, h, blocked, head, "up") == ["right", "up"]


def test_safe_moves_keep_current_direction_on_a_tie() -> None:
    w, h, blocked, head, _ = parse(
        ".....",
        ".....",
        "..H..",
        ".....",
        ".....",
    )
    assert safe_moves(w, h, blocked, head, "down")[0] == "down"
    assert set(safe_moves(w, h, blocked, head, None)) == {"up", "down", "left", "right"}


def test_safe_moves_empty_when_trapped() -> None:
    w, h, blocked, head, _ = parse(
        ".#.",
        "#H#",
        ".#.",
    )
    assert safe_moves(w, h, blocked, head, "up") == []


@pytest.mark.parametrize("seed", range(20))
def test_safe_moves_never_deadly_on_random_fields(seed: int) -> None:
    import random

    rng = random.Random(seed)
    w, h = 12, 9
    blocked = bytearray(rng.random() < 0.35 for _ in range(w * h))
    for _ in range(50):
        head = (rng.randrange(w), rng.randrange(h))
        current = rng.choice([*DIRECTIONS, None])
        moves = safe_moves(w, h, blocked, head, current)
        survivable = set()
        for name, (dx, dy) in DIRECTIONS.items():
            x, y = head[0] + dx, head[1] + dy
            reverse = current is not None and (dx, dy) == tuple(-c for c in DIRECTIONS[current])
            if 0 <= x < w and 0 <= y < h and not blocked[y * w + x] and not reverse:
                survivable.add(name)
        # Every move it offers survives, and it offers every one that does.
        assert set(moves) == survivable
        assert len(moves) == len(survivable)


@pytest.mark.parametrize("seed", range(10))
def test_best_move_is_the_first_safe_move(seed: int) -> None:
    """The bots' cheap fallback picks what `safe_moves` would, on fields open and cramped."""
    import random

    rng = random.Random(seed)
    w, h = 16, 12
    blocked = bytearray(rng.random() < 0.1 + 0.05 * seed for _ in range(w * h))
    for _ in range(80):
        head = (rng.randrange(w), rng.randrange(h))
        current = rng.choice([*DIRECTIONS, None])
        limit = rng.choice([4, 24, 64])
        moves = safe_moves(w, h, blocked, head, current, limit)
        assert best_move(w, h, blocked, head, current, limit) == (moves[0] if moves else None)


def test_best_move_leaves_a_pocket_for_open_space() -> None:
    w, h, blocked, head, _ = parse(
        "#########",
        "#.#......",
        "#.#......",
        "#.H......",
        "##.......",
    )
    assert best_move(w, h, blocked, head, "up", 8) == "right"
    assert best_move(w, h, blocked, (-1, 0), "up") is None


def _distances(width: int, height: int, blocked: bytes, start: tuple[int, int]) -> dict[tuple[int, int], int]:
    """Steps from `start` to every free cell it reaches: the plainest breadth-first search."""
    found, frontier = {start: 0}, [start]
    while frontier:
        later = []
        for x, y in frontier:
            for dx, dy in DIRECTIONS.values():
                cell = (x + dx, y + dy)
                inside = 0 <= cell[0] < width and 0 <= cell[1] < height
                if inside and cell not in found and not blocked[cell[1] * width + cell[0]]:
                    found[cell] = found[(x, y)] + 1
                    later.append(cell)
        frontier = later
    return found


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, 14), height=st.integers(1, 14), density=st.floats(0, 0.6),
    seed=st.integers(0, 2**32), foods=st.integers(0, 8),
)  # fmt: skip
def test_plan_is_a_shortest_way_to_the_nearest_food(width: int, height: int, density: float, seed: int,
                                                    foods: int) -> None:
    """The search (written out for speed) against a plain one: a path exactly as long as the
    way to the nearest reachable food, over free cells, ending on a food; [] when none is."""
    import random

    rng = random.Random(seed)
    blocked = bytes(rng.random() < density for _ in range(width * height))
    head = (rng.randrange(width), rng.randrange(height))
    food = [(rng.randrange(-1, width + 1), rng.randrange(-1, height + 1)) for _ in range(foods)]
    distances = _distances(width, height, blocked, head)
    reachable = [distances[cell] for cell in food if cell in distances and cell != head]
    path = plan_path(width, height, blocked, head, food)
    if not reachable:
        assert path == []
        return
    assert len(path) == min(reachable)
    assert walk(width, height, blocked, head, path) in food
    assert plan_path(width, height, blocked, head, food) == path  # the same input, the same path


@settings(max_examples=200, deadline=None)
@given(width=st.integers(1, 12), height=st.integers(1, 12), density=st.floats(0, 0.6), seed=st.integers(0, 2**32))
def test_safe_moves_rank_by_the_room_behind_each_move(width: int, height: int, density: float, seed: int) -> None:
    """With a bound above the field's area, each safe move's room is counted exactly: the moves
    come roomiest first, as a plain search counts the free cells behind each."""
    import random

    rng = random.Random(seed)
    blocked = bytearray(rng.random() < density for _ in range(width * height))
    head = (rng.randrange(width), rng.randrange(height))
    blocked[head[1] * width + head[0]] = 1  # the head's cell is the neck after the move
    rooms = []
    for name in safe_moves(width, height, blocked, head, None, space_limit=width * height + 1):
        dx, dy = DIRECTIONS[name]
        rooms.append(len(_distances(width, height, bytes(blocked), (head[0] + dx, head[1] + dy))))
    assert rooms == sorted(rooms, reverse=True)
