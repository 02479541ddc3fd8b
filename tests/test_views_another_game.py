"""Views are the room's, not snake's: another game on a plane gets them by implementing
`SpatialGame` alone (docs/games.md "Views").

`Dots` is a game no module of asgi_mmo knows: each player is a dot walking one
cell a tick the way it was last sent (turning back at a wall), and lit
beacons go out and light up elsewhere at random. Its fragments and snapshots
are its own JSON; the room serialises, joins, follows and hands them over
as it does snake's. A client applier of some thirty lines, written from the
game's documented fragment rules, holds exactly what the field holds inside
its view, every tick, for players with small views walking across buckets,
one of them through a relaying process, through a `state` after missed ticks too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import anyio
import orjson
import pytest

from asgi_mmo.cluster.messages import RoomChat, ViewTick, parse
from asgi_mmo.cluster.mirror import RoomMirror
from asgi_mmo.cluster.owner import OwnedRoom
from asgi_mmo.connection import Connection
from asgi_mmo.games.base import Bucket, GameSetup, ScoreEvent, SpatialGame
from asgi_mmo.games.catalog import GAMES
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings
from tests.relay import route_to_owner

pytestmark = pytest.mark.anyio

SETTINGS = Settings(seat_seconds=30, idle_room_seconds=30, outbox_frames=8, bot_processes=0)
STEPS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
Cell = tuple[int, int]


class Dots:
    """A fragment of a bucket: `gone` `[id, x, y]` (that dot, if there, left), `at` `[id, x, y]`
    (that dot is there now), `out` and `lit` `[x, y]` (a beacon went out, lit up): final states,
    so any order of buckets and a second application change nothing. A bucket snapshot is
    `{"b", "at", "lit"}`; a view SNAPSHOT `{"width", "height", "dots", "beacons"}`."""

    name: ClassVar[str] = "dots"
    title: ClassVar[str] = "Dots"
    description: ClassVar[str] = "dots that walk, beacons that blink"
    default_width: ClassVar[int] = 200
    default_height: ClassVar[int] = 200
    options: ClassVar[Mapping[str, Any]] = {}
    input_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object", "properties": {"dir": {"enum": list(STEPS)}}, "required": ["dir"],
        "additionalProperties": False, "examples": [{"dir": "up"}],
    }  # fmt: skip
    plan_function: ClassVar[str | None] = None

    def __init__(self, width: int, height: int, seed: int) -> None:
        self.width, self.height = width, height
        self.rng = random.Random(seed)
        self.dots: dict[str, Cell] = {}
        self.heading: dict[str, str] = {}
        self.beacons = {self._random_cell() for _ in range(60)}
        self._moved: dict[str, tuple[Cell | None, Cell | None]] = {}  # id -> (where at the last take, now)
        self._switched: dict[Cell, bool] = {}  # beacon cell -> lit, as the tick ended

    def _random_cell(self) -> Cell:
        return self.rng.randrange(self.width), self.rng.randrange(self.height)

    @classmethod
    def create(cls, setup: GameSetup) -> Dots:
        return cls(setup.width, setup.height, setup.seed or 0)

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> Dots:
        raise NotImplementedError  # not needed by a room of one process

    def save(self) -> dict[str, Any]:
        return {}

    def _move(self, dot: str, to: Cell | None) -> None:
        was = self._moved[dot][0] if dot in self._moved else self.dots.get(dot)
        self._moved[dot] = (was, to)
        if to is None:
            self.dots.pop(dot, None)
        else:
            self.dots[dot] = to

    def add_player(self, player_id: str, name: str, *, bot: bool = False) -> None:
        self.heading[player_id] = self.rng.choice(list(STEPS))
        self._move(player_id, self._random_cell())

    def remove_player(self, player_id: str) -> ScoreEvent | None:
        self.heading.pop(player_id, None)
        self._move(player_id, None)
        return None

    @classmethod
    def parse_input(cls, data: Any) -> str:
        return str(data["dir"])

    def apply_input(self, player_id: str, parsed: str) -> None:
        self.heading[player_id] = parsed

    def step(self, tick: int, dt: float) -> list[ScoreEvent]:
        for dot, (x, y) in list(self.dots.items()):
            dx, dy = STEPS[self.heading[dot]]
            if not (0 <= x + dx < self.width and 0 <= y + dy < self.height):
                self.heading[dot] = {"up": "down", "down": "up", "left": "right", "right": "left"}[self.heading[dot]]
                dx, dy = -dx, -dy
            self._move(dot, (x + dx, y + dy))
        for _ in range(3):  # beacons blink: one goes out, one lights up (maybe the same cell again)
            out = self.rng.choice(sorted(self.beacons))
            self.beacons.discard(out)
            self._switched[out] = False
            lit = self._random_cell()
            self.beacons.add(lit)
            self._switched[lit] = True
        return []

    def snapshot(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height,
                "dots": [[dot, x, y] for dot, (x, y) in self.dots.items()],
                "beacons": [[x, y] for x, y in sorted(self.beacons)]}  # fmt: skip

    def take_delta(self) -> dict[str, Any]:
        self._moved, self._switched = {}, {}
        return {"state": self.snapshot()}

    def player_stats(self, player_id: str) -> dict[str, Any]:
        return {"score": 0, "alive": player_id in self.dots}

    def make_bot_driver(self) -> None:
        return None

    # ---- SpatialGame ----

    def bucket_changes(self, size: int) -> Mapping[Bucket, dict[str, Any]]:
        fragments: dict[Bucket, dict[str, list[list[Any]]]] = {}

        def bucket(cell: Cell) -> Bucket:
            return cell[0] // size, cell[1] // size

        def add(cell: Cell, key: str, item: list[Any]) -> None:
            fragments.setdefault(bucket(cell), {}).setdefault(key, []).append(item)

        for dot, (was, now) in self._moved.items():
            if was is not None and (now is None or bucket(was) != bucket(now)):  # (within a bucket: `at` says it)
                add(was, "gone", [dot, *was])
            if now is not None:
                add(now, "at", [dot, *now])
        for cell, lit in self._switched.items():
            add(cell, "lit" if lit else "out", list(cell))
        self._moved, self._switched = {}, {}
        return fragments

    def bucket_snapshot(self, bx: int, by: int, size: int) -> dict[str, Any]:
        # A test game may scan the field; snake's index never does (`games/snake/spatial.py`).
        def here(x: int, y: int) -> bool:
            return x // size == bx and y // size == by

        return {"b": [bx, by], "at": [[dot, x, y] for dot, (x, y) in self.dots.items() if here(x, y)],
                "lit": [[x, y] for x, y in sorted(self.beacons) if here(x, y)]}  # fmt: skip

    def view_snapshot(self, parts: Sequence[dict[str, Any]], area: tuple[int, int, int, int]) -> dict[str, Any]:
        return {"width": self.width, "height": self.height,
                "dots": [item for part in parts for item in part["at"]],
                "beacons": [item for part in parts for item in part["lit"]]}  # fmt: skip

    def focus(self, player_id: str) -> tuple[int, int] | None:
        return self.dots.get(player_id)


class Picture:
    """A client's view of a Dots room, applied as the game's docs say."""

    def __init__(self, view: dict[str, int], snapshot: dict[str, Any]) -> None:
        self.view = view
        self.dots = {dot: (x, y) for dot, x, y in snapshot["dots"]}
        self.beacons = {(x, y) for x, y in snapshot["beacons"]}

    def _held(self, x: int, y: int, only: Bucket | None = None) -> bool:
        view, size = self.view, self.view["bucket"]
        if only is not None:
            return (x // size, y // size) == only
        return (view["x"] // size <= x // size <= (view["x"] + view["width"] - 1) // size
                and view["y"] // size <= y // size <= (view["y"] + view["height"] - 1) // size)  # fmt: skip

    def _keep(self, keep: Any) -> None:
        self.dots = {dot: cell for dot, cell in self.dots.items() if keep(*cell)}
        self.beacons = {cell for cell in self.beacons if keep(*cell)}

    def _fragment(self, part: dict[str, Any]) -> None:
        for dot, x, y in part.get("gone", ()):
            if self.dots.get(dot) == (x, y):
                del self.dots[dot]
        for dot, x, y in part.get("at", ()):
            self.dots[dot] = (x, y)
        self.beacons.difference_update((x, y) for x, y in part.get("out", ()))
        self.beacons.update((x, y) for x, y in part.get("lit", ()))

    def apply(self, tick: dict[str, Any]) -> None:
        if "view" in tick:
            self.view = tick["view"]
            self._keep(self._held)
        for snapshot in tick.get("enter", ()):
            bucket = (snapshot["b"][0], snapshot["b"][1])
            self._keep(lambda x, y, bucket=bucket: not self._held(x, y, bucket))
            self._fragment(snapshot)
        for fragment in tick.get("buckets", ()):
            self._fragment(fragment)

    def inside(self) -> tuple[dict[str, Cell], set[Cell]]:
        return inside(self.view, self.dots, self.beacons)


def inside(view: dict[str, int], dots: Mapping[str, Cell], beacons: set[Cell]) -> tuple[dict[str, Cell], set[Cell]]:
    def within(x: int, y: int) -> bool:
        return view["x"] <= x < view["x"] + view["width"] and view["y"] <= y < view["y"] + view["height"]

    return {dot: cell for dot, cell in dots.items() if within(*cell)}, {cell for cell in beacons if within(*cell)}


def test_dots_is_a_spatial_game() -> None:
    assert isinstance(Dots(10, 10, 1), SpatialGame)


class Relayed:
    """A Dots player whose socket is on another process: a `RoomMirror` composes its frames from
    what the owner publishes, through the wire format (as `tests/test_views.py`'s for snake)."""

    def __init__(self, room: Room, owned: OwnedRoom, view: tuple[int, int]) -> None:
        self.room, self.owned = room, owned
        self.to_owner: list[Any] = []
        self.mirror = RoomMirror(
            room.id, room.config, SETTINGS, "other:1", lambda sent: self.to_owner.append(parse(sent.encode()))
        )
        owners_seat = room.join("far")
        welcome = owned.connect(owners_seat, "other:1")
        self.seat = Seat(owners_seat.player_id, owners_seat.name, owners_seat.token, ack=owners_seat.ack)
        self.mirror.expect(self.seat, welcome, room.tick)
        self.mirror.ask_view(self.seat, *view)

    def route(self) -> None:
        route_to_owner(self.room, self.owned, self.seat.player_id, self.to_owner)


async def test_another_games_views_hold_exactly_what_its_field_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four views here and one through a relaying process, 300 ticks."""
    monkeypatch.setitem(GAMES, Dots.name, Dots)  # a room's config names a game the catalog lists
    width = height = 200
    game = Dots(width, height, seed=3)
    room = Room("dots", RoomConfig(game="dots", view=True, width=width, height=height, tick_rate=10), game, SETTINGS)
    published: list[ViewTick] = []

    def publish(channel: str, data: bytes) -> None:
        if isinstance(message := parse(data), ViewTick):
            published.append(message)
        else:
            assert isinstance(message, RoomChat)  # (a minimap: Dots offers none, so never)

    owned = OwnedRoom(room, "w|1", publish, lambda marks, lease: None)
    room.elsewhere = owned
    rng = random.Random(5)
    frames: dict[str, list[dict[str, Any]]] = {}
    pictures: dict[str, Picture] = {}
    seats: list[tuple[Seat, Room | RoomMirror]] = []
    far = Relayed(room, owned, (24, 20))
    async with anyio.create_task_group() as tasks:
        for number, size in enumerate([(16, 16), (24, 16), (40, 30), (70, 50), None]):
            where: Room | RoomMirror
            if size is None:
                seat, where = far.seat, far.mirror
            else:
                seat, where = room.join(f"p{number}"), room
                room.ask_view(seat, *size)
            frames[seat.player_id] = []

            async def keep(frame: str, player_id: str = seat.player_id) -> None:
                frames[player_id].append(orjson.loads(frame))

            connection = Connection(keep, SETTINGS.outbox_frames)
            welcome = orjson.loads(where.connect(seat, connection))
            connection.attach(tasks)
            pictures[seat.player_id] = Picture(welcome["view"], welcome["state"])
            seats.append((seat, where))
        entered = moved = states = 0
        for tick in range(1, 301):
            far.route()
            for seat, place in seats:
                if rng.random() < 0.1:
                    place.handle_input(seat, seat.ack + 1, {"dir": rng.choice(list(STEPS))})
            if tick % 97 == 0:  # as after missed ticks: the next frame is a view `state`
                for seat in (seats[1][0], far.seat):
                    assert seat.connection is not None
                    seat.connection.needs_state = True
            room.step(tick * 0.1)
            for message in published:
                far.mirror.on_view_tick(message)
            published.clear()
            await anyio.wait_all_tasks_blocked()
            for seat, _ in seats:
                got, frames[seat.player_id] = frames[seat.player_id], []
                if seat is far.seat and not got:
                    assert tick % 97 == 0, "the relaying process waits a tick for the owner's state"
                    far.route()
                    continue
                (frame,) = got
                if frame["type"] == "state":
                    pictures[seat.player_id] = Picture(frame["view"], frame["state"])
                    states += 1
                else:
                    assert frame["type"] == "tick" and frame["tick"] == room.tick
                    moved += "view" in frame
                    entered += len(frame.get("enter", ()))
                    pictures[seat.player_id].apply(frame)
                picture = pictures[seat.player_id]
                assert picture.inside() == inside(picture.view, game.dots, game.beacons), (seat.name, tick)
                x, y = game.dots[seat.player_id]
                view = picture.view
                assert view["x"] <= x < view["x"] + view["width"] and view["y"] <= y < view["y"] + view["height"]
        tasks.cancel_scope.cancel()
    assert moved > 50 and entered > 20 and states == 6, (moved, entered, states)
