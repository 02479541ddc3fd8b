"""A mirror of a room run elsewhere, fed relay messages by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
import pytest

from asgi_mmo.cluster.messages import Input, Latency, Reconnect, Sync, Tick, ToOwner
from asgi_mmo.cluster.mirror import RoomMirror
from asgi_mmo.connection import Connection
from asgi_mmo.exceptions import MessageRefused
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings

pytestmark = pytest.mark.anyio


class Relayed:
    def __init__(self) -> None:
        self.to_owner: list[ToOwner] = []
        self.mirror = RoomMirror("r1", RoomConfig(), Settings(), "here:1", self.to_owner.append)
        self.sent: list[dict[str, Any]] = []
        self.connection = Connection(self._send, 8)
        self.seat = Seat("p1", "alice", "tok", ack=2)
        self.mirror.expect(self.seat, '{"type":"welcome","tick":10}', 10)
        self.welcome = self.mirror.connect(self.seat, self.connection)

    async def _send(self, frame: str) -> None:
        self.sent.append(orjson.loads(frame))

    def tick(self, tick: int, fence: int = 1, acks: dict[str, int] | None = None, state: bool = False) -> None:
        whole = '{"state":{"snakes":[]}}' if state else None
        self.mirror.on_tick(Tick(tick, fence, acks or {}, '{"moves":[]}', whole))


@asynccontextmanager
async def relaying() -> AsyncIterator[Relayed]:
    """A mirror with one player whose socket takes every frame at once."""
    relayed = Relayed()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(relayed.connection.run_writer)
        await anyio.sleep(0)
        yield relayed
        tasks.cancel_scope.cancel()
    relayed.connection.close_outbox()


async def settle() -> None:
    await anyio.sleep(0.01)


async def test_ticks_carry_each_players_ack_from_the_owner() -> None:
    async with relaying() as relayed:
        assert relayed.welcome == '{"type":"welcome","tick":10}'
        relayed.tick(11, acks={"p1": 7})
        relayed.tick(12)
        await settle()
    assert [(f["type"], f["tick"], f["ack"]) for f in relayed.sent] == [("tick", 11, 7), ("tick", 12, 7)]


async def test_a_gap_waits_for_a_state_and_asks_the_owner_for_one() -> None:
    async with relaying() as relayed:
        relayed.tick(11)
        relayed.tick(13)  # 12 was lost on the way
        await settle()
        assert Sync("here:1") in relayed.to_owner
        relayed.tick(14, state=True)
        relayed.tick(15)
        await settle()
    assert [(f["type"], f["tick"]) for f in relayed.sent] == [("tick", 11), ("state", 14), ("tick", 15)]


async def test_a_lower_fence_is_an_owner_that_lost_the_room() -> None:
    async with relaying() as relayed:
        relayed.tick(11, fence=3)
        relayed.tick(12, fence=2)
        await settle()
    assert [f["tick"] for f in relayed.sent] == [11]


async def test_a_new_owner_gets_the_players_back_and_they_resync() -> None:
    async with relaying() as relayed:
        relayed.tick(11, fence=1)
        await settle()
        relayed.tick(40, fence=2)  # a new owner restored the room
        assert Reconnect("here:1", "p1", "tok") in relayed.to_owner
        relayed.tick(41, fence=2, state=True)
        await settle()
    assert [(f["type"], f["tick"]) for f in relayed.sent] == [("tick", 11), ("state", 41)]


async def test_inputs_are_checked_here_and_passed_on_once() -> None:
    relayed = Relayed()
    relayed.mirror.handle_input(relayed.seat, 3, {"dir": "up"})
    relayed.mirror.handle_input(relayed.seat, 3, {"dir": "down"})  # not above the last: dropped
    with pytest.raises(MessageRefused):
        relayed.mirror.handle_input(relayed.seat, 4, {"dir": "sideways"})
    inputs = [m for m in relayed.to_owner if isinstance(m, Input)]
    assert inputs == [Input("here:1", "p1", 3, {"dir": "up"})]
    relayed.connection.close_outbox()


async def test_a_players_latency_reaches_the_owner() -> None:
    relayed = Relayed()
    relayed.mirror.note_latency(relayed.seat, 42.5)
    assert Latency("here:1", "p1", 42.5) in relayed.to_owner
    relayed.connection.close_outbox()
