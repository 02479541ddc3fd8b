"""The field grid the rules keep for bots: always what the field holds, through
every kind of change (moves, deaths, respawns, food, stones, removal, restore)."""

from __future__ import annotations

import random

import pytest

from asgi_mmo.games.base import GameSetup
from asgi_mmo.games.snake.directions import DIRECTIONS
from asgi_mmo.games.snake.grid import SNAKE, STONE, FieldGrid
from asgi_mmo.games.snake.rules import RESPAWN, SnakeGame


def expected(game: SnakeGame) -> FieldGrid:
    """The grid built afresh from the field as its snapshot shows it."""
    shown = game.snapshot()
    live = [(x, y) for snake in shown["snakes"] if snake["alive"] for x, y in snake["body"]]
    stones = [(x, y) for x, y in shown["stones"]]
    food = {(x, y): v for x, y, v in shown["food"]}
    return FieldGrid.of(game.width, game.height, live, stones, food)


def assert_current(game: SnakeGame) -> None:
    grid, fresh = game.field_grid(), expected(game)
    assert grid.blocked == fresh.blocked
    assert grid.food == fresh.food


@pytest.mark.parametrize("seed", range(4))
def test_the_grid_follows_every_change_of_a_busy_field(seed: int) -> None:
    rng = random.Random(seed)
    # Small and crowded: many deaths, collisions, food eaten, stones raised and retired.
    game = SnakeGame.create(GameSetup(24, 18, {}, seed))
    for number in range(14):
        game.add_player(f"p{number}", f"P{number}", bot=number % 2 == 0)
    assert_current(game)
    players = [f"p{number}" for number in range(14)]
    deaths = 0
    for tick in range(300):
        for pid in players:
            if not game.player_stats(pid)["alive"]:
                game.apply_input(pid, RESPAWN)
            elif rng.random() < 0.3:
                game.apply_input(pid, rng.choice(list(DIRECTIONS)))
        if tick % 50 == 25:
            game.remove_player(players.pop(0))
            game.add_player(f"q{tick}", "late")
            players.append(f"q{tick}")
        game.step(tick, 0.5)
        deaths += len(game.take_delta().get("died", []))
        assert_current(game)
    assert deaths >= 10 and game.snapshot()["stones"], "the scenario should kill snakes and raise stones"


def test_scripted_changes_and_a_restored_game_keep_the_grid() -> None:
    game = SnakeGame(20, 20, seed=1, food_count=0, stone_limit=2)
    game.place_snake("a", [(5, 5), (4, 5), (3, 5)])
    game.place_food(10, 10, 7)
    game.place_stone(1, 1)
    game.place_stone(2, 2)
    game.place_stone(3, 3)  # the oldest stone goes
    game.place_snake("a", [(10, 10), (10, 11)])  # over the food, off its old cells
    assert_current(game)
    width = game.width
    assert game.field_grid().blocked[10 * width + 10] == SNAKE
    assert game.field_grid().blocked[3 * width + 3] == STONE
    assert game.field_grid().blocked[1 * width + 1] == 0
    restored = SnakeGame.restore(game.save())
    assert_current(restored)
    assert restored.field_grid().blocked == game.field_grid().blocked


def test_a_window_holds_its_rows_and_the_food_in_it() -> None:
    grid = FieldGrid(10, 8)
    grid.mark([(2, 3), (3, 3)], SNAKE)
    grid.mark([(9, 7)], STONE)
    for (x, y), value in {(4, 4): 3, (0, 0): 9, (8, 6): 1, (9, 2): 5}.items():
        grid.food[y * 10 + x] = value
    blocked, food = grid.window(2, 3, 10, 8)  # columns 2..9, rows 3..7
    assert len(blocked) == 8 * 5
    assert blocked[0] == SNAKE and blocked[1] == SNAKE and blocked[-1] == STONE
    assert sum(1 for b in blocked if b) == 3
    assert sorted(food) == [(2, 1), (6, 3)]  # (4, 4) and (8, 6), in window coordinates
