"""The registry and the rooms' tick loops, driven directly (no sockets)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import anyio
import pytest
from anyio.abc import TaskGroup

from asgi_mmo import roomview
from asgi_mmo.backends.memory import MemoryBackend
from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.games.base import ScoreEvent
from asgi_mmo.games.catalog import GAMES
from asgi_mmo.games.snake.rules import SnakeGame, apply_delta
from asgi_mmo.peers import NoPeers
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.room import Room, RoomState
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings
from tests.players import Player

pytestmark = pytest.mark.anyio

FAST = Settings(seat_seconds=30, idle_room_seconds=30, outbox_frames=4)


@asynccontextmanager
async def running_registry(
    settings: Settings = FAST, backend: MemoryBackend | None = None
) -> AsyncIterator[RoomRegistry]:
    async with anyio.create_task_group() as tasks:
        registry = RoomRegistry(settings, NoPeers.over(backend or MemoryBackend(), settings))
        await tasks.start(registry.run)
        yield registry
        tasks.cancel_scope.cancel()


async def connect(tasks: TaskGroup, room: Room, name: str = "p", seat: Seat | None = None) -> Player:
    """A player in `room` (a new seat, or `seat`) whose writer runs in `tasks`."""
    player = Player(room, seat or room.join(name), room.settings.outbox_frames)
    tasks.start_soon(player.run)
    return player


async def test_a_room_ticks_only_while_a_human_is_connected() -> None:
    async with running_registry() as registry, anyio.create_task_group() as tasks:
        room = registry.create_room(RoomConfig(tick_rate=50, bots=3))
        await anyio.sleep(0.15)
        assert room.tick == 0, "bots alone must not keep a room ticking"
        player = await connect(tasks, room)
        with anyio.fail_after(5):
            while room.tick < 5:
                await anyio.sleep(0.02)
        player.leave()
        await anyio.sleep(0.05)
        stopped_at = room.tick
        await anyio.sleep(0.2)
        assert room.tick == stopped_at
        assert registry.get(room.id) is room, "the room keeps the seat for seat_seconds"
        await connect(tasks, room, seat=player.seat)
        await anyio.sleep(0.2)
        assert room.tick > stopped_at
        assert room.loop_starts == 2
        tasks.cancel_scope.cancel()


async def test_racing_joins_start_one_loop() -> None:
    async with running_registry() as registry, anyio.create_task_group() as tasks:
        rooms: set[Room] = set()

        async def join(number: int) -> None:
            room, seat = await registry.join(name=f"p{number}")
            assert isinstance(room, Room)
            await anyio.sleep(0)
            await connect(tasks, room, seat=seat)
            rooms.add(room)

        async with anyio.create_task_group() as joins:
            for number in range(20):
                joins.start_soon(join, number)
        assert len(rooms) == 1
        (room,) = rooms
        started, first_tick = anyio.current_time(), room.tick
        await anyio.sleep(0.5)
        elapsed = anyio.current_time() - started
        assert room.loop_starts == 1
        # One loop at 10 Hz: at most one tick per slot (two loops would tick twice as often).
        assert 1 <= room.tick - first_tick <= elapsed * 10 + 1
        tasks.cancel_scope.cancel()


class SlowSnake(SnakeGame):
    """Ten steps of a 50 Hz room, again and again, some busy on the CPU like real slow ticks: the
    2nd takes 1.6 periods and the 3rd 0.7 (an overrun by 0.6 periods, caught up by a late tick that
    ends 0.3 behind, caught up too), the 6th and 7th 1.1 (0.1 behind, then 0.2: catching up did
    not bring the room nearer), the 10th 2.3 (1.3 periods behind). Each well clear of the lines
    that decide, so a machine's jitter of a few milliseconds does not move a tick across one."""

    name = "slow"
    steps = 0
    BUSY = {2: 0.032, 3: 0.014, 6: 0.022, 7: 0.022, 0: 0.046}  # seconds, by step number modulo 10

    def step(self, tick: int = 0, dt: float = 0.0) -> list[ScoreEvent]:
        self.steps += 1
        if (busy := self.BUSY.get(self.steps % 10)) is not None:
            until = time.perf_counter() + busy
            while time.perf_counter() < until:
                pass
        return super().step(tick, dt)


async def test_the_tick_loop_keeps_its_grid_under_slow_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GAMES, "slow", SlowSnake)
    starts: list[float] = []
    woken: list[float] = []

    async def sleeper() -> None:
        """How late this event loop wakes a task that only sleeps, on this machine, now."""
        while True:
            deadline = anyio.current_time() + 0.005
            await anyio.sleep_until(deadline)
            woken.append(time.monotonic() - deadline)

    # No tick budget: a machine under load stretches ticks, and a budget would slow the room
    # (a longer period) where this test looks at the grid of its own.
    async with running_registry(replace(FAST, tick_budget=0)) as registry, anyio.create_task_group() as tasks:
        room = registry.create_room(RoomConfig(game="slow", tick_rate=50))
        original = room.step

        def step(now: float) -> None:
            starts.append(now)
            original(now)

        monkeypatch.setattr(room, "step", step)
        await connect(tasks, room)
        tasks.start_soon(sleeper)
        while room.tick < 200:
            await anyio.sleep(0.05)
        tasks.cancel_scope.cancel()

    period = 0.02
    lateness = list(room.stats.lateness)[: len(starts)]
    durations = list(room.stats.durations)[: len(starts)]
    deadlines = [start - late for start, late in zip(starts, lateness, strict=False)]
    slots = [(deadline - deadlines[0]) / period for deadline in deadlines]
    # No drift: every deadline lies on the room's grid (a loop that sleeps one period after its
    # work would slide by the work's duration each tick, and by whole periods after slow ones).
    assert max(abs(slot - round(slot)) for slot in slots) < 1e-6
    # ...and ticks really start at their deadlines: as soon as this loop wakes any sleeper, on a
    # quiet machine or a loaded one (a tick a slot late would be a period later than that).
    assert statistics.median(lateness) < statistics.median(woken) + period / 2
    # After an overrun, the next tick keeps its slot and starts at once if the room is less than
    # a period behind and, when the tick that overran had itself started late, it ended less late
    # than it started; otherwise the slots it ran into are skipped, exactly those.
    indices = [round(slot) for slot in slots]
    caught_up = chained = not_nearer = far = slots_skipped = 0
    late_by: float | None = None
    for index, (start, duration) in enumerate(zip(starts[:-1], durations, strict=False)):
        overran = start + duration - (deadlines[index] + period)
        if 0 < overran < period and (late_by is None or overran < late_by):
            assert indices[index + 1] == indices[index] + 1, index
            assert lateness[index + 1] >= overran - 1e-3, index  # it started the moment the last ended
            caught_up += 1
            chained += late_by is not None
            late_by = overran
        else:
            assert indices[index + 1] - indices[index] == 1 + max(0, math.ceil(overran / period)), index
            not_nearer += 0 < overran < period
            far += overran >= period
            slots_skipped += indices[index + 1] - indices[index] - 1
            late_by = None
    # Of every ten ticks, five overran: the 2nd and 6th were caught up, the 3rd too (a chain), the
    # 7th was not (it did not bring the room nearer), the 10th was a whole period behind.
    assert room.stats.overruns >= 90
    assert caught_up >= 30 and chained >= 10 and not_nearer >= 10 and far >= 15, (caught_up, chained, not_nearer, far)
    # ...and the room counts the slots it skipped, not the overruns it caught up (its stats run on
    # past the ticks looked at here, so no fewer).
    assert room.stats.slots_skipped >= slots_skipped >= 2 * far


async def test_a_disconnected_seat_expires_and_the_empty_room_is_disposed() -> None:
    settings = replace(FAST, seat_seconds=0.2, idle_room_seconds=0.2)
    async with running_registry(settings) as registry, anyio.create_task_group() as tasks:
        room = registry.create_room(RoomConfig(tick_rate=20))
        player = await connect(tasks, room)
        await anyio.sleep(0.1)
        player.leave()
        assert room.seat_for_token(player.seat.token) is player.seat
        await anyio.sleep(0.8)
        assert registry.get(room.id) is None
        assert room.closed
        with pytest.raises(ConnectionRefused) as refused:
            await registry.join(name="p", room_id=room.id, token=player.seat.token)
        assert refused.value.code == "room_not_found"
        tasks.cancel_scope.cancel()


async def test_a_room_nobody_joins_is_disposed_after_idle_room_seconds() -> None:
    async with running_registry(replace(FAST, idle_room_seconds=0.2)) as registry:
        room = registry.create_room(RoomConfig())
        await anyio.sleep(0.05)
        assert registry.get(room.id) is room
        await anyio.sleep(0.4)
        assert registry.get(room.id) is None


async def test_a_stalled_client_misses_ticks_then_gets_a_state_first() -> None:
    async with running_registry() as registry, anyio.create_task_group() as tasks:
        room = registry.create_room(RoomConfig(tick_rate=50))
        steady = await connect(tasks, room, "steady")
        slow = await connect(tasks, room, "slow")
        await anyio.sleep(0.1)
        slow.stall()
        await anyio.sleep(0.4)  # 20 ticks against an outbox of 4
        slow.resume()
        await anyio.sleep(0.3)
        tasks.cancel_scope.cancel()

    kinds = [f["type"] for f in slow.frames]
    assert "state" in kinds, "a client that missed ticks gets a state"
    assert room.stats.ticks_dropped > 0
    # The contract: after a welcome or state at N, the next tick is N+1; never a gap.
    for player in (steady, slow):
        last = player.welcome["tick"]
        picture = player.welcome["state"]
        for frame in player.frames:
            if frame["type"] == "state":
                assert frame["tick"] > last
                picture = frame["state"]
            else:
                assert frame["tick"] == last + 1
                apply_delta(picture, frame)
            last = frame["tick"]
    # the steady player was never starved while the other was stalled
    assert steady.ticks() == list(range(steady.welcome["tick"] + 1, steady.welcome["tick"] + 1 + len(steady.ticks())))
    assert "state" not in [f["type"] for f in steady.frames]


async def test_a_client_that_takes_nothing_is_closed_too_slow_and_keeps_its_seat() -> None:
    settings = replace(FAST, slow_client_seconds=0.3)
    async with running_registry(settings) as registry, anyio.create_task_group() as tasks:
        room = registry.create_room(RoomConfig(tick_rate=50))
        steady = await connect(tasks, room, "steady")
        stuck = await connect(tasks, room, "stuck")
        stuck.stall()
        with anyio.move_on_after(10):  # 0.3 s on a quiet machine; waited for, not slept on
            while stuck.connection.close_reason is None:
                await anyio.sleep(0.02)
        reason = stuck.connection.close_reason
        assert reason is not None and (reason.code, reason.close_code) == ("too_slow", 1008)
        stuck.leave()
        assert room.seat_for_token(stuck.seat.token) is stuck.seat
        with anyio.move_on_after(10):
            while len(steady.ticks()) < 30:
                await anyio.sleep(0.02)
        assert len(steady.ticks()) >= 30, "the room kept ticking for the steady player"
        tasks.cancel_scope.cancel()


async def test_rooms_are_spread_over_the_period() -> None:
    async with running_registry() as registry:
        rooms = [registry.create_room(RoomConfig(tick_rate=20)) for _ in range(8)]
        phases = sorted(room.phase for room in rooms)
        gaps = [b - a for a, b in zip(phases, phases[1:], strict=False)]
        assert min(gaps) > 0.05, phases
        now = 100.0
        deadlines = {round(room.first_deadline(now) % room.period, 6) for room in rooms}
        assert len(deadlines) == 8


async def test_closing_a_room_tells_its_players_and_removes_it() -> None:
    async with running_registry() as registry, anyio.create_task_group() as tasks:
        room = registry.create_room(RoomConfig(tick_rate=50))
        player = await connect(tasks, room)
        await anyio.sleep(0.05)
        assert registry.close_room(room.id)
        await anyio.sleep(0.1)
        reason = player.connection.close_reason
        assert reason is not None and (reason.code, reason.close_code) == ("room_closed", 4001)
        assert registry.get(room.id) is None
        assert not registry.close_room(room.id)
        tasks.cancel_scope.cancel()


async def test_a_saved_room_resumes_in_another_registry() -> None:
    backend = MemoryBackend()
    async with running_registry(backend=backend) as first, anyio.create_task_group() as tasks:
        room = first.create_room(RoomConfig(tick_rate=50, bots=1))
        player = await connect(tasks, room, "alice")
        player.seat.ack = 0
        room.handle_input(player.seat, 7, {"dir": "up"})
        await anyio.sleep(0.2)
        player.leave()
        await anyio.sleep(0.05)
        snapshot = room.game.snapshot()
        tick = room.tick
        assert await first.save_rooms() == 1
        tasks.cancel_scope.cancel()

    async with running_registry(backend=backend) as second, anyio.create_task_group() as tasks:
        restored, seat = await second.join(name="alice", room_id=room.id, token=player.seat.token)
        assert isinstance(restored, Room)
        assert restored.id == room.id and restored.tick == tick
        assert seat.player_id == player.seat.player_id and seat.ack == 7
        assert restored.game.snapshot() == snapshot
        assert roomview.statistics(restored)["bots"] == 1
        again = await connect(tasks, restored, seat=seat)
        assert again.welcome["player"] == player.seat.player_id
        await anyio.sleep(0.1)
        assert restored.tick > tick
        tasks.cancel_scope.cancel()


async def test_joins_are_refused_while_draining() -> None:
    async with running_registry() as registry:
        registry.drain()
        with pytest.raises(ConnectionRefused) as refused:
            await registry.join(name="late")
        assert (refused.value.code, refused.value.close_code) == ("server_shutdown", 1012)


async def test_statistics_count_ticks_and_traffic() -> None:
    async with running_registry() as registry, anyio.create_task_group() as tasks:
        room = registry.create_room(RoomConfig(tick_rate=50))
        await connect(tasks, room, "a")
        await connect(tasks, room, "b")
        with anyio.fail_after(5):
            while room.tick < 10:
                await anyio.sleep(0.02)
        stats = roomview.statistics(room)
        assert stats["tick"] == room.tick >= 10
        assert stats["msgs_out"] >= 2 * (room.tick - 1)
        assert stats["bytes_out"] > stats["msgs_out"] * 20
        assert 0 <= stats["tick_ms"]["p50"] <= stats["tick_ms"]["p99"] <= stats["tick_ms"]["max"] < 250
        assert stats["players"] == 2 and stats["worker"] == registry.worker
        tasks.cancel_scope.cancel()


async def test_a_room_goes_from_idle_to_ticking_and_back_then_closed() -> None:
    async with running_registry() as registry, anyio.create_task_group() as tasks:
        room = registry.create_room(RoomConfig(tick_rate=50))

        def state() -> RoomState:
            return room.state

        assert state() is RoomState.IDLE
        player = await connect(tasks, room)
        with anyio.fail_after(5):
            while room.tick < 2:
                await anyio.sleep(0.01)
        assert state() is RoomState.TICKING
        player.leave()
        with anyio.fail_after(5):
            while state() is not RoomState.IDLE:
                await anyio.sleep(0.01)
        registry.close_room(room.id)
        assert state() is RoomState.CLOSED and room.closed
        tasks.cancel_scope.cancel()
