"""The arena rules, tick by tick, with fixed seeds (inputs: test_arena_inputs.py)."""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import orjson
import pytest

from asgi_mmo.games.arena import geometry
from asgi_mmo.games.arena.bots import ArenaBots
from asgi_mmo.games.arena.delta import apply_delta
from asgi_mmo.games.arena.game import Arena
from asgi_mmo.games.arena.inputs import ArenaInput
from asgi_mmo.games.arena.options import (
    OPTIONS,
    SHIP_RADIUS,
    SHOT_RANGE,
    SPAWN_CLEARANCE,
    SPAWN_WALL_MARGIN,
    ArenaRules,
)
from asgi_mmo.games.arena.rules import ArenaGame
from asgi_mmo.games.base import GameSetup, ScoreEvent

DT = 0.05  # 20 Hz


def field(width: int = 60, height: int = 40, seed: int = 1, **options: Any) -> ArenaGame:
    return ArenaGame.create(GameSetup(width, height, options, seed))


def ship(game: ArenaGame, pid: str) -> dict[str, Any]:
    return next(s for s in game.snapshot()["ships"] if s["id"] == pid)


def send(game: ArenaGame, pid: str, **data: Any) -> None:
    game.apply_input(pid, ArenaGame.parse_input(data))


def run(game: ArenaGame, steps: int = 1, dt: float = DT) -> list[ScoreEvent]:
    events: list[ScoreEvent] = []
    for _ in range(steps):
        events += game.step(game.tick + 1, dt)
    return events


def duel(**options: Any) -> ArenaGame:
    """A at (10, 20) aiming right at B, 10 units away, both still."""
    game = field(**options)
    game.place_ship("a", 10, 20, name="Ann")
    game.place_ship("b", 20, 20, name="Bob")
    game.take_delta()
    return game


# -- the game's description ------------------------------------------------------------


def test_class_attributes() -> None:
    assert (ArenaGame.name, ArenaGame.title) == ("arena", "Arena")
    assert ArenaGame.description and (ArenaGame.default_width, ArenaGame.default_height) == (60, 40)
    assert ArenaGame.options is OPTIONS
    assert set(OPTIONS) == {"hit_points", "ship_speed", "fire_cooldown_ms", "respawn_seconds", "lag_compensation_ms"}
    assert OPTIONS["hit_points"].type == "integer" and OPTIONS["hit_points"].default == 3
    assert (OPTIONS["hit_points"].minimum, OPTIONS["hit_points"].maximum) == (1, 10)
    lag = OPTIONS["lag_compensation_ms"]
    assert (lag.type, lag.default, lag.minimum, lag.maximum) == ("integer", 200, 0, 200)
    assert OPTIONS["ship_speed"].type == OPTIONS["respawn_seconds"].type == "number"
    for option in OPTIONS.values():
        assert option.minimum is not None and option.maximum is not None
        assert option.minimum <= float(option.default) <= option.maximum
    assert ArenaRules.from_options({}) == ArenaRules()
    assert ArenaRules.from_options({"hit_points": 4.0, "ship_speed": 20}) == ArenaRules(hit_points=4, ship_speed=20.0)
    assert ArenaRules().as_options() == {name: option.default for name, option in OPTIONS.items()}


@pytest.mark.parametrize(
    "options",
    [{"lives": 3}, {"hit_points": 0}, {"hit_points": 11}, {"hit_points": 2.5}, {"hit_points": True},
     {"ship_speed": "fast"}, {"ship_speed": math.nan}, {"ship_speed": math.inf}, {"lag_compensation_ms": 201}],
)
def test_create_refuses_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        field(**options)


def test_create_gives_an_empty_field() -> None:
    game = field(hit_points=5, ship_speed=20)
    snap = game.snapshot()
    assert snap == {
        "width": 60, "height": 40, "ships": [],
        "rules": {"hit_points": 5, "ship_speed": 20.0, "fire_cooldown_ms": 300, "respawn_seconds": 1.5,
                  "lag_compensation_ms": 200, "ship_radius": SHIP_RADIUS, "shot_range": SHOT_RANGE},
    }  # fmt: skip
    assert game.take_delta() == {}
    with pytest.raises(ValueError):
        ArenaGame(3, 40)


def test_same_seed_same_game() -> None:
    def play(seed: int) -> dict[str, Any]:
        game = Arena.create(GameSetup(40, 30, {}, seed))
        for number in range(5):
            game.add_player(f"b{number}", f"Bot {number}", bot=True)
        bots = game.make_bot_driver()
        for tick in range(1, 200):
            bots.act(game.tick)
            game.step(tick, DT)
        return game.snapshot()

    assert play(7) == play(7)
    assert play(7) != play(8)


# -- movement ----------------------------------------------------------------------------


def test_quantize_rounds_halves_up_and_never_gives_minus_zero() -> None:
    assert geometry.quantize(1.0005000000000002) == 1.001
    assert geometry.quantize(0.0625) == 0.063  # an exact half in binary: up, not to even
    assert geometry.quantize(-0.0625) == -0.062
    assert math.copysign(1, geometry.quantize(-0.0004)) == 1
    assert math.copysign(1, geometry.quantize(-0.0)) == 1


def test_velocity_and_advance_are_the_documented_formula() -> None:
    assert geometry.velocity(1, 0, 12) == (12.0, 0.0)
    assert geometry.velocity(0.5, -0.25, 12) == (6.0, -3.0)  # shorter than 1: as it is
    assert geometry.velocity(1, 1, 12) == (8.485, 8.485)  # longer: scaled to length 1
    assert geometry.velocity(-1, 1, 10) == (-7.071, 7.071)
    assert geometry.advance(10, 20, 12, -3, DT, 60, 40, 0.8) == (10.6, 19.85)
    assert geometry.advance(59, 1, 12, -30, DT, 60, 40, 0.8) == (59.2, 0.8)  # clamped, then rounded
    x, y = 10.0, 20.0
    for _ in range(3):
        x, y = geometry.advance(x, y, 8.485, 8.485, DT, 60, 40, 0.8)
    assert (x, y) == (11.272, 21.272)  # 0.42425 a step, rounded at every step (not 11.27275)


def test_a_move_takes_effect_at_the_next_step_and_lasts() -> None:
    game = field()
    game.place_ship("a", 10, 20)
    run(game)
    send(game, "a", move=[1, 0])
    assert (ship(game, "a")["x"], ship(game, "a")["vx"]) == (10, 0)
    run(game)
    assert (ship(game, "a")["x"], ship(game, "a")["y"], ship(game, "a")["vx"]) == (10.6, 20, 12)
    run(game, 4)
    assert ship(game, "a")["x"] == 13.0
    send(game, "a", move=[0, -0.5])
    run(game, 2, dt=0.1)  # the room's tick length is the game's dt
    assert (ship(game, "a")["x"], ship(game, "a")["y"], ship(game, "a")["vy"]) == (13.0, 18.8, -6)


def test_the_last_move_and_aim_within_a_tick_win() -> None:
    game = field()
    game.place_ship("a", 10, 20)
    send(game, "a", move=[1, 0], aim=1)
    send(game, "a", move=[-1, 0])
    send(game, "a", aim=-2.5)
    run(game)
    assert (ship(game, "a")["x"], ship(game, "a")["aim"]) == (9.4, -2.5)


def test_ships_stay_inside_the_field() -> None:
    game = field(20, 10, ship_speed=100)
    game.place_ship("a", 10, 5, move=(1, 1))
    game.place_ship("b", 10, 5, move=(-1, -1))
    run(game, 10)
    assert (ship(game, "a")["x"], ship(game, "a")["y"]) == (20 - SHIP_RADIUS, 10 - SHIP_RADIUS)
    assert (ship(game, "b")["x"], ship(game, "b")["y"]) == (SHIP_RADIUS, SHIP_RADIUS)
    game.take_delta()
    run(game)
    assert game.take_delta() == {}  # pressed against a wall: nothing changes, nothing is sent


def test_aim_is_rounded_like_positions() -> None:
    game = field()
    game.place_ship("a", 10, 20)
    game.take_delta()
    send(game, "a", aim=math.pi)
    run(game)
    assert ship(game, "a")["aim"] == 3.142
    assert game.take_delta() == {"aims": [["a", 3.142]]}


# -- shots, hits, deaths ----------------------------------------------------------------------


def test_a_hit_costs_a_hit_point_and_the_tracer_ends_on_the_ship() -> None:
    game = duel()
    send(game, "a", fire=True)
    assert run(game) == []
    assert ship(game, "b")["hp"] == 2 and ship(game, "b")["alive"]
    assert game.take_delta() == {"hp": [["b", 2]], "shots": [["a", 10, 20, 20 - SHIP_RADIUS, 20, "b"]]}


def test_a_miss_is_reported_up_to_the_range_or_the_wall() -> None:
    game = duel()
    send(game, "a", aim=-math.pi / 2, fire=True)  # straight up: the wall at y = 0 is 20 away
    send(game, "b", aim=0, fire=True)  # right: the range ends at x = 45
    run(game)
    a, b = game.take_delta()["shots"]
    assert a == ["a", 10, 20, pytest.approx(10, abs=0.01), 0, None]  # the aim is rounded to 1/1000
    assert b == ["b", 20, 20, 20 + SHOT_RANGE, 20, None]


def test_targets_beyond_the_range_are_safe() -> None:
    for x, hit in [(10 + SHOT_RANGE + SHIP_RADIUS + 0.01, None), (10 + SHOT_RANGE + SHIP_RADIUS - 0.01, "t")]:
        game = field()
        game.place_ship("a", 10, 20)
        game.place_ship("t", x, 20)
        send(game, "a", fire=True)
        run(game)
        assert game.take_delta()["shots"][0][5] == hit


def test_the_nearest_live_ship_along_the_ray_is_hit() -> None:
    game = duel(hit_points=1)
    game.place_ship("c", 30, 20.5)
    game.place_ship("d", 15, 19.5, hp=1)
    send(game, "d", aim=0, fire=True)  # d shoots b (c is behind b)
    send(game, "a", fire=True)  # a shoots d, nearer than b: d still fires (simultaneous shots)
    assert run(game) == [ScoreEvent("d", "d", 1, False)]  # d scored for b as it died
    assert [(s["id"], s["alive"]) for s in game.snapshot()["ships"]] == [
        ("a", True), ("b", False), ("c", True), ("d", False),
    ]  # fmt: skip
    run(game, 5)  # the cooldown
    send(game, "a", fire=True)  # through dead d and dead b, to c
    run(game)
    assert not ship(game, "c")["alive"] and ship(game, "a")["score"] == 2


def test_death_scores_for_the_shooter_and_sends_the_victims_score() -> None:
    game = duel()
    game.place_ship("b", 20, 20, name="Bob", score=4, move=(1, 0))  # moving away along the line
    events: list[ScoreEvent] = []
    for _ in range(3):
        send(game, "a", fire=True)
        events = run(game, 6)  # 300 ms cooldown at 20 Hz
    assert events == [ScoreEvent("b", "Bob", 4, False)]
    b = ship(game, "b")
    assert (b["alive"], b["hp"], b["score"], b["x"], b["vx"], b["vy"]) == (False, 0, 4, 27.8, 0, 0)  # died at tick 13
    assert ship(game, "a")["score"] == 1
    assert game.player_stats("a") == {"score": 1, "alive": True}
    assert game.player_stats("b") == {"score": 4, "alive": False}
    run(game, 5)
    assert ship(game, "b")["x"] == 27.8  # the dead stay where they died


def test_a_ship_without_score_dies_without_an_event() -> None:
    game = duel(hit_points=1)
    send(game, "a", fire=True)
    assert run(game) == [] and not ship(game, "b")["alive"]


def test_ships_that_shoot_each_other_both_die_and_both_score() -> None:
    game = duel(hit_points=1)
    send(game, "a", fire=True)
    send(game, "b", aim=math.pi, fire=True)
    events = run(game)
    assert events == [ScoreEvent("b", "Bob", 1, False), ScoreEvent("a", "Ann", 1, False)]  # in the order they died


def test_two_shots_at_a_dying_ship_one_kill() -> None:
    game = duel(hit_points=1)
    game.place_ship("c", 10, 21)
    send(game, "a", fire=True)
    send(game, "c", aim=math.atan2(-1, 10), fire=True)
    run(game)
    assert [ship(game, pid)["score"] for pid in "ac"] == [1, 0]  # join order decides
    assert [shot[5] for shot in game.take_delta()["shots"]] == ["b", "b"]


def test_cooldown_drops_early_triggers() -> None:
    game = duel(hit_points=10)
    fired = []
    for tick in range(1, 16):
        send(game, "a", fire=True)
        run(game)
        if game.take_delta().get("shots"):
            fired.append(tick)
    assert fired == [1, 7, 13]
    game = duel(hit_points=10, fire_cooldown_ms=1000)
    send(game, "a", fire=True)
    run(game)
    send(game, "a", fire=True)  # during the cooldown: dropped, not kept
    run(game, 30)
    assert ship(game, "b")["hp"] == 9


def test_the_dead_cannot_fire_and_the_shooter_is_never_its_own_target() -> None:
    game = duel(hit_points=1)
    send(game, "a", fire=True)
    run(game)
    game.take_delta()
    send(game, "b", aim=math.pi, fire=True)
    run(game)
    assert ship(game, "a")["alive"] and "shots" not in game.take_delta()
    game = field()
    game.place_ship("a", 10, 20)
    send(game, "a", fire=True)
    run(game)
    assert game.take_delta()["shots"][0][5] is None and ship(game, "a")["hp"] == 3


# -- lag compensation: "a shot that hit on the shooter's screen counts" -----------------------


def crossing(**options: Any) -> ArenaGame:
    """A at (10, 20) aims right along y = 20; B, 20 units away, crosses the line
    downwards at 1.2 units a tick: y = 14 + 1.2 * tick, exactly on it at tick 5."""
    game = duel(ship_speed=24, **options)
    game.place_ship("b", 30, 14, name="Bob", move=(0, 1))
    return game


def fire_at(game: ArenaGame, tick: int, **data: Any) -> list[Any]:
    """Step up to `tick - 1`, fire with `data`, step `tick`; return the shot."""
    run(game, tick - 1 - game.tick)
    game.take_delta()
    send(game, "a", fire=True, **data)
    run(game)
    assert ship(game, "b")["y"] == pytest.approx(14 + 1.2 * tick)
    (shot,) = game.take_delta()["shots"]
    return list(shot)


def test_a_shot_that_hit_on_the_shooters_screen_counts() -> None:
    # The shooter saw tick 5 (B on the line) and fired; its input reached the
    # room two ticks later, when B had moved 2.4 units on.
    assert fire_at(crossing(), 7, seen=5) == ["a", 10, 20, 30 - SHIP_RADIUS, 20, "b"]
    game = crossing()
    fire_at(game, 7, seen=5)
    assert ship(game, "b")["hp"] == 2


def test_the_same_shot_without_seen_is_judged_now_and_misses() -> None:
    assert fire_at(crossing(), 7) == ["a", 10, 20, 10 + SHOT_RANGE, 20, None]


def test_a_shot_older_than_200_ms_is_judged_at_the_limit() -> None:
    # Tick 1 (B at 15.2) is 8 ticks back at tick 9: judged 4 ticks (200 ms) back, at tick 5.
    assert fire_at(crossing(), 9, seen=1)[5] == "b"
    assert fire_at(crossing(), 8, seen=1)[5] is None  # the limit, tick 4: B at 18.8
    assert fire_at(crossing(), 10, seen=1)[5] is None  # tick 6: B at 21.2


def test_seen_in_the_future_is_judged_now() -> None:
    assert fire_at(crossing(), 5, seen=10**6)[5] == "b"
    assert fire_at(crossing(), 7, seen=10**6)[5] is None


@pytest.mark.parametrize(("lag_ms", "hit"), [(0, None), (99, None), (100, "b"), (200, "b")])
def test_the_lag_compensation_option_bounds_the_look_back(lag_ms: int, hit: str | None) -> None:
    assert fire_at(crossing(lag_compensation_ms=lag_ms), 7, seen=5)[5] == hit  # 2 ticks = 100 ms


def test_the_look_back_is_measured_in_time_whatever_the_tick_rate() -> None:
    game = field(ship_speed=60)  # at 60 Hz: 1 unit a tick
    game.place_ship("a", 10, 20)
    game.place_ship("b", 30, 8, move=(0, 1))  # on the line at tick 12
    run(game, 23, dt=1 / 60)
    send(game, "a", fire=True, seen=5)  # 19 ticks back: judged 12 (200 ms) back
    run(game, 1, dt=1 / 60)
    assert ship(game, "b")["hp"] == 2


def test_a_ship_is_not_hit_where_it_was_before_it_existed() -> None:
    for seen, hp in [(3, 3), (4, 2)]:
        game = duel()
        run(game, 3)
        game.remove_player("b")
        game.place_ship("c", 20, 20)  # joins after tick 3: first shown in tick 4's picture
        run(game)
        send(game, "a", fire=True, seen=seen)
        run(game)
        assert ship(game, "c")["hp"] == hp


def test_skipped_ticks_keep_the_history_whole() -> None:
    game = crossing()
    run(game, 5)  # b on the line
    game.step(9, DT)  # the room skipped 6, 7, 8: the game did not move in them
    assert ship(game, "b")["y"] == 21.2
    send(game, "a", fire=True, seen=7)  # saw tick 7: b still at y = 20
    run(game)
    assert ship(game, "b")["hp"] == 2
    with pytest.raises(ValueError):
        game.step(10, DT)
    with pytest.raises(ValueError):
        game.step(11, 0.0)


# -- respawns, joins and leaves ------------------------------------------------------------


def kill_b(game: ArenaGame) -> None:
    send(game, "a", fire=True)
    run(game)
    assert not ship(game, "b")["alive"]


def test_respawn_after_the_delay_with_a_fresh_ship() -> None:
    game = duel(hit_points=1, respawn_seconds=1.0)  # 20 ticks
    send(game, "b", move=[1, 0])  # the stick is kept for the next ship
    kill_b(game)  # at tick 1, having moved
    send(game, "b", respawn=True, fire=True, aim=2)  # too early: the request waits, the fire is dropped
    run(game, 19)
    assert not ship(game, "b")["alive"]
    game.take_delta()
    run(game)  # tick 21: 20 ticks after its death
    b = ship(game, "b")
    assert b["alive"] and (b["hp"], b["score"], b["vx"], b["vy"], b["aim"]) == (1, 0, 12, 0, 2)
    assert game.take_delta() == {"ships": [b]}
    run(game)
    assert ship(game, "b")["x"] == geometry.quantize(b["x"] + 0.6)
    assert "shots" not in game.take_delta()


def test_respawn_needs_a_request_and_is_ignored_while_alive() -> None:
    game = duel(hit_points=1, respawn_seconds=0)
    send(game, "a", respawn=True)
    kill_b(game)
    run(game, 10)
    assert not ship(game, "b")["alive"]
    send(game, "b", respawn=True)
    run(game)
    assert ship(game, "b")["alive"]
    assert ship(game, "a")["score"] == 1  # a's request while alive changed nothing


def test_a_respawned_ship_starts_from_zero() -> None:
    game = duel(hit_points=1, respawn_seconds=0)
    game.place_ship("b", 20, 20, name="Bob", score=3)
    kill_b(game)
    send(game, "b", respawn=True)
    run(game)
    assert ship(game, "b")["score"] == 0 and ship(game, "b")["hp"] == 1


def test_spawns_keep_clear_of_walls_and_ships() -> None:
    game = field(seed=4)
    for number in range(12):
        game.add_player(f"p{number}", f"P{number}")
    ships = game.snapshot()["ships"]
    assert [s["color"] for s in ships][:2] == ["#e6194b", "#3cb44b"]
    for s in ships:
        assert s["alive"] and s["hp"] == 3 and s["score"] == 0 and (s["vx"], s["vy"]) == (0, 0)
        assert SPAWN_WALL_MARGIN <= s["x"] <= 60 - SPAWN_WALL_MARGIN
        assert SPAWN_WALL_MARGIN <= s["y"] <= 40 - SPAWN_WALL_MARGIN
        assert s["aim"] == geometry.aim_towards(s["x"], s["y"], 30, 20)  # facing the middle
    for i, s in enumerate(ships):
        for t in ships[:i]:
            assert math.hypot(s["x"] - t["x"], s["y"] - t["y"]) >= SPAWN_CLEARANCE
    crowded = field(10, 10)
    for number in range(30):
        crowded.add_player(f"p{number}", f"P{number}")  # no room: the roomiest of the tries
    assert all(s["alive"] and 2 <= s["x"] <= 8 and 2 <= s["y"] <= 8 for s in crowded.snapshot()["ships"])
    with pytest.raises(ValueError):
        crowded.add_player("p0", "again")


def test_leaving_sends_a_live_ships_score() -> None:
    game = duel(hit_points=1)
    game.place_ship("a", 10, 20, name="Ann", score=2)
    game.place_ship("c", 40, 30, name="Cy")
    kill_b(game)
    game.place_ship("b", 20, 20, name="Bob", score=5)
    run(game, 5)  # the cooldown
    kill_b(game)
    assert game.remove_player("b") is None  # dead: its score went when it died
    assert game.remove_player("a") == ScoreEvent("a", "Ann", 4, False)
    assert game.remove_player("c") is None  # score 0
    assert game.remove_player("nobody") is None
    game.apply_input("nobody", ArenaInput(fire=True))  # ignored
    assert game.take_delta()["removed"] == ["b", "a", "c"]
    with pytest.raises(KeyError):
        game.player_stats("a")


# -- delta and snapshot ------------------------------------------------------------------


def random_input(rng: random.Random, tick: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if rng.random() < 0.5:
        data["move"] = [rng.choice([-1, 0, 1, rng.uniform(-1, 1)]) for _ in range(2)]
    if rng.random() < 0.5:
        data["aim"] = rng.uniform(-math.pi, math.pi)
    if rng.random() < 0.4:
        data["fire"] = True
        if rng.random() < 0.7:
            data["seen"] = max(0, tick - rng.randrange(8))
    if rng.random() < 0.2 or not data:
        data["respawn"] = True
    return data


def busy_game(seed: int) -> tuple[Arena, ArenaBots, random.Random]:
    game = Arena.create(GameSetup(40, 30, {"respawn_seconds": 0.4, "hit_points": 2}, seed))
    for number in range(6):
        game.add_player(f"bot{number}", f"Bot {number}", bot=True)
    return game, game.make_bot_driver(), random.Random(seed)


def play_a_tick(game: ArenaGame, bots: ArenaBots, rng: random.Random, humans: list[str]) -> list[ScoreEvent]:
    for pid in humans:
        if rng.random() < 0.5:
            send(game, pid, **random_input(rng, game.tick))
    bots.act(game.tick)
    return game.step(game.tick + 1, DT)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_delta_applied_to_previous_snapshot_gives_the_next(seed: int) -> None:
    game, bots, rng = busy_game(seed)
    humans: list[str] = []
    joined = 0
    previous = game.snapshot()
    game.take_delta()
    seen = {"removed": 0, "ships": 0, "moves": 0, "aims": 0, "hp": 0, "died": 0, "scores": 0, "shots": 0}
    for _ in range(300):
        between: dict[str, Any] | None = None
        if rng.random() < 0.05:
            joined += 1
            humans.append(f"h{joined}")
            game.add_player(humans[-1], f"Human {joined}")
            between = game.snapshot()  # a client that joins between two ticks
        if humans and rng.random() < 0.03:
            game.remove_player(humans.pop(rng.randrange(len(humans))))
        play_a_tick(game, bots, rng, humans)
        delta = orjson.loads(orjson.dumps(game.take_delta()))  # as it crosses the wire
        expected = game.snapshot()
        for key in delta:
            seen[key] += 1
        assert list(delta) == [key for key in seen if key in delta]  # in the documented order
        twice = apply_delta(apply_delta(copy.deepcopy(previous), delta), delta)
        assert apply_delta(previous, delta) == expected
        assert twice == expected
        if between is not None:
            assert apply_delta(between, delta) == expected
        previous = orjson.loads(orjson.dumps(expected))
    assert all(seen.values()), seen  # every kind of change happened


def test_a_delta_over_several_steps_nets_out() -> None:
    game, bots, rng = busy_game(5)
    before = game.snapshot()
    game.take_delta()
    for _ in range(40):
        play_a_tick(game, bots, rng, [])
    delta = game.take_delta()
    assert len(delta["shots"]) > 1
    assert apply_delta(before, delta) == game.snapshot()


@pytest.mark.parametrize("seed", [1, 2])
def test_restored_game_steps_identically(seed: int) -> None:
    game, bots, rng = busy_game(seed)
    humans = ["h1", "h2", "h3"]
    for pid in humans:
        game.add_player(pid, pid.upper())
    for _ in range(60):
        play_a_tick(game, bots, rng, humans)
    humans.append("late")
    game.add_player("late", "Late")  # between two ticks: first shown in the next one
    game.take_delta()
    saved = orjson.loads(orjson.dumps(game.save()))
    restored = Arena.restore(saved)
    assert restored.save() == saved and restored.snapshot() == game.snapshot()
    assert any(not s["alive"] for s in saved["ships"]) and any(s["history"] for s in saved["ships"])
    # Fresh drivers with one seed on both sides, and the same human inputs.
    driver, restored_driver = ArenaBots(game, seed=9), ArenaBots(restored, seed=9)
    for _ in range(100):
        state = rng.getstate()
        events = play_a_tick(game, driver, rng, humans)
        rng.setstate(state)
        assert play_a_tick(restored, restored_driver, rng, humans) == events
        assert restored.take_delta() == game.take_delta()
        assert restored.snapshot() == game.snapshot()
    assert restored.save() == game.save()


def test_unknown_saved_versions_are_refused() -> None:
    saved = field().save()
    saved["version"] = 2
    with pytest.raises(ValueError):
        ArenaGame.restore(saved)
