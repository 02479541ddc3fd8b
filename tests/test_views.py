"""View rooms in one process, tick by tick: what a view shows is what the field holds.

A room is driven step by step (no tick loop, no sockets): each player's socket is
a `Connection` whose send keeps the frames. A player whose view is as large as
the small field is the ground truth beside the game itself; players with small
views check, every tick, that inside their rectangle their picture is exactly
the field's, over hundreds of ticks with bots moving, dying and respawning, food
eaten and stones raised.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
import pytest
from anyio.abc import TaskGroup

from asgi_mmo import roomview
from asgi_mmo.cluster.messages import RoomChat, ViewTick, parse
from asgi_mmo.cluster.mirror import RoomMirror
from asgi_mmo.cluster.owner import OwnedRoom
from asgi_mmo.connection import Connection
from asgi_mmo.games.base import GameSetup, SpatialGame
from asgi_mmo.games.snake.game import SnakeWithBots
from asgi_mmo.games.snake.viewdelta import ViewPicture, inside
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings
from asgi_mmo.views.rect import MARGIN
from asgi_mmo.views.viewers import BUCKET_SIZE
from tests.relay import route_to_owner

pytestmark = pytest.mark.anyio

SETTINGS = Settings(seat_seconds=30, idle_room_seconds=30, outbox_frames=8, bot_processes=0)


class Holding:
    """A player's socket that keeps every frame, and the picture they make."""

    seat: Seat
    frames: list[dict[str, Any]]
    picture: ViewPicture
    tick: int

    def take(self) -> list[dict[str, Any]]:
        """Apply the frames that came since the last call; returns them."""
        frames, self.frames = self.frames, []
        for frame in frames:
            if frame["type"] == "state":
                assert frame["tick"] > self.tick
                check_reach(frame["view"], frame["state"])
                self.picture = ViewPicture.of(frame["view"], frame["state"])
            elif frame["type"] == "tick":
                assert frame["tick"] == self.tick + 1, "after a welcome or state at N, the next tick is N+1"
                self.picture.apply(frame)
            else:
                continue
            self.tick = frame["tick"]
        return frames

    @property
    def rect(self) -> dict[str, int]:
        return self.picture.view


#: PROTOCOL.md "View rooms": no food or stone of a view SNAPSHOT farther than this outside it
REACH = 32


def beyond_reach(rect: dict[str, int], snapshot: dict[str, Any]) -> list[list[int]]:
    """The food and stones of a view SNAPSHOT farther than REACH outside its rectangle."""
    x0, y0 = rect["x"] - REACH, rect["y"] - REACH
    x1, y1 = rect["x"] + rect["width"] - 1 + REACH, rect["y"] + rect["height"] - 1 + REACH
    return [item for item in snapshot["food"] + snapshot["stones"]
            if not (x0 <= item[0] <= x1 and y0 <= item[1] <= y1)]  # fmt: skip


def check_reach(rect: dict[str, int], snapshot: dict[str, Any]) -> None:
    """A view SNAPSHOT holds no food or stone farther than 32 cells outside its rectangle
    (PROTOCOL.md "View rooms"), though the buckets it is built from reach farther."""
    assert beyond_reach(rect, snapshot) == [], rect


class Viewer(Holding):
    """A player connected to the room's own process."""

    def __init__(self, room: Room, tasks: TaskGroup, name: str, view: tuple[int, int] | None) -> None:
        self.room = room
        self.seat: Seat = room.join(name)
        self.frames: list[dict[str, Any]] = []
        self.connection = Connection(self._send, SETTINGS.outbox_frames)
        if view is not None:
            room.ask_view(self.seat, *view)
        self.welcome = orjson.loads(room.connect(self.seat, self.connection))
        self.connection.attach(tasks)
        check_reach(self.welcome["view"], self.welcome["state"])
        self.picture = ViewPicture.of(self.welcome["view"], self.welcome["state"])
        self.tick = self.welcome["tick"]
        self.seq = 0

    async def _send(self, frame: str) -> None:
        self.frames.append(orjson.loads(frame))

    def send(self, data: dict[str, Any]) -> None:
        self.seq += 1
        self.room.handle_input(self.seat, self.seq, data)



class Spectator(Viewer):
    """A spectator of the room's own process, its view's corner put where it asks (`pan`)."""

    def __init__(self, room: Room, tasks: TaskGroup, view: tuple[int, int], corner: tuple[int, int]) -> None:
        self.room = room
        self.seat = room.watch("eye")
        self.frames = []
        self.connection = Connection(self._send, SETTINGS.outbox_frames)
        room.ask_view(self.seat, *view, *corner)
        self.welcome = orjson.loads(room.connect(self.seat, self.connection))
        self.connection.attach(tasks)
        check_reach(self.welcome["view"], self.welcome["state"])
        self.picture = ViewPicture.of(self.welcome["view"], self.welcome["state"])
        self.tick = self.welcome["tick"]

    def pan(self, x: int, y: int) -> None:
        self.room.ask_view(self.seat, None, None, x, y)


def view_room(width: int, height: int, bots: int, seed: int) -> Room:
    config = RoomConfig(view=True, width=width, height=height, bots=bots, tick_rate=10)
    room = Room("r", config, _game(width, height, seed), SETTINGS)
    room.add_bots(bots)
    return room


def _game(width: int, height: int, seed: int) -> SnakeWithBots:
    return SnakeWithBots.create(GameSetup(width, height, {}, seed))


@asynccontextmanager
async def stepping() -> AsyncIterator[TaskGroup]:
    async with anyio.create_task_group() as tasks:
        yield tasks
        tasks.cancel_scope.cancel()


def check_view(viewer: Holding, world: dict[str, Any], field: tuple[int, int]) -> None:
    rect = viewer.rect
    assert 0 <= rect["x"] and rect["x"] + rect["width"] <= field[0]
    assert 0 <= rect["y"] and rect["y"] + rect["height"] <= field[1]
    held = viewer.picture.snapshot()
    assert inside(held, rect) == inside(world, rect), f"{viewer.seat.name} at tick {viewer.tick}"
    # nothing farther than a bucket outside the rectangle
    for x, y, *_ in held["food"] + held["stones"]:
        assert rect["x"] - BUCKET_SIZE <= x < rect["x"] + rect["width"] + BUCKET_SIZE
        assert rect["y"] - BUCKET_SIZE <= y < rect["y"] + rect["height"] + BUCKET_SIZE


def check_follows(viewer: Holding, game: SpatialGame, field: tuple[int, int]) -> None:
    """A live head stays MARGIN cells from each edge wherever the field leaves room."""
    head = game.focus(viewer.seat.player_id)
    if head is None:
        return
    rect = viewer.rect
    for pos, start, side, field_side in ((head[0], rect["x"], rect["width"], field[0]),
                                         (head[1], rect["y"], rect["height"], field[1])):  # fmt: skip
        assert start <= pos < start + side
        if start > 0:
            assert pos - start >= MARGIN or pos < MARGIN
        if start + side < field_side:
            assert start + side - 1 - pos >= MARGIN or pos >= field_side - MARGIN


async def test_small_views_hold_exactly_what_the_field_holds_inside_them() -> None:
    field = (80, 60)
    rng = random.Random(7)
    room = view_room(*field, bots=14, seed=3)
    game = room.game
    assert isinstance(game, SnakeWithBots)
    game.stone_limit = 14  # old stones go too
    async with stepping() as tasks:
        truth = Viewer(room, tasks, "truth", (128, 128))
        assert (truth.rect["width"], truth.rect["height"]) == field
        viewers = [
            Viewer(room, tasks, "a", (16, 16)),
            Viewer(room, tasks, "b", (20, 17)),
            Viewer(room, tasks, "c", (33, 24)),
            Viewer(room, tasks, "d", None),
        ]
        assert (viewers[3].rect["width"], viewers[3].rect["height"]) == (64, 40)  # the default
        late: Viewer | None = None
        deaths = moved = 0
        now = 0.0
        for step in range(1, 401):
            now += 0.1
            room.step(now)
            world = game.snapshot()
            for viewer in [truth, *viewers, *([late] if late else [])]:
                moved += sum(1 for frame in viewer.take() if "view" in frame)
                check_view(viewer, world, field)
                check_follows(viewer, game, field)
            assert inside(truth.picture.snapshot(), truth.rect) == inside(world, truth.rect)
            deaths += sum(1 for s in world["snakes"] if not s["alive"])
            # between ticks: the humans steer, respawn, resync, resize; one joins, one leaves
            for viewer in viewers:
                if rng.random() < 0.2:
                    viewer.send({"dir": rng.choice(["up", "down", "left", "right"])})
                if rng.random() < 0.1:
                    viewer.send({"respawn": True})
            if step % 37 == 0:
                viewers[1].connection.needs_state = True  # as a `sync` does
            if step == 120:
                viewers[0].room.ask_view(viewers[0].seat, 40, 30)
            if step == 150:
                late = Viewer(room, tasks, "late", (24, 18))
                check_view(late, game.snapshot(), field)
            if step == 250:
                gone = viewers.pop(2)
                room.disconnect(gone.seat, gone.connection, leave=True)
        assert moved > 20, "views moved"
        assert deaths > 0
        assert (viewers[0].rect["width"], viewers[0].rect["height"]) == (40, 30)


async def test_food_a_state_leaves_out_arrives_once_the_view_moves_toward_it() -> None:
    """A SNAPSHOT holds no food farther than 32 cells outside the rectangle, though the client
    holds the whole 64-cell bucket: once the view moves, the bucket comes again, whole."""
    room = view_room(200, 120, bots=0, seed=4)
    game = room.game
    assert isinstance(game, SnakeWithBots)
    async with stepping() as tasks:
        eye = Spectator(room, tasks, (16, 16), (0, 0))
        room.step(0.1)  # the corner asked for holds from this tick
        eye.take()
        assert eye.rect["x"] == eye.rect["y"] == 0 and (eye.rect["width"], eye.rect["height"]) == (16, 16)
        game._put_food((60, 5), 3)  # in the view's bucket (0, 0), 44 cells right of the rectangle
        eye.connection.needs_state = True  # as a `sync` does
        room.step(0.2)
        (state,) = eye.take()
        assert state["type"] == "state" and state["view"]["bucket"] == BUCKET_SIZE == 64
        assert [60, 5, 3] not in state["state"]["food"]  # (check_reach held it to 32 cells)
        assert (60, 5) not in eye.picture.food
        eye.pan(48, 0)  # the rectangle 48..63: the same bucket, the food inside it now
        room.step(0.3)
        (tick,) = eye.take()
        assert tick["view"]["x"] == 48 and [b["b"] for b in tick["enter"]] == [[0, 0]]
        assert eye.picture.food[(60, 5)] == 3
        check_view(eye, game.snapshot(), (200, 120))
        eye.pan(40, 0)  # a move after that one: the bucket is held whole, no snapshot again
        room.step(0.4)
        (tick,) = eye.take()
        assert "enter" not in tick
        check_view(eye, game.snapshot(), (200, 120))


async def test_a_view_message_changes_the_size_within_two_ticks() -> None:
    room = view_room(100, 100, bots=0, seed=1)
    async with stepping() as tasks:
        viewer = Viewer(room, tasks, "p", (20, 20))
        room.step(0.1)
        viewer.take()
        room.ask_view(viewer.seat, 50, 1000)
        room.step(0.2)
        room.step(0.3)
        frames = viewer.take()
        assert (viewer.rect["width"], viewer.rect["height"]) == (50, 100)  # clamped to the field
        assert any("view" in frame for frame in frames)
        check_view(viewer, room.game.snapshot(), (100, 100))


async def test_players_in_the_same_place_share_one_frame_body(monkeypatch: pytest.MonkeyPatch) -> None:
    room = view_room(200, 200, bots=20, seed=5)
    game = room.game
    assert isinstance(game, SnakeWithBots)
    calls: list[tuple[int, int]] = []
    original = game.bucket_snapshot

    def counted(bx: int, by: int, size: int) -> dict[str, Any]:
        calls.append((bx, by))
        return original(bx, by, size)

    async with stepping() as tasks:
        players = [Viewer(room, tasks, f"p{i}", (64, 40)) for i in range(3)]
        heads = [(100, 50), (100, 53), (160, 150)]
        for player, (x, y) in zip(players, heads, strict=True):
            game.place_snake(player.seat.player_id, [(x, y), (x - 1, y), (x - 2, y)])
            room.ask_view(player.seat, 60, 40)  # a new size: the view centres on the head
        room.step(0.1)
        for player in players:
            player.take()
        assert players[0].rect == players[1].rect != players[2].rect
        composer = room.viewers.composer if room.viewers else None
        assert composer is not None
        monkeypatch.setattr(game, "bucket_snapshot", counted)
        for player in players:
            player.connection.needs_state = True  # each needs the state of its view
        room.step(0.2)
        assert calls and len(calls) == len(set(calls)), "each bucket's snapshot is built once a tick"
        room.step(0.3)
        # The per-tick caches are what is tested: of views that stayed, and of views that moved.
        tails = [*composer._same.values(), *composer._tails.values()]  # noqa: SLF001
        assert len(tails) == 2, "one tail for the two players in the same place, one for the third"
        for player in players:
            player.take()
            check_view(player, game.snapshot(), (200, 200))


async def test_room_stats_and_the_listing_say_whether_a_room_has_views() -> None:
    room = view_room(50, 50, bots=0, seed=1)
    assert roomview.statistics(room)["view"] is True
    assert roomview.summary(room)["view"] is True
    plain = Room("q", RoomConfig(), _game(40, 30, 1), SETTINGS)
    assert roomview.statistics(plain)["view"] is False
    assert plain.viewers is None
    plain.ask_view(plain.join("p"), 20, 20)  # accepted, changes nothing


class Relayed(Holding):
    """A player whose socket is on another process: a `RoomMirror` of the room relays it,
    fed through the wire format; `route()` does what the owner's node does with what the
    mirror sends."""

    def __init__(self, room: Room, owned: OwnedRoom, tasks: TaskGroup, view: tuple[int, int]) -> None:
        self.room, self.owned = room, owned
        self.to_owner: list[Any] = []
        self.mirror = RoomMirror(room.id, room.config, SETTINGS, "other:1", self._to_owner)
        owners_seat = room.join("far")
        welcome = owned.connect(owners_seat, "other:1")
        self.seat = Seat(owners_seat.player_id, owners_seat.name, owners_seat.token, ack=owners_seat.ack)
        self.mirror.expect(self.seat, welcome, room.tick)
        self.frames: list[dict[str, Any]] = []
        self.connection = Connection(self._send, SETTINGS.outbox_frames)
        self.mirror.ask_view(self.seat, *view)  # as the socket endpoint does before it connects
        shown = orjson.loads(self.mirror.connect(self.seat, self.connection))
        self.connection.attach(tasks)
        check_reach(shown["view"], shown["state"])
        self.picture = ViewPicture.of(shown["view"], shown["state"])
        self.tick = shown["tick"]
        self.seq = 0

    def _to_owner(self, message: Any) -> None:
        self.to_owner.append(parse(message.encode()))

    async def _send(self, frame: str) -> None:
        self.frames.append(orjson.loads(frame))

    def route(self) -> None:
        route_to_owner(self.room, self.owned, self.seat.player_id, self.to_owner)


async def test_a_player_relayed_through_another_process_gets_the_same_view() -> None:
    """The owner publishes each tick's texts once; the relaying process composes its player's frame."""
    field = (80, 60)
    rng = random.Random(5)
    room = view_room(*field, bots=12, seed=2)
    game = room.game
    assert isinstance(game, SnakeWithBots)
    published: list[ViewTick] = []

    def publish(channel: str, data: bytes) -> None:
        message = parse(data)
        if isinstance(message, RoomChat) and '"type":"minimap"' in message.frame:
            return  # the minimap, once a second (tests/test_world_minimap.py)
        assert isinstance(message, ViewTick), "a view room publishes view ticks (and minimaps) only"
        published.append(message)

    owned = OwnedRoom(room, "w|1", publish, lambda marks, lease: None)
    room.elsewhere = owned
    async with stepping() as tasks:
        far = Relayed(room, owned, tasks, (20, 16))
        aside = Relayed(room, owned, tasks, (16, 16))  # through a third process: it needs no state
        near = Viewer(room, tasks, "near", (20, 16))
        states = 0
        for step in range(1, 301):
            far.route()
            aside.route()
            room.step(step / 10)
            for message in published:
                if step > 1:  # (the first tick: both views are new to the owner's ticks)
                    # only the player whose process asked gets a state (issue #12: never per-player
                    # work the room does not need)
                    assert set(message.states) <= {far.seat.player_id}, (step, list(message.states))
                far.mirror.on_view_tick(message)
                aside.mirror.on_view_tick(message)
            published.clear()
            states += sum(frame["type"] == "state" for frame in far.take())
            assert all(frame["type"] == "tick" for frame in aside.take())
            near.take()
            world = game.snapshot()
            check_view(aside, world, field)
            if far.tick == room.tick:
                check_view(far, world, field)
                check_follows(far, game, field)
            else:  # it asked for a state: the relaying process waits for the owner's
                assert room.tick - far.tick == 1 and step % 60 == 1, (step, far.tick)
            check_view(near, world, field)
            if rng.random() < 0.25:
                far.seq += 1
                turn = rng.choice(["up", "down", "left", "right", "respawn"])
                far.mirror.handle_input(far.seat, far.seq, {"respawn": True} if turn == "respawn" else {"dir": turn})
            if step % 60 == 0:
                far.connection.needs_state = True  # as a `sync` does: the mirror asks the owner
        assert (far.rect["width"], far.rect["height"]) == (20, 16)
        assert states >= 4
