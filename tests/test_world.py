"""The world (issue 12 item 4): a view room's minimap, and THE world room made on demand.

The minimap is checked against the whole field (its density counts every snake cell by
bucket, its leaders are the best live snakes), its rhythm against the room's clock (one a
second, stepped, not timed), and its way through the cluster (the relaying process hands
it to its players). The world is one room of a well-known id: `POST /api/world` and
`/play/world` make it on demand, once, also when two processes are asked at once.
(tests/test_views_browser.py watches the minimap arrive on a real server's socket.)
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

import anyio

from asgi_mmo.cluster.mirror import RoomMirror
from asgi_mmo.games.base import GameSetup
from asgi_mmo.games.snake.game import SnakeWithBots
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.views.minimap import INTERVAL, LEADERS
from asgi_mmo.views.viewers import BUCKET_SIZE
from asgi_mmo.web.api import WORLD_ROOM, world_config
from tests import test_cluster_nodes as nodes
from tests.apps import registry_of
from tests.test_views import Viewer, stepping, view_room
from tests.wsclient import ClientFactory, create_room, next_of, ws_url

# the cluster tests' nodes over the memory hub and a real Redis, as in tests/test_cluster_nodes.py
world = nodes.world
redis_server = nodes.redis_server


def density(message: dict[str, Any]) -> dict[tuple[int, int], int]:
    grid = base64.b64decode(message["density"])
    assert len(grid) == message["cols"] * message["rows"]
    cols = message["cols"]
    return {(i % cols, i // cols): value for i, value in enumerate(grid) if value}


# ---- the minimap of a view room ---------------------------------------------------------------


async def test_the_minimap_counts_every_snake_cell_by_bucket_and_names_the_leaders() -> None:
    room = view_room(150, 100, bots=12, seed=3)
    async with stepping() as tasks:
        Viewer(room, tasks, "ann", (20, 16))
        for step in range(1, 120):
            room.step(step / 10)
    assert room.minimap is not None
    message = room.minimap.message(room.tick)
    assert (message["width"], message["height"], message["cell"]) == (150, 100, BUCKET_SIZE)
    assert (message["cols"], message["rows"]) == (-(-150 // BUCKET_SIZE), -(-100 // BUCKET_SIZE))
    field = room.game.snapshot()
    counted = Counter((x // BUCKET_SIZE, y // BUCKET_SIZE) for snake in field["snakes"] for x, y in snake["body"])
    assert counted and density(message) == {bucket: min(255, n) for bucket, n in counted.items()}
    living = sorted((s for s in field["snakes"] if s["alive"] and s["body"]), key=lambda s: -s["score"])
    leaders = message["leaders"]
    assert len(leaders) == min(LEADERS, len(living))
    assert [leader["score"] for leader in leaders] == [s["score"] for s in living[: len(leaders)]]
    heads = {s["id"]: s["body"][0] for s in living}
    for leader in leaders:
        assert [leader["x"], leader["y"]] == heads[leader["id"]]
        assert leader["name"] == next(s["name"] for s in living if s["id"] == leader["id"])


async def test_every_viewer_gets_one_minimap_a_second_and_a_plain_room_none() -> None:
    room = view_room(100, 80, bots=4, seed=1)
    async with stepping() as tasks:
        viewers = [Viewer(room, tasks, name, (16, 16)) for name in ("ann", "bea")]
        for step in range(1, 46):  # 4.5 s of room time at 10 ticks a second
            room.step(step * 0.1)
            await anyio.sleep(0)  # the writers hand the frames over
        await anyio.sleep(0.01)
        for viewer in viewers:
            ticks = [frame["tick"] for frame in viewer.frames if frame["type"] == "minimap"]
            assert ticks == [1, 11, 21, 31, 41], "the first tick, then one a second"
    assert INTERVAL == 1.0
    plain = Room("p", RoomConfig(), SnakeWithBots.create(GameSetup(40, 30)), nodes.SETTINGS)
    assert plain.minimap is None


async def test_a_minimap_reaches_the_players_a_slice_a_tick_over_the_second() -> None:
    """Not all in the tick it is made: 1,000 sends more in one tick made it the world's slowest."""
    room = view_room(100, 80, bots=0, seed=2)
    async with stepping() as tasks:
        viewers = [Viewer(room, tasks, f"p{n}", (16, 16)) for n in range(25)]
        for step in range(1, 31):  # 3 s at 10 ticks a second: minimaps made at ticks 1, 11 and 21
            room.step(step * 0.1)
            await anyio.sleep(0)
        await anyio.sleep(0.01)
    handed: Counter[int] = Counter()  # tick -> minimaps handed over in it
    for viewer in viewers:
        got: list[tuple[int, int]] = []  # (made at, handed over in)
        tick = 0
        for frame in viewer.frames:
            if frame["type"] == "tick":
                tick = frame["tick"]
            elif frame["type"] == "minimap":
                got.append((frame["tick"], tick))
                handed[tick] += 1
        assert [made for made, _ in got] == [1, 11, 21], "each player gets each minimap once"
        assert all(made <= at < made + 10 for made, at in got), "within the second it was made in"
    assert max(handed.values()) == 3, "25 players over 10 ticks: 3 a tick at most"
    assert sum(handed.values()) == 75


async def test_a_relaying_process_hands_the_minimap_to_its_players(world: nodes.World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(RoomConfig(view=True, width=120, height=90, bots=3, tick_rate=20))
    async with nodes.playing(b, room.id, "far", view=(20, 16)) as far, nodes.playing(a, room.id, "near") as near:
        assert isinstance(far.room, RoomMirror)
        await nodes.eventually(lambda: len(far.of("minimap")) >= 2, "two minimaps relayed", timeout=15.0)
        mine = {frame["tick"]: frame for frame in near.of("minimap")}
        for frame in far.of("minimap"):
            if frame["tick"] in mine:
                assert frame == mine[frame["tick"]], "the same frame, verbatim"
        ticks = [frame["tick"] for frame in far.of("minimap")]
        assert ticks == sorted(set(ticks)), "each once, in order"


# ---- THE world: one room of a well-known id, made on demand -----------------------------------


def test_post_api_world_makes_the_world_once_and_answers_it(make_client: ClientFactory) -> None:
    client = make_client()
    first = client.post("/api/world")
    assert first.status_code == 200, first.text
    assert first.json() == {"id": WORLD_ROOM, **world_config().to_dict()}
    assert first.json()["view"] is True and (first.json()["width"], first.json()["height"]) == (1000, 1000)
    assert first.json()["bots"] == 50
    registry = registry_of(client)
    made = registry.get(WORLD_ROOM)
    assert made is not None and made.config == world_config()
    assert client.post("/api/world").json()["id"] == WORLD_ROOM
    assert registry.get(WORLD_ROOM) is made, "asked again: the same room, not a second one"
    assert [room.id for room in registry.rooms()] == [WORLD_ROOM]
    listed = client.get("/api/rooms").json()["rooms"]
    assert [(entry["id"], entry["view"]) for entry in listed] == [(WORLD_ROOM, True)]


def test_the_world_page_makes_the_world_and_says_it_is_a_view_room(make_client: ClientFactory) -> None:
    client = make_client()
    page = client.get("/play/world")
    assert page.status_code == 200
    assert 'data-view="true"' in page.text and "view-room" in page.text
    assert registry_of(client).get(WORLD_ROOM) is not None
    plain = create_room(client)
    assert 'data-view="false"' in client.get(f"/play/{plain}").text
    assert client.get("/play/nowhere").status_code == 404, "only the world is made by its page"


def test_two_players_of_the_world_land_in_the_same_room(make_client: ClientFactory) -> None:
    client = make_client()
    assert client.post("/api/world").status_code == 200
    with client.websocket_connect(ws_url(name="Ann", room=WORLD_ROOM, view="40x24")) as ann:
        welcome = next_of(ann, "welcome")
        assert welcome["room"] == WORLD_ROOM and welcome["view"]["width"] == 40
        with client.websocket_connect(ws_url(name="Bea", room=WORLD_ROOM)) as bea:
            assert next_of(bea, "welcome")["room"] == WORLD_ROOM
    assert len(registry_of(client).rooms()) == 1


def test_a_draining_server_makes_no_world(make_client: ClientFactory) -> None:
    client = make_client()
    registry_of(client).drain()
    answer = client.post("/api/world")
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "server_shutdown"
    assert registry_of(client).get(WORLD_ROOM) is None


async def test_two_nodes_asked_at_once_make_one_world(world: nodes.World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    config = RoomConfig(view=True, width=120, height=90, bots=2, tick_rate=20)
    async with anyio.create_task_group() as tasks:
        for node in (a, b, a, b):
            tasks.start_soon(node.registry.open_named_room, WORLD_ROOM, config)
    running = [node for node in (a, b) if node.registry.get(WORLD_ROOM) is not None]
    assert len(running) == 1, "one process runs the world"
    owner = await a.backend.room_owner(WORLD_ROOM)
    assert owner is not None and owner.startswith(running[0].worker + "|")
    for node in (a, b):  # asked again, neither makes another
        await node.registry.open_named_room(WORLD_ROOM, config)
    assert [node for node in (a, b) if node.registry.get(WORLD_ROOM) is not None] == running
    async with nodes.playing(a, WORLD_ROOM, "ann") as ann, nodes.playing(b, WORLD_ROOM, "bea") as bea:
        assert ann.welcome["room"] == bea.welcome["room"] == WORLD_ROOM
        room = running[0].registry.get(WORLD_ROOM)
        assert room is not None
        await nodes.eventually(lambda: room.players == 2, "both play in the one world")
