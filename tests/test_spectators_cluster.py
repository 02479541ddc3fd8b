"""Spectators whose socket is on another process than their room's owner, over the memory
hub and a real Redis (the nodes and fixtures of tests/test_cluster_nodes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from asgi_mmo.cluster.mirror import RoomMirror
from asgi_mmo.exceptions import ConnectionRefused, MessageRefused
from asgi_mmo.roomconfig import RoomConfig
from tests import test_cluster_nodes as nodes
from tests.players import Player
from tests.test_cluster_nodes import SETTINGS, Node, World, eventually, playing

# The cluster's fixtures: every test runs over the memory hub and over a real Redis.
world = nodes.world
redis_server = nodes.redis_server

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def spectating(
    node: Node, room_id: str, name: str, view: tuple[int, int] | None = None, *, record: bool = False
) -> AsyncIterator[Player]:
    """A spectator that watches `room_id` through `node`, as a `spectate=true` socket there would."""
    room, seat = await node.registry.watch(name=name, room_id=room_id, view=view, record=record)
    spectator = Player(room, seat, SETTINGS.outbox_frames)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(spectator.run)
        yield spectator
        tasks.cancel_scope.cancel()


async def test_a_spectator_watches_through_another_node(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(RoomConfig(tick_rate=20, max_players=1))
    async with playing(a, room.id, "alice") as alice, spectating(b, room.id, "eve") as eve:
        assert isinstance(eve.room, RoomMirror)
        welcome = eve.welcome
        assert (welcome["spectator"], welcome["player"], welcome["token"]) == (True, None, None)
        assert [s["name"] for s in welcome["state"]["snakes"]] == ["alice"]
        await eventually(lambda: len(eve.of("tick")) >= 3, "relayed ticks reach the spectator")
        assert {frame["ack"] for frame in eve.of("tick")} == {0}
        assert (room.players, room.spectators) == (1, 1), "counted apart, at the owner"
        for _ in range(100):  # the owner lists the room in the shared directory a few times a second
            listed = (await b.registry.room_details(room.id)) or {}
            if listed.get("spectators") == 1:
                break
            await anyio.sleep(0.05)
        assert listed.get("spectators") == 1, "ROOM_STATS through another node count the spectator"
        # The input is refused where the socket is; the chat reaches the room without a player.
        with pytest.raises(MessageRefused) as refused:
            eve.room.handle_input(eve.seat, 1, {"dir": "up"})
        assert refused.value.code == "bad_message"
        eve.room.chat(eve.seat, "hello from b")
        await eventually(lambda: any(c["text"] == "hello from b" for c in alice.of("chat")), "alice hears it")
        chat = next(c for c in alice.of("chat") if c["text"] == "hello from b")
        assert (chat["player"], chat["name"]) == (None, "eve")
        # A full room (max_players 1) takes no player through b, but takes spectators.
        with pytest.raises(ConnectionRefused) as full:
            await b.registry.join(name="bob", room_id=room.id)
        assert full.value.code == "room_full"
        eve.leave()
        await eventually(lambda: room.spectators == 0, "the owner forgets the spectator")
    with pytest.raises(ConnectionRefused) as unknown:
        await b.registry.watch(name="eve", room_id="nowhere")
    assert unknown.value.code == "room_not_found"


async def test_a_relayed_spectator_moves_its_camera_in_a_view_room(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(RoomConfig(view=True, width=200, height=150, tick_rate=20))
    async with playing(a, room.id, "alice"), spectating(b, room.id, "eve", view=(40, 30)) as eve:
        assert eve.welcome["spectator"] is True
        await eventually(lambda: len(eve.of("tick")) >= 1, "relayed view ticks")
        eve.room.ask_view(eve.seat, None, None, 1000, 9)

        def corner() -> tuple[int, int] | None:
            shown = [f["view"] for f in eve.frames if f["type"] in ("tick", "state") and "view" in f]
            return (shown[-1]["x"], shown[-1]["y"]) if shown else None

        await eventually(lambda: corner() == (160, 9), "the camera moves, clamped inside the field")


async def test_a_recorder_through_another_node_sees_the_whole_field_and_is_no_spectator(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(RoomConfig(view=True, width=150, height=100, tick_rate=20))
    async with playing(a, room.id, "alice"), spectating(b, room.id, "recorder", record=True) as recorder:
        shown = recorder.welcome["view"]
        assert (shown["x"], shown["y"], shown["width"], shown["height"]) == (0, 0, 150, 100)
        await eventually(lambda: len(recorder.of("tick")) >= 2, "the recorder's ticks")
        assert room.spectators == 0


async def test_a_relayed_spectator_is_told_to_watch_again_when_its_node_takes_the_room_over(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(b, room.id, "bob") as bob, spectating(b, room.id, "eve") as eve:
        await eventually(lambda: len(eve.of("tick")) >= 2, "relayed ticks")
        await a.kill()  # no hand-over: the lease stays until it runs out
        await world.leases_run_out()
        mirror = eve.room
        assert isinstance(mirror, RoomMirror)
        await eventually(lambda: mirror.promoted is not None, "the relaying node takes the room over")
        await eventually(lambda: eve.closed_with == "server_shutdown", "the spectator is told to come back")
        assert bob.closed_with is None, "the player plays on"
        eve.leave()  # its socket ends: nothing to tell the room, which never knew it
        mirror.chat(eve.seat, "still here?")  # a late frame of its reader is dropped, not raised
        taken = b.registry.get(room.id)
        assert taken is not None
        async with spectating(b, room.id, "eve") as again:  # watching again, now in the room itself
            assert again.welcome["spectator"] is True and taken.spectators == 1
