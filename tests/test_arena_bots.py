"""The arena's bots, tick by tick with fixed seeds."""

from __future__ import annotations

import ast
import math
from pathlib import Path

from asgi_mmo.games.arena.bots import STANDOFF, STANDOFF_BAND, ArenaBots
from asgi_mmo.games.arena.game import Arena
from asgi_mmo.games.arena.rules import ArenaGame
from asgi_mmo.games.base import GameSetup, ScoreEvent

DT = 0.05
PACKAGE = Path(__file__).parent.parent / "asgi_mmo" / "games" / "arena"


def tick(game: ArenaGame, bots: ArenaBots) -> list[ScoreEvent]:
    assert bots.act(game.tick) == []  # arena bots ask for no plans
    return game.step(game.tick + 1, DT)


def distance(game: ArenaGame, a: str, b: str) -> float:
    ships = game.ships()
    return math.hypot(ships[a].x - ships[b].x, ships[a].y - ships[b].y)


def test_the_game_in_the_catalog_has_bots_the_bare_rules_none() -> None:
    assert isinstance(Arena.create(GameSetup(60, 40, {}, 1)).make_bot_driver(), ArenaBots)
    assert ArenaGame.create(GameSetup(60, 40, {}, 1)).make_bot_driver() is None
    assert Arena.name == "arena"


def test_bots_fight_hit_score_die_and_respawn() -> None:
    game = Arena.create(GameSetup(60, 40, {}, seed=1))
    for number in range(6):
        game.add_player(f"b{number}", f"Bot {number}", bot=True)
    bots = game.make_bot_driver()
    game.take_delta()
    shots = hits = 0
    died: set[str] = set()
    respawned: set[str] = set()
    events: list[ScoreEvent] = []
    for _ in range(1200):  # a minute at 20 Hz
        events += tick(game, bots)
        delta = game.take_delta()
        shots += len(delta.get("shots", ()))
        hits += sum(1 for shot in delta.get("shots", ()) if shot[5] is not None)
        died.update(delta.get("died", ()))
        respawned.update(s["id"] for s in delta.get("ships", ()) if s["id"] in died)
    assert died == respawned == {f"b{number}" for number in range(6)}
    assert shots > 300 and hits > shots / 3, (shots, hits)
    assert len(events) > 20 and all(e.bot and e.score > 0 for e in events)
    game.remove_player("b0")
    tick(game, bots)  # a bot that left is forgotten, not steered


def test_a_bot_closes_in_keeps_its_distance_and_hits() -> None:
    game = Arena.create(GameSetup(60, 40, {"hit_points": 10}, seed=2))
    game.place_ship("me", 30, 20)
    game.place_ship("bot", 5, 20, bot=True)
    bots = game.make_bot_driver()
    for _ in range(40):  # 25 units away at 12 units/s: 2 s to close in
        tick(game, bots)
    near = [distance(game, "me", "bot")]
    moves = []
    for _ in range(40):
        tick(game, bots)
        near.append(distance(game, "me", "bot"))
        moves.append((game.ships()["bot"].x, game.ships()["bot"].y))
    assert all(STANDOFF - STANDOFF_BAND - 1 <= d <= STANDOFF + STANDOFF_BAND + 1 for d in near), near
    assert len(set(moves)) == 40  # it strafes, it does not park
    assert game.ships()["me"].alive and game.snapshot()["ships"][0]["hp"] < 10  # hit
    for _ in range(100):
        tick(game, bots)
    assert game.player_stats("me")["alive"] is False  # ten hits in well under eight seconds


def test_a_bot_holds_fire_out_of_range() -> None:
    game = Arena.create(GameSetup(100, 40, {}, seed=3))
    game.place_ship("me", 90, 20)
    game.place_ship("bot", 10, 20, bot=True)
    bots = game.make_bot_driver()
    game.take_delta()
    tick(game, bots)
    delta = game.take_delta()
    assert "shots" not in delta
    assert game.ships()["bot"].vx > 0  # on its way


def test_a_dead_bot_respawns_once_the_delay_has_passed() -> None:
    game = Arena.create(GameSetup(60, 40, {"hit_points": 1, "respawn_seconds": 1.5}, seed=4))
    game.place_ship("me", 10, 20)
    game.place_ship("bot", 20, 20, bot=True)
    bots = game.make_bot_driver()
    game.apply_input("me", ArenaGame.parse_input({"fire": True}))
    tick(game, bots)
    assert not game.ships()["bot"].alive
    for _ in range(29):
        tick(game, bots)
        assert not game.ships()["bot"].alive
    tick(game, bots)  # tick 31: 30 ticks (1.5 s) after its death at tick 1
    assert game.ships()["bot"].alive


def test_a_lone_bot_wanders_inside_the_field() -> None:
    game = Arena.create(GameSetup(30, 20, {}, seed=5))
    game.add_player("bot", "Bot", bot=True)
    bots = game.make_bot_driver()
    places = set()
    for _ in range(400):
        tick(game, bots)
        s = game.ships()["bot"]
        places.add((round(s.x / 5), round(s.y / 5)))
    assert len(places) >= 8  # it gets around


def test_rules_do_not_import_the_bots() -> None:
    def imports(module: str) -> set[str]:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        found = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        found |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        return found

    for lower in ("rules", "ships", "inputs", "options", "geometry", "delta"):
        assert not {"asgi_mmo.games.arena.bots", "asgi_mmo.games.arena.game"} & imports(lower), lower
    assert "asgi_mmo.games.arena.game" not in imports("bots")
