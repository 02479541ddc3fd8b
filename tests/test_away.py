"""The away mark: a seat kept while its player is away shows as away, not as a second player.

The rules mark an entry when the room says so (`games.base.MarksAway`), and send the
changed entry once, in the next delta; the room says so when a socket drops, when the
player resumes with the token (here or through another process), and for every human
of a room restored in another process. Driven directly, no sockets; the real server and
the page are in tests/test_away_e2e.py and tests/test_ui_play.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
import pytest
from anyio.abc import TaskGroup

from asgi_mmo import roomview
from asgi_mmo.cluster.owner import OwnedRoom
from asgi_mmo.games.arena.delta import apply_delta as apply_arena_delta
from asgi_mmo.games.arena.game import Arena
from asgi_mmo.games.base import GameSetup, MarksAway
from asgi_mmo.games.catalog import GAMES
from asgi_mmo.games.snake.game import SnakeWithBots
from asgi_mmo.games.snake.rules import SnakeGame, apply_delta
from asgi_mmo.games.snake.viewdelta import ViewPicture
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.settings import Settings
from tests.players import Player

SETTINGS = Settings(seat_seconds=30, idle_room_seconds=30, outbox_frames=8, bot_processes=0)


def entry(picture: dict[str, Any], key: str, player_id: str) -> dict[str, Any]:
    return next(item for item in picture[key] if item["id"] == player_id)


# ---- the rules -------------------------------------------------------------------------


def test_both_games_mark_away_players() -> None:
    for game_class in GAMES.values():
        assert isinstance(game_class.create(GameSetup(40, 30)), MarksAway), game_class.name


def test_a_snake_marked_away_is_sent_whole_once_and_the_mark_goes_as_it_came() -> None:
    game = SnakeGame.create(GameSetup(30, 30, {}, 3))
    game.add_player("a", "Ann")
    game.add_player("b", "Bea")
    game.step()
    held = game.snapshot()
    apply_delta(held, game.take_delta())
    assert "away" not in entry(game.snapshot(), "snakes", "a")
    game.set_away("a", True)
    game.set_away("a", True)  # a repeat changes nothing
    game.set_away("nobody", True)  # an unknown id is ignored
    assert entry(game.snapshot(), "snakes", "a")["away"] is True
    assert "away" not in entry(game.snapshot(), "snakes", "b")
    game.step()
    delta = game.take_delta()
    assert [s["id"] for s in delta["snakes"]] == ["a"] and delta["snakes"][0]["away"] is True
    apply_delta(held, delta)
    assert held == game.snapshot()
    game.step()
    assert "snakes" not in game.take_delta(), "the mark is sent once, when it changes"
    game.set_away("a", False)
    game.step()
    delta = game.take_delta()
    assert [s["id"] for s in delta["snakes"]] == ["a"] and "away" not in delta["snakes"][0]
    apply_delta(held, delta)
    assert held == game.snapshot() and "away" not in entry(held, "snakes", "a")


def test_the_mark_survives_save_and_restore() -> None:
    game = SnakeGame.create(GameSetup(30, 30, {}, 3))
    game.add_player("a", "Ann")
    game.set_away("a", True)
    copy = SnakeGame.restore(orjson.loads(orjson.dumps(game.save())))
    assert copy.snapshot() == game.snapshot() and entry(copy.snapshot(), "snakes", "a")["away"] is True
    arena = Arena.create(GameSetup(60, 40, {}, 3))
    arena.add_player("a", "Ann")
    arena.set_away("a", True)
    restored = Arena.restore(orjson.loads(orjson.dumps(arena.save())))
    assert restored.snapshot() == arena.snapshot() and entry(restored.snapshot(), "ships", "a")["away"] is True


def test_a_ship_marked_away_is_sent_whole_in_the_delta() -> None:
    game = Arena.create(GameSetup(60, 40, {}, 3))
    game.add_player("a", "Ann")
    game.add_player("b", "Bea")
    game.step(1, 0.1)
    held = game.snapshot()
    apply_arena_delta(held, game.take_delta())
    game.set_away("b", True)
    game.step(2, 0.1)
    delta = game.take_delta()
    assert [s["id"] for s in delta["ships"]] == ["b"] and delta["ships"][0]["away"] is True
    apply_arena_delta(held, delta)
    assert entry(held, "ships", "b")["away"] is True and "away" not in entry(held, "ships", "a")
    game.set_away("b", False)
    game.step(3, 0.1)
    apply_arena_delta(held, game.take_delta())
    assert "away" not in entry(held, "ships", "b")


def test_a_view_room_s_buckets_carry_the_mark() -> None:
    game = SnakeWithBots.create(GameSetup(100, 100, {}, 4))
    game.add_player("a", "Ann")
    game.bucket_changes(32)
    head = game.snapshot()["snakes"][0]["body"][0]
    bx, by = head[0] // 32, head[1] // 32
    picture = ViewPicture.of(
        {"x": bx * 32, "y": by * 32, "width": 32, "height": 32},
        game.view_snapshot([game.bucket_snapshot(bx, by, 32)], (bx * 32, by * 32, 32, 32)),
    )
    assert "away" not in picture.snakes["a"]
    game.set_away("a", True)
    game.step()
    changes = game.bucket_changes(32)
    picture.apply({"buckets": [changes[(bx, by)]]})
    assert picture.snakes["a"]["away"] is True
    game.set_away("a", False)
    game.step()
    picture.apply({"buckets": [game.bucket_changes(32)[(bx, by)]]})
    assert "away" not in picture.snakes["a"]


# ---- the room ---------------------------------------------------------------------------


@asynccontextmanager
async def stepping() -> AsyncIterator[TaskGroup]:
    async with anyio.create_task_group() as tasks:
        yield tasks
        tasks.cancel_scope.cancel()


def a_room(game: str = "snake", **settings: Any) -> Room:
    config = RoomConfig(game=game, width=40, height=30, **settings)
    room = Room("away-room", config, GAMES[game].create(GameSetup(40, 30, {}, 5)), SETTINGS)
    room.add_bots(config.bots)
    return room


def connect(room: Room, tasks: TaskGroup, name: str) -> Player:
    player = Player(room, room.join(name), SETTINGS.outbox_frames)
    tasks.start_soon(player.run)
    return player


async def tick(room: Room) -> None:
    room.step(anyio.current_time())
    await anyio.sleep(0.01)  # the writers hand the frames over


def held_by(player: Player, key: str) -> dict[str, Any]:
    """The picture `player` holds: its welcome's state with every tick applied (or the last state)."""
    picture: dict[str, Any] = player.welcome["state"]
    applier = apply_delta if key == "snakes" else apply_arena_delta
    for frame in player.frames:
        if frame["type"] == "state":
            picture = frame["state"]
        elif frame["type"] == "tick":
            picture = applier(picture, {k: v for k, v in frame.items() if k not in ("type", "tick", "ack")})
    return picture


def away_in_admin_list(room: Room) -> dict[str, bool]:
    return {entry["name"]: entry["away"] for entry in roomview.player_list(room)}


@pytest.mark.anyio
@pytest.mark.parametrize(("game", "key"), [("snake", "snakes"), ("arena", "ships")])
async def test_a_dropped_player_shows_away_and_resuming_with_the_token_clears_it(game: str, key: str) -> None:
    room = a_room(game, bots=1)
    async with stepping() as tasks:
        ann, bea = connect(room, tasks, "Ann"), connect(room, tasks, "Bea")
        await tick(room)
        assert "away" not in entry(held_by(ann, key), key, bea.seat.player_id)
        assert away_in_admin_list(room) == {"Bot 1": False, "Ann": False, "Bea": False}
        bea.leave()  # the socket drops: the seat is kept
        assert room.players == 1 and room.human_seats == 2
        await tick(room)
        marked = [f for f in ann.frames if f["type"] == "tick" and key in f]
        assert [s["id"] for s in marked[-1][key]] == [bea.seat.player_id] and marked[-1][key][0]["away"] is True
        assert entry(held_by(ann, key), key, bea.seat.player_id)["away"] is True
        assert entry(room.game.snapshot(), key, bea.seat.player_id)["away"] is True
        assert away_in_admin_list(room) == {"Bot 1": False, "Ann": False, "Bea": True}
        again = Player(room, room.seat_for_token(bea.seat.token), SETTINGS.outbox_frames)
        tasks.start_soon(again.run)
        assert "away" not in entry(again.welcome["state"], key, bea.seat.player_id), "the own entry is never away"
        await tick(room)
        assert "away" not in entry(held_by(ann, key), key, bea.seat.player_id)
        assert away_in_admin_list(room) == {"Bot 1": False, "Ann": False, "Bea": False}
        bots = [s for s in room.game.snapshot()[key] if s["bot"]]
        assert bots and all("away" not in s for s in bots), "a bot is never away"


@pytest.mark.anyio
async def test_a_new_seat_is_never_shown_away_and_a_leave_frees_it() -> None:
    room = a_room()
    async with stepping() as tasks:
        ann = connect(room, tasks, "Ann")
        bea = connect(room, tasks, "Bea")
        await tick(room)
        assert all("away" not in s for s in held_by(ann, "snakes")["snakes"])
        assert all("away" not in s for f in ann.frames if f["type"] == "tick" for s in f.get("snakes", ()))
        bea.leave(leave=True)
        await tick(room)
        assert [s["id"] for s in held_by(ann, "snakes")["snakes"]] == [ann.seat.player_id]


@pytest.mark.anyio
async def test_a_player_relayed_through_another_process_is_not_away() -> None:
    room = a_room()
    owned = OwnedRoom(room, "w|1", lambda channel, data: None, lambda marks, lease: None)
    room.elsewhere = owned
    async with stepping() as tasks:
        ann = connect(room, tasks, "Ann")
        far = room.join("Far")
        orjson.loads(owned.connect(far, "other:2"))  # its socket is on process other:2
        await tick(room)
        assert "away" not in entry(held_by(ann, "snakes"), "snakes", far.player_id)
        assert away_in_admin_list(room) == {"Ann": False, "Far": False}
        owned.disconnect(far, "other:2", leave=False)  # that socket dropped
        await tick(room)
        assert entry(held_by(ann, "snakes"), "snakes", far.player_id)["away"] is True
        owned.connect(far, "third:3")  # resumed through yet another process
        await tick(room)
        assert "away" not in entry(held_by(ann, "snakes"), "snakes", far.player_id)


@pytest.mark.anyio
async def test_a_restored_room_shows_its_humans_away_until_they_resume() -> None:
    room = a_room(bots=1)
    async with stepping() as tasks:
        ann = connect(room, tasks, "Ann")
        await tick(room)
        saved = roomview.save(room)
        ann.leave()
    moved = roomview.restore(saved, SETTINGS)
    snakes = {s["name"]: s for s in moved.game.snapshot()["snakes"]}
    assert snakes["Ann"]["away"] is True and "away" not in snakes["Bot 1"]
    async with stepping() as tasks:
        back = Player(moved, moved.seat_for_token(ann.seat.token), SETTINGS.outbox_frames)
        tasks.start_soon(back.run)
        assert "away" not in entry(back.welcome["state"], "snakes", ann.seat.player_id)
        await tick(moved)
        assert all("away" not in s for s in held_by(back, "snakes")["snakes"])


@pytest.mark.anyio
async def test_counts_count_connected_players_and_the_seats_kept_apart() -> None:
    """The lobby (`GET /api/rooms`), ROOM_STATS and the invite page's "N players here"
    count who is connected; the seats kept for away players are `seats` in ROOM_STATS."""
    room = a_room(bots=2)
    async with stepping() as tasks:
        connect(room, tasks, "Ghost")
        ghost_again = connect(room, tasks, "Ghost")  # the same name elsewhere: another seat
        await tick(room)
        ghost_again.leave()
        assert roomview.summary(room)["players"] == 1
        stats = roomview.statistics(room)
        assert (stats["players"], stats["seats"], stats["bots"]) == (1, 2, 2)
        listed = roomview.player_list(room)
        assert sum(1 for p in listed if not p["bot"] and not p["away"]) == 1
        assert sum(1 for p in listed if p["via"] is not None and not p["bot"]) == 1  # how pages.py counts
