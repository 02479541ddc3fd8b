"""The snake game's bucket index (games/snake/spatial.py), tick by tick, without a room.

A client that holds the whole field as buckets and applies each tick's
fragments must hold exactly the field: whatever happened between two takes
(moves, a move into the cell the tail just left, spawns, respawns, players
joining and leaving, several steps without a take), and so must a client that
starts from the bucket snapshots at any tick. And a fragment lists each
cell once, as it ended (docs/snake.md "Views"); and the cells it counts per
bucket for the minimap are the field's.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson
import pytest

from asgi_mmo.games.base import GameSetup
from asgi_mmo.games.snake import spatial
from asgi_mmo.games.snake.game import SnakeWithBots
from asgi_mmo.games.snake.rules import RESPAWN
from asgi_mmo.games.snake.viewdelta import ViewPicture, inside

SIZE = 8  # small buckets: snakes cross them often
DIRS = ("up", "down", "left", "right")


def whole_view(game: SnakeWithBots) -> dict[str, int]:
    return {"x": 0, "y": 0, "width": game.width, "height": game.height, "bucket": SIZE}


def holder(game: SnakeWithBots) -> ViewPicture:
    """A client holding every bucket of the field, from a view SNAPSHOT taken now."""
    buckets = [(bx, by) for by in range(-(-game.height // SIZE)) for bx in range(-(-game.width // SIZE))]
    parts = [game.bucket_snapshot(bx, by, SIZE) for bx, by in buckets]
    snapshot = game.view_snapshot(parts, (0, 0, game.width, game.height))
    return ViewPicture.of(whole_view(game), orjson.loads(orjson.dumps(snapshot)))


def take(game: SnakeWithBots, picture: ViewPicture) -> dict[Any, dict[str, Any]]:
    changes = game.bucket_changes(SIZE)
    fragments = orjson.loads(orjson.dumps(list(changes.values())))
    for fragment in fragments:
        cells = [(sid, x, y) for sid, x, y, _ in fragment.get("cells", ())] + [
            tuple(cut) for cut in fragment.get("cut", ())
        ]
        assert len(cells) == len(set(cells)), f"a cell listed twice in {fragment}"
    picture.apply({"buckets": fragments})
    return changes


def assert_holds_the_field(picture: ViewPicture, game: SnakeWithBots) -> None:
    rect = whole_view(game)
    field = game.snapshot()
    assert inside(picture.snapshot(), rect) == inside(field, rect)
    # the minimap's counts, kept as snakes move, are the field's (ghosts' cells too)
    counted = Counter((x // SIZE, y // SIZE) for snake in field["snakes"] for x, y in snake["body"])
    assert dict(game.occupancy(SIZE)) == dict(counted)


def assert_serials_count_from_the_head(game: SnakeWithBots) -> None:
    """Each cell of a bucket snapshot has its serial: the head's serial less its place in the body."""
    snakes = game._snakes  # noqa: SLF001 - the serials are the index's, the bodies the rules'
    for by in range(-(-game.height // SIZE)):
        for bx in range(-(-game.width // SIZE)):
            for sid, x, y, serial in game.bucket_snapshot(bx, by, SIZE)["cells"]:
                snake = snakes[sid]
                assert snake.serial - serial == list(snake.body).index((x, y)), (sid, x, y)


def new_game(seed: int, width: int = 40, height: int = 32) -> SnakeWithBots:
    game = SnakeWithBots.create(GameSetup(width, height, {}, seed))
    game.bucket_changes(SIZE)  # a view room builds its index before its first tick
    return game


@pytest.mark.parametrize("long", [spatial.LONG, 4], ids=["long-as-shipped", "long-from-4-cells"])
@pytest.mark.parametrize("seed", range(6))
def test_applying_every_tick_s_fragments_holds_exactly_the_field(
    seed: int, long: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with snakes over 4 cells kept by bucket as they move (most of them, here): the
    shipped LONG is more than the snakes of a small field grow to in 300 ticks."""
    monkeypatch.setattr(spatial, "LONG", long)
    game = new_game(seed)
    rng = random.Random(seed)
    players = [f"p{n}" for n in range(12)]
    for pid in players:
        game.add_player(pid, pid)
    picture = holder(game)
    joined = len(players)
    for tick in range(1, 301):
        for pid in list(players):
            roll = rng.random()
            if roll < 0.25:
                game.apply_input(pid, rng.choice(DIRS))
            elif roll < 0.30:
                game.apply_input(pid, RESPAWN)
        if players and rng.random() < 0.05:  # someone leaves, someone joins, between two ticks
            game.remove_player(players.pop(rng.randrange(len(players))))
        if rng.random() < 0.05:
            players.append(pid := f"p{joined}")
            joined += 1
            game.add_player(pid, pid, bot=rng.random() < 0.5)
        game.step(tick, 0.1)
        if rng.random() < 0.1:  # a second step, and changes, before the take (no room does so; the index holds)
            if players and rng.random() < 0.5:
                game.remove_player(players.pop(rng.randrange(len(players))))
            game.step(tick, 0.1)
        take(game, picture)
        assert_holds_the_field(picture, game)
        # and the bucket snapshots (a long snake's cells kept as it moves, a short one's read off its
        # body) are the field too: a client that starts from them now and goes on with fragments holds it
        fresh = holder(game)
        assert_holds_the_field(fresh, game)
        assert_serials_count_from_the_head(game)
        if tick % 25 == 0:
            picture = fresh


def test_a_circling_snake_takes_the_cell_its_tail_leaves_and_lists_it_once() -> None:
    game = new_game(2, 20, 20)
    game.add_player("p", "p", bot=True)
    picture = holder(game)
    # Four cells round a 2x2 square: each move of the circle takes the cell the tail leaves.
    snake = game._snakes["p"]  # noqa: SLF001 - placing a snake where the test needs it
    game._set_body(snake, [(5, 5), (5, 6), (6, 6), (6, 5)], "up")  # noqa: SLF001 - head (5, 5)
    take(game, picture)
    assert_holds_the_field(picture, game)
    for tick, direction in enumerate(["right", "down", "left", "up"] * 3, start=1):
        tail = snake.body[-1]
        game.apply_input("p", direction)
        game.step(tick, 0.1)
        assert snake.alive and snake.body[0] == tail  # its head went where its tail was
        changes = take(game, picture)
        cuts = [tuple(c) for f in changes.values() for c in f.get("cut", ())]
        assert ("p", *tail) not in cuts
        assert_holds_the_field(picture, game)


def test_a_bucket_snapshot_is_current_between_ticks() -> None:
    """A welcome between two ticks reads the buckets: a snake that joined since the last tick is in them."""
    game = new_game(3)
    game.add_player("a", "a")
    take(game, holder(game))
    game.add_player("b", "b")
    picture = holder(game)
    assert {s["id"] for s in picture.snapshot()["snakes"]} == {"a", "b"}
    assert_holds_the_field(picture, game)
    game.step(1, 0.1)
    take(game, picture)
    assert_holds_the_field(picture, game)
