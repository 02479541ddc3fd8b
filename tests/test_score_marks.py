"""Score marks (`scoremarks.py`): what a room's owner keeps of each score as it changes, and the
overlay a restore makes of the marks newer than the save (`roomview.restore`).

Pure: a real `Room` stepped by hand, its `elsewhere` a recorder of the marks it hands over.
tests/test_cluster_nodes.py kills an owner and checks the taker's room over both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from asgi_mmo import roomview
from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.games.arena.game import Arena
from asgi_mmo.games.base import ScoredGame, ScoreEvent
from asgi_mmo.games.snake.game import SnakeWithBots
from asgi_mmo.protocol import TickFrame
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.scoremarks import ScoreMark
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings
from asgi_mmo.views.viewers import Viewers

pytestmark = pytest.mark.anyio

SETTINGS = Settings(seat_seconds=30, idle_room_seconds=60, bot_processes=0)


class Keeper:
    """A room's `elsewhere` with nobody elsewhere, that records the marks the room hands over."""

    players = 0
    spectators = 0
    watching = 0

    keeps_scores = True

    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    def keep_scores(self, marks: dict[str, bytes]) -> None:
        self.kept.append({player_id: orjson.loads(mark) for player_id, mark in marks.items()})

    def tick(self, frame: TickFrame, state: Callable[[], TickFrame]) -> None:
        pass

    def view_tick(self, tick: int, viewers: Viewers) -> None:
        pass

    def chat(self, frame: str) -> None:
        pass

    def replaced(self, seat: Seat, reason: ConnectionRefused) -> None:
        pass

    def closed(self, reason: ConnectionRefused) -> None:
        pass


def snake_room(events: list[ScoreEvent]) -> tuple[Room, SnakeWithBots, Keeper]:
    game = SnakeWithBots(30, 30, 1, food_count=0, stone_chance=0.0)
    room = Room("r1", RoomConfig(width=30, height=30), game, SETTINGS, on_score=events.append)
    keeper = Keeper()
    room.elsewhere = keeper
    return room, game, keeper


def test_both_games_keep_score_marks() -> None:
    assert isinstance(SnakeWithBots(10, 10), ScoredGame)
    assert isinstance(Arena(400, 300), ScoredGame)


def test_a_mark_is_encoded_and_decoded_and_garbage_is_refused() -> None:
    final = ScoreEvent("p1", "ann", 7, False)
    for mark in (ScoreMark(5, 7, False, final), ScoreMark(6, None, False), ScoreMark(7, 0, True)):
        assert ScoreMark.decode("p1", mark.encode()) == mark
    for garbage in (b"", b"{", b"[1,2,3]", b'[1,"2",true,null]', b"[1,2,3,null]", b'[1,2,true,[1,"a"]]',
                    b"[true,2,true,null]"):  # fmt: skip
        assert ScoreMark.decode("p1", garbage) is None


async def test_the_room_marks_a_score_a_death_and_a_seat_freed_before_the_tick_goes_out() -> None:
    events: list[ScoreEvent] = []
    room, game, keeper = snake_room(events)
    seat = room.join("ann")
    pid = seat.player_id
    room.step(0.0)
    assert keeper.kept == [{pid: [1, 0, True, None]}]  # its first life
    game.place_snake(pid, [(10, 10), (9, 10), (8, 10)])
    game.place_food(11, 10, 7)
    room.step(0.0)
    assert keeper.kept[-1] == {pid: [2, 7, True, None]}
    room.step(0.0)
    room.step(0.0)
    assert len(keeper.kept) == 2, "no mark while nothing changes"
    game.place_stone(14, 10)
    room.step(0.0)  # the head goes into the stone
    assert events == [ScoreEvent(pid, "ann", 7, False)]
    assert keeper.kept[-1] == {pid: [5, 7, False, [7, "ann", False]]}
    room.unseated(seat, leave=True)
    assert keeper.kept[-1] == {pid: [5, None, False, [7, "ann", False]]}  # gone, with its last score


async def test_a_room_no_process_can_take_over_makes_no_marks() -> None:
    events: list[ScoreEvent] = []
    room, game, keeper = snake_room(events)
    keeper.keeps_scores = False  # as a room of one process: `NOBODY_ELSEWHERE`
    seat = room.join("ann")
    game.place_snake(seat.player_id, [(10, 10), (9, 10), (8, 10)])
    game.place_food(11, 10, 7)
    room.step(0.0)
    room.unseated(seat, leave=True)
    assert events == [ScoreEvent(seat.player_id, "ann", 7, False)] and keeper.kept == []


async def test_a_restore_overlays_the_marks_newer_than_the_save() -> None:
    events: list[ScoreEvent] = []
    room, game, _keeper = snake_room(events)
    ann, bob, cat, dan, eve = (room.join(name) for name in ("ann", "bob", "cat", "dan", "eve"))
    room.tick = 40
    game.place_snake(ann.player_id, [(5, 5), (4, 5), (3, 5)], score=3)
    game.place_snake(bob.player_id, [(5, 9), (4, 9), (3, 9)], score=5)
    game.place_snake(dan.player_id, [(5, 13), (4, 13), (3, 13)], score=8)
    game.place_snake(eve.player_id, [(5, 17), (4, 17), (3, 17)], score=2)
    game._kill(game._snakes[eve.player_id])  # dead at the save; it lives again after
    saved = roomview.save(room)

    marks = {
        ann.player_id: ScoreMark(43, 12, True).encode(),  # it ate after the save
        bob.player_id: ScoreMark(42, 6, False, ScoreEvent(bob.player_id, "bob", 6, False)).encode(),  # it died
        cat.player_id: ScoreMark(41, None, False, ScoreEvent(cat.player_id, "cat", 4, False)).encode(),  # it left
        dan.player_id: ScoreMark(39, 99, True).encode(),  # older than the save: the save holds newer
        eve.player_id: ScoreMark(44, 1, True).encode(),
        "newcomer": ScoreMark(45, 2, True).encode(),  # seated after the save: not in it
        "garbage": b"[",
    }
    reported: list[ScoreEvent] = []
    taken = roomview.restore(saved, SETTINGS, marks, on_score=reported.append)
    stats = taken.game.player_stats
    assert stats(ann.player_id) == {"score": 12, "alive": True}
    assert stats(bob.player_id) == {"score": 6, "alive": False}
    assert cat.player_id not in taken.seats
    assert stats(dan.player_id) == {"score": 8, "alive": True}
    assert stats(eve.player_id) == {"score": 1, "alive": True}
    assert taken.tick == 45, "the room runs on from the newest tick its players saw"
    # Each last score event again (the dead owner may not have written it), the leaver's once.
    assert sorted(reported, key=lambda event: event.name) == [
        ScoreEvent(bob.player_id, "bob", 6, False), ScoreEvent(cat.player_id, "cat", 4, False),
    ]  # fmt: skip
    # The marks the new owner writes on carry the last score event along.
    keeper = Keeper()
    taken.elsewhere = keeper
    taken.step(0.0)
    assert keeper.kept[-1][bob.player_id] == [46, 6, False, [6, "bob", False]]


async def test_a_restore_without_marks_is_the_save() -> None:
    room, game, _keeper = snake_room([])
    seat = room.join("ann")
    game.place_snake(seat.player_id, [(5, 5), (4, 5), (3, 5)], score=3)
    saved = roomview.save(room)
    nothing: dict[str, bytes] = {}
    for marks in (None, nothing):
        taken = roomview.restore(saved, SETTINGS, marks)
        assert taken.game.player_stats(seat.player_id) == {"score": 3, "alive": True}
        assert taken.tick == room.tick


@pytest.mark.parametrize("alive_at_save", [True, False])
def test_the_arena_overlays_a_score_and_a_life(alive_at_save: bool) -> None:
    game = Arena(400, 300, 1)
    game.add_player("p1", "ann")
    game.place_ship("p1", 100, 100, score=2)
    if not alive_at_save:
        game.overlay_score("p1", 2, False)
    game.take_score_changes()
    game.overlay_score("p1", 5, not alive_at_save)
    assert game.player_stats("p1") == {"score": 5, "alive": not alive_at_save}
    assert game.take_score_changes() == ["p1"]
    game.step(1, 0.05)
    assert game.player_stats("p1")["alive"] is not alive_at_save
