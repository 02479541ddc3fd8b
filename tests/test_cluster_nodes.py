"""Several cluster nodes in one event loop: real registries, rooms and clusters, fake sockets.

Each node is what one server process is: a `RoomRegistry` whose peers are a
`Cluster` over its own backend. Every test runs over both shared backends
through one parametrized fixture, `world`: the memory hub (deterministic: a
lease runs out when the test moves the hub's clock) and a real redis-server
(started once for the module, flushed between tests; required in CI), where a
lease runs out when the test expires it.
The cluster's times are shortened (`ClusterTimings`) so each test takes well
under a second or two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Self

import anyio
import pytest

from asgi_mmo import roomview
from asgi_mmo.backends.base import Backend, LeaseState, MessageHandler
from asgi_mmo.backends.memory import MemoryBackend, MemoryHub
from asgi_mmo.cluster.messages import Reconnect
from asgi_mmo.cluster.mirror import RoomMirror
from asgi_mmo.cluster.node import Cluster
from asgi_mmo.cluster.timings import ClusterTimings
from asgi_mmo.exceptions import BackendUnavailable, ConnectionRefused
from asgi_mmo.games.base import ScoreEvent
from asgi_mmo.games.snake.rules import SnakeGame
from asgi_mmo.names import lease_key, room_in
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.settings import Settings
from tests.cluster import RedisProcess, run_redis
from tests.players import Player

pytestmark = pytest.mark.anyio

SETTINGS = Settings(seat_seconds=30, idle_room_seconds=60, outbox_frames=64, bot_processes=0)
FAST = ClusterTimings(
    lease_ms=400, renew_every=0.02, save_every=0.05, takeover_after=0.15, idle_mirror=5.0,
    rpc_seconds=1.0, join_seconds=3.0,
)  # fmt: skip
ROOM = RoomConfig(tick_rate=20, width=60, height=60)
#: how long any one condition may take to come true
PATIENCE = 3.0


async def eventually(condition: Callable[[], object], what: str, timeout: float = PATIENCE) -> None:
    """Wait until `condition()` is true (it is looked at every few milliseconds)."""
    with anyio.move_on_after(timeout):
        while not condition():
            await anyio.sleep(0.005)
    assert condition(), f"{what}: not within {timeout} s"


# ---- the world: a hub (memory or Redis) and the nodes on it ------------------------------------


class FakeClock:
    """The memory hub's time: it moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Severable:
    """A node's backend that can be cut off, as a process that dies is: from `sever()` on,
    commands raise `BackendUnavailable`, publishes are dropped and nothing arrives."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.severed = False
        self._handler: MessageHandler = lambda channel, data: None
        inner.set_message_handler(self._deliver)

    def sever(self) -> None:
        self.severed = True

    def _deliver(self, channel: str, data: bytes) -> None:
        if not self.severed:
            self._handler(channel, data)

    def _check(self) -> Backend:
        if self.severed:
            raise BackendUnavailable("this node is gone")
        return self.inner

    @property
    def shared(self) -> bool:
        return self.inner.shared

    @property
    def worker(self) -> str:
        return self.inner.worker

    @property
    def available(self) -> bool:
        return not self.severed and self.inner.available

    @property
    def published(self) -> int:
        return self.inner.published

    @property
    def dropped(self) -> int:
        return self.inner.dropped

    async def __aenter__(self) -> Self:
        await self.inner.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.inner.__aexit__(kind, error, tb)

    def set_message_handler(self, handler: MessageHandler) -> None:
        self._handler = handler

    async def claim_room(self, room_id: str, ttl_ms: int, min_fence: int = 0) -> str | None:
        return await self._check().claim_room(room_id, ttl_ms, min_fence)

    async def renew_room(self, room_id: str, lease: str, ttl_ms: int) -> LeaseState:
        return await self._check().renew_room(room_id, lease, ttl_ms)

    async def release_room(self, room_id: str, lease: str) -> None:
        await self._check().release_room(room_id, lease)

    async def room_owner(self, room_id: str) -> str | None:
        return await self._check().room_owner(room_id)

    async def save_room(self, room_id: str, saved: bytes, ttl_seconds: float, lease: str | None = None) -> bool:
        return await self._check().save_room(room_id, saved, ttl_seconds, lease)

    async def load_room(self, room_id: str) -> bytes | None:
        return await self._check().load_room(room_id)

    async def delete_room(self, room_id: str) -> None:
        await self._check().delete_room(room_id)

    async def publish_directory(self, entries: dict[str, bytes]) -> None:
        await self._check().publish_directory(entries)

    async def remove_from_directory(self, room_id: str) -> None:
        await self._check().remove_from_directory(room_id)

    async def directory_entry(self, room_id: str) -> bytes | None:
        return await self._check().directory_entry(room_id)

    async def directory(self) -> dict[str, bytes]:
        return await self._check().directory()

    def keep_scores_nowait(self, room_id: str, marks: dict[str, bytes], lease: str, ttl_seconds: float) -> None:
        if not self.severed:
            self.inner.keep_scores_nowait(room_id, marks, lease, ttl_seconds)

    async def load_scores(self, room_id: str) -> dict[str, bytes]:
        return await self._check().load_scores(room_id)

    def publish_nowait(self, channel: str, data: bytes) -> None:
        if not self.severed:
            self.inner.publish_nowait(channel, data)

    async def subscribe(self, channel: str) -> None:
        await self.inner.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self.inner.unsubscribe(channel)


class Node:
    """One server process of the cluster: a registry whose peers are a `Cluster`."""

    def __init__(self, backend: Backend, timings: ClusterTimings) -> None:
        self.backend = Severable(backend)
        self.timings = timings
        self.worker = backend.worker
        #: the score events its rooms gave the leaderboard
        self.scores: list[ScoreEvent] = []
        self.registry = RoomRegistry(SETTINGS, self._cluster, on_score=self.scores.append)
        self.stopped = anyio.Event()
        self._scope = anyio.CancelScope()

    def _cluster(self, rooms: Any) -> Cluster:
        self.cluster = Cluster(rooms, self.backend, SETTINGS, self.timings)
        return self.cluster

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            with self._scope:
                async with self.backend, anyio.create_task_group() as tasks:
                    await tasks.start(self.registry.run)
                    await tasks.start(self.cluster.run)
                    task_status.started()
                    await anyio.sleep_forever()
        finally:
            self.stopped.set()

    async def kill(self) -> None:
        """The process dies: nothing more of it reaches the others (no hand-over, no release)."""
        self.backend.sever()
        self._scope.cancel()
        await self.stopped.wait()

    async def open_room(self, config: RoomConfig = ROOM) -> Room:
        return await self.registry.open_room(config)


@dataclass
class World:
    kind: str
    new_backend: Callable[[str], Backend]
    expire: Callable[[], Any]  # async: every lease taken so far runs out
    tasks: anyio.abc.TaskGroup
    timings: ClusterTimings = FAST

    async def node(self, name: str) -> Node:
        node = Node(self.new_backend(name), self.timings)
        await self.tasks.start(node.serve)
        return node

    async def leases_run_out(self) -> None:
        await self.expire()

    async def taken_over(self, relayed: Player) -> Room:
        """The owner is dead: once the leases run out, the room `relayed` plays through its
        node's mirror is taken over there; the room that now runs."""
        await self.leases_run_out()
        mirror = relayed.room
        assert isinstance(mirror, RoomMirror)
        await eventually(lambda: mirror.promoted is not None, "the relaying node takes the room over")
        assert mirror.promoted is not None
        return mirror.promoted


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    with run_redis(cwd=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """The same nodes over the memory hub and over a real Redis."""
    if request.param == "memory":
        clock = FakeClock()
        hub = MemoryHub(clock)

        def new_backend(name: str) -> Backend:
            return MemoryBackend(hub, worker=name)

        async def expire() -> None:
            clock.now += FAST.lease_ms / 1000 + 0.001

        timings = FAST
    else:
        server: RedisProcess = request.getfixturevalue("redis_server")
        server.client().flushall()
        from asgi_mmo.backends.redis import RedisBackend

        def new_backend(name: str) -> Backend:
            return RedisBackend(server.url, name)

        async def expire() -> None:
            # Redis's clock cannot be moved: the leases are made to run out now (PEXPIRE with a
            # time not in the future deletes a key as if it expired). Until then they outlive
            # any test, so a slow machine that renews late loses none by itself.
            client = server.client()
            try:
                for key in client.scan_iter(match=lease_key("*")):
                    client.pexpire(key, 0)
            finally:
                client.close()

        timings = replace(FAST, lease_ms=60_000)

    async with anyio.create_task_group() as tasks:
        yield World(request.param, new_backend, expire, tasks, timings)
        tasks.cancel_scope.cancel()


# ---- players: sockets without sockets ----------------------------------------------------------


@asynccontextmanager
async def playing(
    node: Node, room_id: str, name: str, token: str | None = None, view: tuple[int, int] | None = None
) -> AsyncIterator[Player]:
    """A player that joins `room_id` through `node`, as a socket on that process would."""
    room, seat = await node.registry.join(name=name, room_id=room_id, token=token, view=view)
    player = Player(room, seat, SETTINGS.outbox_frames)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(player.run)
        yield player
        tasks.cancel_scope.cancel()


def check_sequence(player: Player) -> None:
    """The contract: after a welcome or state at N, ticks N+1, N+2, ... until the next state."""
    last = player.welcome["tick"]
    for frame in player.frames:
        if frame["type"] == "tick":
            assert frame["tick"] == last + 1, (last, frame["tick"])
            last = frame["tick"]
        elif frame["type"] == "state":
            assert frame["tick"] > last, (last, frame["tick"])
            last = frame["tick"]


# ---- ownership -----------------------------------------------------------------------------------


async def test_a_room_made_on_one_node_is_owned_there_and_listed_by_the_others(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(RoomConfig(tick_rate=20, max_players=5))
    owner = await b.backend.room_owner(room.id)
    assert owner is not None and owner.startswith("node-a|")
    assert not await b.cluster.adopt(room), "the id is taken: another node cannot own it too"
    listed = await b.registry.public_rooms()
    assert [entry["id"] for entry in listed] == [room.id]
    assert listed[0]["max_players"] == 5
    stats = await b.registry.room_statistics()
    assert [(entry["id"], entry["worker"]) for entry in stats] == [(room.id, a.registry.worker)]
    details = await b.registry.room_details(room.id)
    assert details is not None and details["id"] == room.id and details["players"] == []
    # Ids stay unique across the nodes, and each node lists every room once.
    others = [await node.open_room() for node in (a, b, b, a)]
    ids = {room.id, *(other.id for other in others)}
    assert len(ids) == 5
    for node in (a, b):
        assert sorted(entry["id"] for entry in await node.registry.public_rooms()) == sorted(ids)


async def test_a_private_room_is_not_listed_but_can_be_joined_and_closed_from_another_node(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(RoomConfig(private=True))
    assert await b.registry.public_rooms() == []
    assert [entry["id"] for entry in await b.registry.room_statistics()] == [room.id]
    async with playing(b, room.id, "bob") as bob:
        assert bob.welcome["room"] == room.id
        assert await b.registry.close_anywhere(room.id)
        await eventually(lambda: room.closed, "the owner closes its room")
        await eventually(lambda: bob.closed_with == "room_closed", "the relayed player is told")
    assert not await b.registry.close_anywhere("no-such-room")


# ---- relay -----------------------------------------------------------------------------------


async def test_a_player_plays_through_another_node(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(a, room.id, "alice") as alice, playing(b, room.id, "bob") as bob:
        assert isinstance(bob.room, RoomMirror) and isinstance(alice.room, Room)
        assert bob.welcome["type"] == "welcome" and bob.welcome["room"] == room.id
        owned_seat = room.seats[bob.seat.player_id]
        assert owned_seat.remote == "node-b" and room.players == 2
        # Inputs reach the owner and come back acknowledged in the relayed ticks.
        bob.room.handle_input(bob.seat, 1, {"dir": "up"})
        await eventually(lambda: owned_seat.ack == 1, "the owner applies the relayed input")
        await eventually(lambda: bob.acked(1), "the relayed ticks carry the player's ack")
        # The same ticks reach both, each with its own ack.
        await eventually(lambda: len(bob.of("tick")) >= 5, "relayed ticks")
        relayed = {frame["tick"]: frame for frame in bob.of("tick")}
        local = {frame["tick"]: frame for frame in alice.of("tick")}
        shared = sorted(set(relayed) & set(local))
        assert len(shared) >= 3
        for tick in shared:
            assert {**relayed[tick], "ack": 0} == {**local[tick], "ack": 0}
        # Chat both ways.
        alice.room.chat(alice.seat, "hello from a")
        bob.room.chat(bob.seat, "hello from b")
        await eventually(lambda: len(alice.of("chat")) == len(bob.of("chat")) == 2, "both chats reach both")
        for player in (alice, bob):
            assert {frame["text"] for frame in player.of("chat")} == {"hello from a", "hello from b"}
        # The admin API sees both players, and where their sockets are.
        assert roomview.statistics(room)["players"] == 2
        via = {entry["name"]: entry["via"] for entry in roomview.player_list(room)}
        assert via == {"alice": "node-a", "bob": "node-b"}
        check_sequence(bob)
        # Leaving through the relay frees the seat at the owner.
        bob.leave(leave=True)
        await eventually(lambda: bob.seat.player_id not in room.seats, "the seat is freed")
        assert room.players == 1


async def test_a_relayed_players_welcome_has_the_view_it_asked_for(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(RoomConfig(view=True, width=200, height=150))
    async with playing(b, room.id, "far", view=(40, 24)) as far, playing(a, room.id, "near", view=(48, 32)) as near:
        assert isinstance(far.room, RoomMirror)
        assert (far.welcome["view"]["width"], far.welcome["view"]["height"]) == (40, 24)
        assert (near.welcome["view"]["width"], near.welcome["view"]["height"]) == (48, 32)


async def test_a_join_the_owner_refuses_is_refused_through_the_relay(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(RoomConfig(max_players=1))
    async with playing(a, room.id, "alice"):
        with pytest.raises(ConnectionRefused) as refused:
            await b.registry.join(name="bob", room_id=room.id)
        assert (refused.value.code, refused.value.close_code) == ("room_full", 4409)
    with pytest.raises(ConnectionRefused) as unknown:
        await b.registry.join(name="bob", room_id="nowhere")
    assert unknown.value.code == "room_not_found"


async def test_resuming_a_seat_through_another_node_closes_the_old_socket(world: World) -> None:
    a, b, c = await world.node("node-a"), await world.node("node-b"), await world.node("node-c")
    room = await a.open_room()
    async with playing(b, room.id, "bob") as first:
        async with playing(c, room.id, "bob", token=first.seat.token) as again:
            assert again.seat.player_id == first.seat.player_id
            await eventually(lambda: first.closed_with == "replaced", "the old socket is kicked")
            assert room.seats[again.seat.player_id].remote == "node-c"
            await eventually(lambda: len(again.of("tick")) >= 2, "the new socket plays")


async def test_garbage_on_a_channel_is_refused_and_the_room_plays_on(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(b, room.id, "bob") as bob:
        b.backend.publish_nowait(room_in(room.id), b'{"t":"input","p":"x","seq":"one","w":"node-b"}')
        b.backend.publish_nowait(room_in(room.id), b"\xff not json")
        bob.room.handle_input(bob.seat, 1, {"dir": "down"})
        await eventually(lambda: bob.acked(1), "the next good message still gets through")


# ---- failover ----------------------------------------------------------------------------------


async def saved_score(node: Node, room_id: str, player_id: str) -> int | None:
    """The score the room's saved state gives a player (None: not saved with the player yet; a
    room is saved when it is made, and again every `save_every`, which a loaded machine stretches)."""
    saved = await node.backend.load_room(room_id)
    if saved is None:
        return None
    restored = roomview.restore(saved, SETTINGS)
    if player_id not in restored.seats:
        return None
    score: int = restored.game.player_stats(player_id)["score"]
    return score


async def test_a_dead_owners_room_is_taken_over_and_its_relayed_player_plays_on(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(b, room.id, "bob") as bob:
        await eventually(lambda: len(bob.of("tick")) >= 2, "relayed ticks")
        player_id = bob.seat.player_id
        assert isinstance(room.game, SnakeGame)
        room.game._snakes[player_id].score = 7  # earned, say
        with anyio.fail_after(PATIENCE):
            while (await saved_score(b, room.id, player_id) or 0) < 7:
                await anyio.sleep(0.01)
        moved = len(bob.frames)
        await a.kill()  # no hand-over: the lease stays until it runs out
        score = await saved_score(b, room.id, player_id)  # 7, or more if the snake ate since
        assert score is not None and score >= 7
        assert (await b.backend.room_owner(room.id) or "").startswith("node-a|")
        taken = await world.taken_over(bob)
        assert taken is b.registry.get(room.id) and taken is not room
        owner = await b.backend.room_owner(room.id)
        assert owner is not None and owner.startswith("node-b|")
        # The same seat, the same score, a state and then ticks on the same socket.
        seat = taken.seats[player_id]
        assert seat.connection is bob.connection and bob.closed_with is None
        assert taken.game.player_stats(player_id)["score"] >= score  # kept (and more, if it ate since)
        await eventually(lambda: any(f["type"] == "state" for f in bob.frames[moved:]), "a state after the move")
        await eventually(lambda: len([f for f in bob.frames[moved:] if f["type"] == "tick"]) >= 3, "ticks again")
        check_sequence(bob)
        mirror = bob.room
        assert isinstance(mirror, RoomMirror)
        mirror.handle_input(bob.seat, 6, {"dir": "left"})  # the socket's reader still talks to the mirror
        await eventually(lambda: bob.acked(6), "inputs still count")


def steer_to_food(game: SnakeGame, player_id: str, food: int, *, then_a_stone: bool = False) -> None:
    """Put the player's snake on a free row, moving right, with food of value `food` ahead (and a
    stone right behind it: it eats, then dies). The cells beyond the food hold no food of the
    field's own, which the snake would eat too."""
    for y in range(5, 55):
        if any((x, y) in game.food_cells() for x in range(12, 16)):
            continue
        try:
            game.place_snake(player_id, [(10, y), (9, y), (8, y)])
            game.place_food(11, y, food)
            if then_a_stone:
                game.place_stone(12, y)
            return
        except ValueError:
            continue  # a stone or food of the field's own in the way: the next row
    raise AssertionError("no free row")


def shown_score(player: Player, player_id: str) -> int | None:
    """The player's score as the last tick that changed it showed it (in a snake's whole entry, or as a score)."""
    scores = None
    for frame in player.of("tick"):
        for entry in frame.get("snakes", ()):
            if entry["id"] == player_id:
                scores = entry["score"]
        for sid, score in frame.get("scores", ()):
            if sid == player_id:
                scores = score
    return scores


@pytest.mark.parametrize("then_dies", [False, True], ids=["scores", "scores-then-dies"])
async def test_a_score_made_after_the_owners_last_save_survives_its_death(
    world: World, monkeypatch: pytest.MonkeyPatch, then_dies: bool
) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(b, room.id, "bob") as bob:
        await eventually(lambda: len(bob.of("tick")) >= 2, "relayed ticks")
        player_id = bob.seat.player_id
        with anyio.fail_after(PATIENCE):
            while await saved_score(b, room.id, player_id) is None:
                await anyio.sleep(0.01)

        async def no_save() -> None:
            pass

        monkeypatch.setattr(a.cluster, "_save_rooms", no_save)  # the owner saves no more from now on
        await anyio.sleep(FAST.save_every * 2)  # (a save under way is done)
        assert await saved_score(b, room.id, player_id) == 0
        assert isinstance(room.game, SnakeGame)
        steer_to_food(room.game, player_id, 9, then_a_stone=then_dies)
        await eventually(lambda: shown_score(bob, player_id) == 9, "bob is shown his score")
        if then_dies:
            await eventually(lambda: any(player_id in f.get("died", ()) for f in bob.of("tick")), "bob sees it die")
            assert a.scores == [ScoreEvent(player_id, "bob", 9, False)]
        shown = bob.ticks()[-1]
        await a.kill()  # before it saved again, and maybe before its leaderboard wrote the score
        assert await saved_score(b, room.id, player_id) == 0, "the save is older than the score"
        taken = await world.taken_over(bob)
        assert taken.game.player_stats(player_id) == {"score": 9, "alive": not then_dies}
        assert taken.tick > shown, "the room runs on from the last tick its players saw"
        # The death's score again to the leaderboard (which keeps the best per name: counted once).
        assert b.scores == ([ScoreEvent(player_id, "bob", 9, False)] if then_dies else [])
        await eventually(lambda: any(f["type"] == "state" for f in bob.frames if f["tick"] > shown), "a state")
        state = next(f for f in bob.frames if f["type"] == "state" and f["tick"] > shown)
        snake = next(s for s in state["state"]["snakes"] if s["id"] == player_id)
        assert snake["score"] == 9 and snake["alive"] is not then_dies


@pytest.mark.parametrize("config", [ROOM, RoomConfig(view=True, width=200, height=150)], ids=["plain", "view"])
async def test_a_relaying_process_knows_its_rooms_audience(world: World, config: RoomConfig) -> None:
    """A player's chat budget counts every reader of the room (`chatbudget.py`), also where its
    socket is on another process: the owner's ticks say how many."""
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room(config)
    async with playing(a, room.id, "alice"), playing(a, room.id, "ann"), playing(b, room.id, "bob") as bob:
        mirror = bob.room
        assert isinstance(mirror, RoomMirror)
        await eventually(lambda: mirror.audience == 3, "the owner's count, from its ticks")
        assert room.audience == 3
        async with playing(b, room.id, "cat") as cat:
            await eventually(lambda: mirror.audience == 4, "one more, through this process")
            cat.leave()
        await eventually(lambda: mirror.audience == 3, "and gone")


async def test_a_draining_owner_hands_its_room_over_at_once(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(a, room.id, "alice") as alice, playing(b, room.id, "bob") as bob:
        await eventually(lambda: len(bob.of("tick")) >= 2, "relayed ticks")
        moved = len(bob.frames)
        a.registry.drain()
        assert alice.closed_with == "server_shutdown"
        assert await a.registry.save_rooms() == 1
        assert await a.backend.room_owner(room.id) is None, "the lease is given up"
        mirror = bob.room
        assert isinstance(mirror, RoomMirror)
        # No lease to wait out: the relaying node takes the room at its next round.
        with anyio.fail_after(1.0):
            while mirror.promoted is None:
                await anyio.sleep(0.005)
        taken = mirror.promoted
        assert taken.seats[bob.seat.player_id].connection is bob.connection
        await eventually(lambda: any(f["type"] == "state" for f in bob.frames[moved:]), "a state after the move")
        check_sequence(bob)
        # The drained node's player comes back through the other node, to the same seat.
        async with playing(b, room.id, "alice", token=alice.seat.token) as back:
            assert back.seat.player_id == alice.seat.player_id and back.room is taken
            await eventually(lambda: len(back.of("tick")) >= 2, "the resumed player plays")


async def test_a_lease_renewal_during_a_hand_over_does_not_take_the_room_back(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upkeep's round may run while a drain hands a room over: a renewal that finds the
    lease given up must not claim it again (the others could not take the room till it ran out)."""
    a = await world.node("node-a")
    room = await a.open_room()
    releasing = a.backend.release_room

    async def release_then_renew(room_id: str, lease: str) -> None:
        await releasing(room_id, lease)
        await a.cluster._renew_leases()  # the upkeep's round, between the release and the forgetting

    monkeypatch.setattr(a.backend, "release_room", release_then_renew)
    a.registry.drain()
    assert await a.registry.save_rooms() == 1
    assert await a.backend.room_owner(room.id) is None, "the lease stays given up"


async def test_a_drained_room_shows_nothing_after_its_last_save(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(b, room.id, "bob") as bob:
        await eventually(lambda: len(bob.of("tick")) >= 2, "relayed ticks")
        saving, releasing = a.backend.save_room, a.backend.release_room
        saved_at: list[int] = []

        async def save(room_id: str, saved: bytes, ttl_seconds: float, lease: str | None = None) -> bool:
            saved_at.append(roomview.restore(saved, SETTINGS).tick)
            return await saving(room_id, saved, ttl_seconds, lease)

        async def release_slowly(room_id: str, lease: str) -> None:  # the room ticks on meanwhile
            await anyio.sleep(0.3)
            await releasing(room_id, lease)

        monkeypatch.setattr(a.backend, "save_room", save)
        monkeypatch.setattr(a.backend, "release_room", release_slowly)
        a.registry.drain()
        assert await a.registry.save_rooms() == 1
        assert room.tick >= saved_at[-1] + 3, "the room ticked on while it was handed over"
        mirror = bob.room
        assert isinstance(mirror, RoomMirror)
        await eventually(lambda: mirror.promoted is not None, "the relaying node takes the room")
        await eventually(lambda: any(f["type"] == "state" and f["tick"] > saved_at[-1] for f in bob.frames), "a state")
        # What bob saw after the save is the new owner's, from its state on: the taker runs on from the
        # save, so a tick of the old owner after it could show a score that then goes back.
        after = next(f for f in bob.frames if f["type"] in ("tick", "state") and f["tick"] > saved_at[-1])
        assert after["type"] == "state"
        check_sequence(bob)


async def test_a_reconnect_its_own_mirror_sent_before_a_takeover_leaves_the_players_alone(world: World) -> None:
    """Found by bench/chaos.py: a relaying node re-registers its players with a silent owner
    (`Reconnect`); delivered after it took the room over itself, the room ended their sockets."""
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(b, room.id, "bob") as bob:
        await eventually(lambda: len(bob.of("tick")) >= 2, "relayed ticks")
        with anyio.fail_after(PATIENCE):  # saved with bob's seat (the save at the room's making has none)
            while bob.seat.token.encode() not in (await b.backend.load_room(room.id) or b""):
                await anyio.sleep(0.01)
        await a.kill()
        taken = await world.taken_over(bob)
        late = Reconnect(b.worker, bob.seat.player_id, bob.seat.token)
        b.backend.publish_nowait(room_in(room.id), late.encode())
        ticks = len(bob.of("tick"))
        await eventually(lambda: len(bob.of("tick")) >= ticks + 4, "ticks on")
        assert bob.closed_with is None, "not replaced by its own process"
        assert taken.seats[bob.seat.player_id].connection is bob.connection


async def test_a_join_that_waits_out_a_dead_owner_gets_the_room_taken_over_meanwhile(world: World) -> None:
    """Found by bench/chaos.py: a join waiting on a dead owner, while its own node took the room
    over and dropped the mirror, made a new mirror, asked itself, and ran out as room_not_found."""
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(a, room.id, "alice") as alice, playing(b, room.id, "bob") as bob:
        await eventually(lambda: len(bob.of("tick")) >= 2, "relayed ticks")
        with anyio.fail_after(PATIENCE):
            while alice.seat.token.encode() not in (await b.backend.load_room(room.id) or b""):
                await anyio.sleep(0.01)
        await a.kill()
        back: list[tuple[Any, Any]] = []

        async def resume() -> None:
            back.append(await b.registry.join(name="alice", room_id=room.id, token=alice.seat.token))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(resume)  # asks the dead owner first, and waits
            await anyio.sleep(0.1)
            await world.leases_run_out()
            mirror = bob.room
            assert isinstance(mirror, RoomMirror)
            await eventually(lambda: mirror.promoted is not None and room.id not in b.cluster.mirrors,
                             "taken over, the mirror dropped")
        taken, seat = back[0]
        assert taken is b.registry.get(room.id) and seat.player_id == alice.seat.player_id


async def test_players_that_join_at_once_through_a_new_relay_all_get_ticks(world: World) -> None:
    """Found by bench/chaos.py: joins that made a room's first mirror at the same time made one
    each, and only the players of the last one got ticks."""
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(a, room.id, "alice"):
        joined: list[Player] = []

        async def join(name: str) -> None:
            mirror, seat = await b.registry.join(name=name, room_id=room.id)
            joined.append(Player(mirror, seat, SETTINGS.outbox_frames))

        async with anyio.create_task_group() as joins:
            for number in range(6):
                joins.start_soon(join, f"p{number}")
        assert {id(player.room) for player in joined} == {id(b.cluster.mirrors[room.id])}, "one mirror"
        async with anyio.create_task_group() as tasks:
            for player in joined:
                tasks.start_soon(player.run)
            await eventually(lambda: all(len(p.of("tick")) >= 2 for p in joined), "every player's ticks")
            tasks.cancel_scope.cancel()


async def test_a_join_during_a_drain_gets_its_seat_back_at_once(world: World) -> None:
    """Issue #15, item 5: the drain hands the room over at the signal, not at the lifespan shutdown."""
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(a, room.id, "alice") as alice:
        await eventually(lambda: len(alice.of("tick")) >= 2, "ticks")
        a.registry.drain()  # the signal; the lifespan shutdown (save_rooms) has not run
        assert alice.closed_with == "server_shutdown"
        # At once, through the other node: its join may reach the draining owner before the
        # hand-over; either way the player gets its seat, in the room the other node now runs.
        started = anyio.current_time()
        async with playing(b, room.id, "alice", token=alice.seat.token) as back:
            assert anyio.current_time() - started < 1.0
            assert back.seat.player_id == alice.seat.player_id
            assert back.room is b.registry.get(room.id), "the other node runs the room"
            await eventually(lambda: len(back.of("tick")) >= 2, "the resumed player plays")
        await eventually(lambda: room.closed, "the drained node stops its own copy")
        assert await a.registry.save_rooms() == 1, "handed over once, at the signal"


async def test_an_owner_that_finds_its_lease_taken_stops_the_room(world: World) -> None:
    a, b = await world.node("node-a"), await world.node("node-b")
    room = await a.open_room()
    async with playing(a, room.id, "alice") as alice:
        lease = await b.backend.room_owner(room.id)
        assert lease is not None
        await b.backend.release_room(room.id, lease)  # as if A's lease ran out while it stalled
        taken = await b.backend.claim_room(room.id, b.timings.lease_ms)
        assert taken is not None and taken.startswith("node-b|")
        await eventually(lambda: room.closed, "the old owner stops the room")
        assert alice.closed_with == "server_shutdown"
        assert alice.connection.close_reason is not None and alice.connection.close_reason.close_code == 1012
        assert a.registry.get(room.id) is None
        assert await b.backend.room_owner(room.id) == taken, "the old owner leaves the new lease alone"
