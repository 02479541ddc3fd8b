"""Snake's bots, tick by tick with fixed seeds, plans run inline."""

from __future__ import annotations

from asgi_mmo.games.base import GameSetup
from asgi_mmo.games.catalog import get_game
from asgi_mmo.games.snake.bots import RESPAWN_TICKS, SnakeBots
from asgi_mmo.games.snake.game import SnakeWithBots
from asgi_mmo.games.snake.pathfinding import PlanRequest, run_plan
from asgi_mmo.games.snake.rules import SnakeGame


def play(game: SnakeGame, bots: SnakeBots, steps: int, *, plan_delay: int | None = 2) -> int:
    """Steps the game with plans answered `plan_delay` ticks after they are asked for
    (None: never answered); returns how many foods were eaten."""
    in_flight: list[tuple[int, str, PlanRequest]] = []
    eaten = 0
    for tick in range(steps):
        for bot_id, request in bots.act(tick):
            if plan_delay is None:
                bots.forget(bot_id)
            else:
                in_flight.append((tick + plan_delay, bot_id, request))
        due = [item for item in in_flight if item[0] <= tick]
        in_flight = [item for item in in_flight if item[0] > tick]
        for _, bot_id, request in due:
            bots.accept(bot_id, run_plan(request))
        game.step()
        eaten += len(game.take_delta().get("eaten", []))
    return eaten


def test_a_bot_plans_its_way_to_food() -> None:
    game = SnakeGame(20, 20, seed=1, food_count=1, stone_limit=0)
    game.place_snake("bot", [(5, 10), (4, 10), (3, 10)], bot=True)
    game.place_food(15, 3, 5)
    bots = SnakeBots(game)
    play(game, bots, 25)
    assert game.player_stats("bot")["score"] >= 5


def test_a_plan_that_starts_with_a_turn_is_followed_from_the_next_cell() -> None:
    """A plan comes back after the head moved on: it is asked for from the cell the head
    moves to, so the bot follows it at once instead of asking again tick after tick."""
    game = SnakeGame(20, 20, seed=1, food_count=0, stone_limit=0)
    game.place_snake("bot", [(5, 10), (4, 10), (3, 10)], bot=True)
    game.place_food(5, 4, 5)  # up and back left: the way starts with a turn
    bots = SnakeBots(game)
    asked = 0
    for tick in range(9):  # 7 steps from the next cell, one tick for the plan to come
        if game.player_stats("bot")["score"]:
            break
        requests = bots.act(tick)
        asked += len(requests)
        game.step()
        for bot_id, request in requests:
            bots.accept(bot_id, run_plan(request))
    assert game.player_stats("bot") == {"score": 5, "alive": True}
    assert asked == 1


def four_bots(seed: int) -> tuple[SnakeGame, SnakeBots]:
    game = SnakeGame(30, 30, seed=seed)
    for number in range(4):
        game.add_player(f"b{number}", f"Bot {number}", bot=True)
    return game, SnakeBots(game)


def test_planning_bots_eat_several_times_more_than_wandering_ones() -> None:
    planned = sum(play(*four_bots(seed), 400) for seed in range(3))
    wandering = sum(play(*four_bots(seed), 400, plan_delay=None) for seed in range(3))
    assert planned >= 60, planned
    assert planned >= 3 * wandering, (planned, wandering)


def test_bots_on_a_field_far_larger_than_their_window_find_food() -> None:
    """On a world-sized field a plan sees only its window (cut from the rules' grid):
    the food in it is found all the same."""

    def field(seed: int) -> tuple[SnakeGame, SnakeBots]:
        game = SnakeGame.create(GameSetup(300, 300, {}, seed))  # 5 x 5 windows
        for number in range(6):
            game.add_player(f"b{number}", f"Bot {number}", bot=True)
        return game, SnakeBots(game)

    planned = sum(play(*field(seed), 120) for seed in range(2))
    wandering = sum(play(*field(seed), 120, plan_delay=None) for seed in range(2))
    # Food is dense (one a 120 cells): wandering finds some, planning much more.
    assert planned >= 30, planned
    assert planned >= 2 * wandering, (planned, wandering)


def test_a_bot_without_plans_still_avoids_walls_and_stones() -> None:
    game = SnakeGame(12, 12, seed=3, food_count=0, stone_limit=4)
    game.place_snake("bot", [(8, 5), (7, 5), (6, 5)], bot=True)
    game.place_stone(9, 6)
    bots = SnakeBots(game)
    for tick in range(30):
        bots.act(tick)  # requests are never answered: safe moves only
        game.step()
        assert game.player_stats("bot")["alive"], f"died at tick {tick}"


def test_a_plan_that_runs_into_a_new_obstacle_is_dropped() -> None:
    game = SnakeGame(20, 20, seed=2, food_count=1, stone_limit=5)
    game.place_snake("bot", [(5, 10), (4, 10), (3, 10)], bot=True)
    game.place_food(12, 10, 3)
    bots = SnakeBots(game)
    (bot_id, request), = bots.act(0)
    bots.accept(bot_id, run_plan(request))  # straight right along y=10
    game.place_stone(6, 10)  # right in front of the head now
    bots.act(1)
    game.step()
    assert game.player_stats("bot")["alive"]
    head, moving, _ = game.head_of("bot")
    assert moving in ("up", "down")


def test_a_dead_bot_respawns_after_a_pause() -> None:
    game = SnakeGame(12, 12, seed=4, food_count=0, stone_limit=0)
    game.place_snake("bot", [(11, 5), (10, 5), (9, 5)], bot=True, direction="right")
    bots = SnakeBots(game)
    game.step()  # into the wall: dead
    assert not game.player_stats("bot")["alive"]
    for tick in range(RESPAWN_TICKS + 2):
        bots.act(tick)
        game.step()
    assert game.player_stats("bot")["alive"]
    assert len(game.snapshot()["snakes"][0]["body"]) == 3


def test_an_empty_plan_frees_the_bot_to_ask_again() -> None:
    game = SnakeGame(20, 20, seed=5, food_count=1, stone_limit=0)
    game.place_snake("bot", [(5, 10), (4, 10), (3, 10)], bot=True)
    bots = SnakeBots(game)
    assert len(bots.act(0)) == 1
    assert bots.act(1) == [], "one request in flight at a time"
    bots.accept("bot", [])
    assert len(bots.act(2)) == 1


def test_the_catalogs_snake_steers_its_bots_and_the_rules_know_no_bots() -> None:
    assert get_game("snake") is SnakeWithBots
    game = SnakeWithBots.create(GameSetup(20, 20, seed=1))
    driver = game.make_bot_driver()  # what the room calls
    assert isinstance(driver, SnakeBots) and driver.game is game
    assert SnakeGame.create(GameSetup(20, 20, seed=1)).make_bot_driver() is None  # the bare rules: no driver
    assert isinstance(SnakeWithBots.restore(game.save()).make_bot_driver(), SnakeBots)
