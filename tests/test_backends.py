"""The backend contract (`backends/base.py`), run over every implementation.

One parametrized fixture, `store`, gives each test a fresh shared store: a
`MemoryHub` with a fake clock, or a real redis-server (started once for the
module, FLUSHALL before each test). Times are fractions of `store.ttl`:
`store.advance` moves the fake clock, or cuts every Redis key's time to live
by as much, so one test body serves both and none depends on how fast the
machine runs it. The memory hub's own tools (settle, offline, full inboxes) are
tested at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import pytest

from asgi_mmo.backends.base import Backend, LeaseState
from asgi_mmo.backends.factory import create_backend
from asgi_mmo.backends.memory import MemoryBackend, MemoryHub
from asgi_mmo.backends.redis import RedisBackend
from asgi_mmo.exceptions import BackendUnavailable, ConfigError
from asgi_mmo.names import worker_channel
from asgi_mmo.settings import Settings
from tests.cluster import RedisProcess, run_redis

pytestmark = pytest.mark.anyio

ROOM = "r00m"
Pair = tuple[Backend, Backend]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """One shared store, whichever implementation, and what a test does to it."""

    #: lease and save time to live (seconds); Redis gets one short enough to wait out
    ttl: float

    @property
    def ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    def backend(self, worker: str) -> Backend:
        raise NotImplementedError

    async def advance(self, seconds: float) -> None:
        """Let `seconds` pass for every expiry."""
        raise NotImplementedError

    def flush(self) -> None:
        """Lose every key, as a store restarted without persistence."""
        raise NotImplementedError

    async def cut(self, backend: Backend) -> None:
        """Make `backend` unable to reach the store (Redis: the server goes down)."""
        raise NotImplementedError

    async def restore(self, *backends: Backend) -> None:
        """The store reachable again; returns once `backends` are connected."""
        raise NotImplementedError


class MemoryStore(Store):
    ttl = 3.0

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.hub = MemoryHub(clock=self.clock)
        self._offline: list[MemoryBackend] = []

    def backend(self, worker: str) -> Backend:
        return MemoryBackend(self.hub, worker)

    async def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        await anyio.lowlevel.checkpoint()

    def flush(self) -> None:
        self.hub.flush()

    async def cut(self, backend: Backend) -> None:
        assert isinstance(backend, MemoryBackend)
        backend.go_offline()
        self._offline.append(backend)

    async def restore(self, *backends: Backend) -> None:
        for backend in self._offline:
            backend.go_online()
        self._offline.clear()


class RedisStore(Store):
    #: long: no key runs out by itself while a test runs, however slow the machine (see `advance`)
    ttl = 30.0

    def __init__(self, server: RedisProcess) -> None:
        self.server = server

    def backend(self, worker: str) -> Backend:
        return RedisBackend(self.server.url, worker)

    async def advance(self, seconds: float) -> None:
        # Redis's clock cannot be moved: every key's time to live is cut by `seconds` instead, and
        # one whose time runs out is gone (PEXPIRE with a time not in the future deletes it, as if
        # it expired). A real sleep would let the machine's load decide what is still held.
        client = self.server.client()
        try:
            for key in client.scan_iter():
                left = client.pttl(key)
                if left >= 0:  # -1: no time to live, -2: gone meanwhile
                    client.pexpire(key, left - round(seconds * 1000))
        finally:
            client.close()

    def flush(self) -> None:
        client = self.server.client()
        try:
            client.flushall()
        finally:
            client.close()

    async def cut(self, backend: Backend) -> None:
        self.server.kill()

    async def restore(self, *backends: Backend) -> None:
        await anyio.to_thread.run_sync(self.server.start)
        await until(lambda: all(backend.available for backend in backends), "reconnected")


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll a condition no event announces (a Redis reconnect, a failed pipeline)."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)


class Received:
    """A message handler that keeps what it gets, and can be waited on."""

    def __init__(self, fail_first: bool = False) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._fail_next = fail_first
        self._arrived = anyio.Event()

    def __call__(self, channel: str, data: bytes) -> None:
        if self._fail_next:
            self._fail_next = False
            raise RuntimeError("a handler that fails")
        self.messages.append((channel, data))
        self._arrived.set()
        self._arrived = anyio.Event()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        with anyio.fail_after(timeout):
            while len(self.messages) < count:
                await self._arrived.wait()
        return self.messages

    def data(self) -> list[bytes]:
        return [data for _channel, data in self.messages]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    with run_redis(cwd=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return MemoryStore()
    redis_store = RedisStore(request.getfixturevalue("redis_server"))
    if not redis_store.server.running():  # a test that cut it failed before restoring it
        redis_store.server.start()
    redis_store.flush()
    return redis_store


@pytest.fixture
async def pair(store: Store) -> AsyncIterator[Pair]:
    """Two processes, `a` and `b`, on the store, opened."""
    async with store.backend("a") as a, store.backend("b") as b:
        yield a, b


def fence(lease: str) -> int:
    return int(lease.rsplit("|", 1)[1])


# ---- leases ----------------------------------------------------------------------------


async def test_a_lease_is_exclusive(store: Store, pair: Pair) -> None:
    a, b = pair
    lease = await a.claim_room(ROOM, store.ttl_ms)
    assert lease is not None and lease.startswith("a|")
    assert await b.claim_room(ROOM, store.ttl_ms) is None
    assert await a.claim_room(ROOM, store.ttl_ms) is None  # not twice by its holder either
    assert await b.room_owner(ROOM) == lease
    assert await b.claim_room("another", store.ttl_ms) is not None


async def test_fences_grow_across_claims_and_respect_min_fence(store: Store, pair: Pair) -> None:
    a, b = pair
    first = await a.claim_room(ROOM, store.ttl_ms)
    assert first is not None
    await a.release_room(ROOM, first)
    second = await b.claim_room(ROOM, store.ttl_ms)
    assert second is not None and second.startswith("b|") and fence(second) > fence(first)

    await store.advance(store.ttl * 1.5)  # expired, not released: the next fence is higher still
    third = await a.claim_room(ROOM, store.ttl_ms, min_fence=50)
    assert third == "a|50"
    await a.release_room(ROOM, third)
    fourth = await b.claim_room(ROOM, store.ttl_ms, min_fence=10)
    assert fourth == "b|51"  # above every earlier fence, though min_fence is lower


async def test_an_owner_keeps_its_fences_growing_after_the_store_lost_its_data(store: Store, pair: Pair) -> None:
    a, _b = pair
    for _ in range(3):
        lease = await a.claim_room(ROOM, store.ttl_ms)
        assert lease is not None
        await a.release_room(ROOM, lease)
    lease = await a.claim_room(ROOM, store.ttl_ms)
    assert lease is not None and fence(lease) == 4
    store.flush()
    assert await a.renew_room(ROOM, lease, store.ttl_ms) is LeaseState.MISSING
    assert await a.room_owner(ROOM) is None
    again = await a.claim_room(ROOM, store.ttl_ms, min_fence=fence(lease) + 1)
    assert again == "a|5"


async def test_renew_keeps_a_held_lease(store: Store, pair: Pair) -> None:
    a, b = pair
    lease = await a.claim_room(ROOM, store.ttl_ms)
    assert lease is not None
    await store.advance(store.ttl * 0.4)
    assert await a.renew_room(ROOM, lease, store.ttl_ms) is LeaseState.HELD
    await store.advance(store.ttl * 0.7)  # past the first time to live, within the renewed one
    assert await b.room_owner(ROOM) == lease
    assert await b.claim_room(ROOM, store.ttl_ms) is None


async def test_renew_answers_missing_once_the_lease_ran_out_and_lost_once_taken(store: Store, pair: Pair) -> None:
    a, b = pair
    lease = await a.claim_room(ROOM, store.ttl_ms)
    assert lease is not None
    await store.advance(store.ttl * 1.5)
    assert await a.room_owner(ROOM) is None
    assert await a.renew_room(ROOM, lease, store.ttl_ms) is LeaseState.MISSING
    assert await a.room_owner(ROOM) is None  # renewing a missing lease does not bring it back

    taken = await b.claim_room(ROOM, store.ttl_ms)
    assert taken is not None
    assert await a.renew_room(ROOM, lease, store.ttl_ms) is LeaseState.LOST
    assert await b.renew_room(ROOM, taken, store.ttl_ms) is LeaseState.HELD
    assert str(LeaseState.LOST) == "lost"  # a str enum: what a log line shows


async def test_only_the_holder_releases_a_lease(store: Store, pair: Pair) -> None:
    a, b = pair
    old = await a.claim_room(ROOM, store.ttl_ms)
    assert old is not None
    await b.release_room(ROOM, "b|1")
    assert await b.room_owner(ROOM) == old
    await store.advance(store.ttl * 1.5)
    current = await b.claim_room(ROOM, store.ttl_ms)
    assert current is not None
    await a.release_room(ROOM, old)  # a stale owner gives up what it no longer has
    assert await a.room_owner(ROOM) == current
    await b.release_room(ROOM, current)
    assert await a.room_owner(ROOM) is None
    assert await a.claim_room(ROOM, store.ttl_ms) is not None


async def test_room_owner_names_the_lease_or_none(store: Store, pair: Pair) -> None:
    a, _b = pair
    assert await a.room_owner(ROOM) is None
    lease = await a.claim_room(ROOM, store.ttl_ms)
    assert await a.room_owner(ROOM) == lease
    assert await a.room_owner("another") is None


# ---- saved rooms -----------------------------------------------------------------------


async def test_a_fenced_save_is_stored_only_under_the_rooms_lease(store: Store, pair: Pair) -> None:
    a, b = pair
    lease = await a.claim_room(ROOM, store.ttl_ms)
    assert lease is not None
    assert await a.save_room(ROOM, b"tick 1", 60, lease=lease) is True
    assert await b.load_room(ROOM) == b"tick 1"

    await store.advance(store.ttl * 1.5)
    assert await a.save_room(ROOM, b"tick 2", 60, lease=lease) is False  # expired: not the room's any more
    taken = await b.claim_room(ROOM, store.ttl_ms)
    assert taken is not None
    assert await a.save_room(ROOM, b"tick 3", 60, lease=lease) is False  # another's now
    assert await a.load_room(ROOM) == b"tick 1"
    assert await b.save_room(ROOM, b"tick 4", 60, lease=taken) is True
    await b.release_room(ROOM, taken)
    assert await b.save_room(ROOM, b"tick 5", 60, lease=taken) is False  # released
    assert await a.load_room(ROOM) == b"tick 4"


async def test_saved_rooms_are_kept_loaded_deleted_and_expire(store: Store, pair: Pair) -> None:
    a, b = pair
    assert await a.load_room(ROOM) is None
    assert await a.save_room(ROOM, b"saved", store.ttl) is True
    assert await a.save_room("other", b"other", store.ttl * 10) is True
    assert await b.load_room(ROOM) == b"saved"
    assert await a.save_room(ROOM, b"saved again", store.ttl) is True
    assert await b.load_room(ROOM) == b"saved again"
    await b.delete_room(ROOM)
    assert await a.load_room(ROOM) is None
    await b.delete_room(ROOM)  # deleting what is gone is fine

    await a.save_room(ROOM, b"saved", store.ttl)
    await store.advance(store.ttl * 1.5)
    assert await a.load_room(ROOM) is None
    assert await a.load_room("other") == b"other"


async def test_score_marks_are_kept_under_the_rooms_lease_before_what_is_published_after(
    store: Store, pair: Pair
) -> None:
    a, b = pair
    received = Received()
    b.set_message_handler(received)
    await b.subscribe("chan")
    lease = await a.claim_room(ROOM, store.ttl_ms)
    assert lease is not None
    assert await b.load_scores(ROOM) == {}
    a.keep_scores_nowait(ROOM, {"p1": b"one", "p2": b"two"}, lease, 60)
    a.publish_nowait("chan", b"the tick that shows them")
    await received.wait_for(1)
    assert await b.load_scores(ROOM) == {"p1": b"one", "p2": b"two"}  # kept before the tick was heard
    a.keep_scores_nowait(ROOM, {"p1": b"one, later"}, lease, 60)
    a.publish_nowait("chan", b"the next tick")
    await received.wait_for(2)
    assert await b.load_scores(ROOM) == {"p1": b"one, later", "p2": b"two"}  # only the marks given change

    await store.advance(store.ttl * 1.5)  # the lease ran out: a stale owner writes nothing
    taken = await b.claim_room(ROOM, store.ttl_ms)
    assert taken is not None
    a.keep_scores_nowait(ROOM, {"p1": b"stale"}, lease, 60)
    a.publish_nowait("chan", b"a stale tick")
    await received.wait_for(3)
    assert (await b.load_scores(ROOM))["p1"] == b"one, later"
    b.keep_scores_nowait(ROOM, {"p3": b"three"}, taken, store.ttl)
    b.publish_nowait("chan", b"the new owner's tick")
    await received.wait_for(4)
    assert await a.load_scores(ROOM) == {"p1": b"one, later", "p2": b"two", "p3": b"three"}
    await store.advance(store.ttl * 1.5)  # every mark of the room lives as long as the last keep says
    assert await a.load_scores(ROOM) == {}

    b.keep_scores_nowait(ROOM, {"p1": b"one"}, taken, 60)  # (the lease ran out too)
    other = await a.claim_room("other", store.ttl_ms)
    assert other is not None
    a.keep_scores_nowait("other", {"p1": b"one"}, other, 60)
    await a.save_room("other", b"saved", 60, lease=other)
    a.publish_nowait("chan", b"last")
    await received.wait_for(5)
    assert await a.load_scores(ROOM) == {}
    await b.delete_room("other")  # a disposed room's marks go with its saved state
    assert await a.load_scores("other") == {}


# ---- the directory ---------------------------------------------------------------------


async def test_the_directory_lists_every_published_entry(pair: Pair) -> None:
    a, b = pair
    assert await a.directory() == {}
    await a.publish_directory({})
    await a.publish_directory({"r1": b"one", "r2": b"two"})
    await b.publish_directory({"r3": b"three"})
    assert await b.directory_entry("r1") == b"one"
    assert await b.directory_entry("nope") is None
    await a.publish_directory({"r1": b"one, later"})  # r2 stays
    assert await b.directory() == {"r1": b"one, later", "r2": b"two", "r3": b"three"}
    await b.remove_from_directory("r1")
    await b.remove_from_directory("nope")
    assert await a.directory_entry("r1") is None
    assert await a.directory() == {"r2": b"two", "r3": b"three"}


async def test_flushing_the_store_loses_leases_saves_marks_and_the_directory(store: Store, pair: Pair) -> None:
    a, _b = pair
    lease = await a.claim_room(ROOM, store.ttl_ms)
    assert lease is not None
    await a.save_room(ROOM, b"saved", 60, lease=lease)
    await a.publish_directory({ROOM: b"entry"})
    a.keep_scores_nowait(ROOM, {"p1": b"one"}, lease, 60)
    await until(lambda: a.published == 1, "kept")
    store.flush()
    assert await a.room_owner(ROOM) is None
    assert await a.load_room(ROOM) is None
    assert await a.load_scores(ROOM) == {}
    assert await a.directory() == {}


# ---- pub/sub ---------------------------------------------------------------------------


async def test_messages_arrive_in_order_from_the_backends_own_task(pair: Pair) -> None:
    a, b = pair
    received = Received()
    b.set_message_handler(received)
    await b.subscribe("chan")
    for n in range(50):
        a.publish_nowait("chan", b"%d" % n)
    assert received.messages == []  # never inside publish_nowait
    await received.wait_for(50)
    assert received.data() == [b"%d" % n for n in range(50)]
    assert {channel for channel, _data in received.messages} == {"chan"}
    await until(lambda: a.published == 50, "published")
    assert a.dropped == 0


async def test_every_backend_hears_its_own_worker_channel_from_the_start(pair: Pair) -> None:
    a, b = pair
    heard_a, heard_b = Received(), Received()
    a.set_message_handler(heard_a)
    b.set_message_handler(heard_b)
    a.publish_nowait(worker_channel(b.worker), b"to b")
    b.publish_nowait(worker_channel(a.worker), b"to a")
    assert (await heard_b.wait_for(1)) == [(worker_channel("b"), b"to b")]
    assert (await heard_a.wait_for(1)) == [(worker_channel("a"), b"to a")]


async def test_a_channel_unsubscribed_is_heard_no_more(pair: Pair) -> None:
    a, b = pair
    received = Received()
    b.set_message_handler(received)
    await b.subscribe("chan")
    await b.subscribe("chan")  # twice is once
    a.publish_nowait("chan", b"heard")
    await received.wait_for(1)
    await b.unsubscribe("chan")
    a.publish_nowait("chan", b"not heard")
    a.publish_nowait(worker_channel(b.worker), b"marker")  # sent after: arrives after
    await received.wait_for(2)
    await anyio.sleep(0)
    assert received.data() == [b"heard", b"marker"]


async def test_a_handler_that_raises_is_logged_and_delivery_goes_on(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    received = Received(fail_first=True)
    b.set_message_handler(received)
    a.publish_nowait(worker_channel(b.worker), b"first")
    a.publish_nowait(worker_channel(b.worker), b"second")
    await received.wait_for(1)
    assert received.data() == [b"second"]
    assert any("relay message failed" in record.getMessage() for record in caplog.records)


async def test_an_unreachable_backend_refuses_commands_and_drops_publishes(store: Store, pair: Pair) -> None:
    a, b = pair
    received = Received()
    b.set_message_handler(received)
    await b.subscribe("chan")
    assert b.available
    await store.cut(b)
    try:
        with pytest.raises(BackendUnavailable):
            await b.claim_room(ROOM, store.ttl_ms)
        with pytest.raises(BackendUnavailable):
            await b.directory()
        await until(lambda: not b.available, "unavailable")
        b.publish_nowait("chan", b"lost")
        await until(lambda: b.dropped == 1, "dropped")
        assert b.published == 0
    finally:
        await store.restore(a, b)
    assert b.available
    a.publish_nowait("chan", b"after")  # b hears its channels again
    assert (await received.wait_for(1)) == [("chan", b"after")]
    assert await b.claim_room(ROOM, store.ttl_ms) is not None


# ---- the factory -----------------------------------------------------------------------


async def test_the_factory_picks_the_memory_backend_unless_a_redis_url_is_set() -> None:
    for settings in (Settings(), Settings(redis_url="memory://")):
        backend = create_backend(settings, "host:1")
        assert isinstance(backend, MemoryBackend)
        assert backend.worker == "host:1"
        assert not backend.shared  # one process: the registry runs no cluster


async def test_the_factory_picks_redis_for_a_redis_url(redis_server: RedisProcess) -> None:
    async with create_backend(Settings(redis_url=redis_server.url), "host:1") as backend:
        assert isinstance(backend, RedisBackend)
        assert backend.shared and backend.available and backend.worker == "host:1"


@pytest.mark.parametrize("url", ["http://localhost:6379", "memcached://x", "localhost:6379"])
async def test_the_factory_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ConfigError, match="ASGI_MMO_REDIS_URL"):
        create_backend(Settings(redis_url=url), "host:1")


# ---- the memory hub's own tools --------------------------------------------------------


async def test_backends_on_one_hub_are_shared_and_a_private_one_is_not() -> None:
    hub = MemoryHub()
    assert MemoryBackend(hub).shared and not MemoryBackend().shared
    first, second = MemoryBackend(hub), MemoryBackend(hub)
    assert first.worker != second.worker
    async with MemoryBackend(hub, "a"):
        with pytest.raises(RuntimeError, match="'a'"):
            async with MemoryBackend(hub, "a"):
                pass


async def test_settle_waits_for_messages_their_handlers_published_in_turn() -> None:
    hub = MemoryHub()
    async with MemoryBackend(hub, "a") as a, MemoryBackend(hub, "b") as b:
        heard_a, heard_b = Received(), Received()

        def answer(channel: str, data: bytes) -> None:
            heard_b(channel, data)
            b.publish_nowait(worker_channel("a"), b"re: " + data)

        a.set_message_handler(heard_a)
        b.set_message_handler(answer)
        for n in range(3):
            a.publish_nowait(worker_channel("b"), b"%d" % n)
        await hub.settle()
        assert heard_b.data() == [b"0", b"1", b"2"]
        assert heard_a.data() == [b"re: 0", b"re: 1", b"re: 2"]
        await hub.settle()  # nothing in flight: returns at once


async def test_an_offline_backend_hears_nothing_and_lost_messages_stay_lost() -> None:
    hub = MemoryHub()
    async with MemoryBackend(hub, "a") as a, MemoryBackend(hub, "b") as b:
        received = Received()
        b.set_message_handler(received)
        a.publish_nowait(worker_channel("b"), b"queued when the hub was lost")
        b.go_offline()
        assert not b.available
        a.publish_nowait(worker_channel("b"), b"while away")
        await hub.settle()
        b.go_online()
        a.publish_nowait(worker_channel("b"), b"back")
        await hub.settle()
        assert received.data() == [b"back"]
        assert a.published == 3 and a.dropped == 0  # the hub took them all, as Redis would


async def test_a_full_inbox_drops_the_message_and_counts_it() -> None:
    hub = MemoryHub()
    async with MemoryBackend(hub, "a") as a, MemoryBackend(hub, "b", inbox=2) as b:
        received = Received()
        b.set_message_handler(received)
        for n in range(3):
            a.publish_nowait(worker_channel("b"), b"%d" % n)
        assert (a.published, a.dropped) == (2, 1)
        await hub.settle()
        assert received.data() == [b"0", b"1"]


async def test_a_closed_backend_leaves_the_hub_and_drops_what_it_publishes() -> None:
    hub = MemoryHub()
    async with MemoryBackend(hub, "a") as a:
        b = MemoryBackend(hub, "b")
        async with b:
            received = Received()
            b.set_message_handler(received)
            a.publish_nowait(worker_channel("b"), b"queued, never handled")
        await hub.settle()  # what b's inbox held is let go: nothing waits for it
        a.publish_nowait(worker_channel("b"), b"nobody hears")
        await hub.settle()
        b.publish_nowait(worker_channel("a"), b"from a closed backend")
        assert b.dropped == 1
        async with MemoryBackend(hub, "b"):  # the name is free again
            pass


async def test_an_unopened_memory_backend_serves_commands() -> None:
    backend = MemoryBackend()  # as the registry's tests use it, without `async with`
    assert await backend.save_room(ROOM, b"saved", 60) is True
    assert await backend.load_room(ROOM) == b"saved"
