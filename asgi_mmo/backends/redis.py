"""The Redis backend: rooms shared by several processes and machines.

It implements `backends.base.Backend`. Every key and channel is named in
`asgi_mmo.names`. One connection pool serves the commands; one pub/sub
connection, owned by a reader task, receives every channel this process
listens to and hands each message to the handler (`set_message_handler`).
Publishing from a room's tick never waits: `publish_nowait` queues the
message, and a publisher task sends the queue in order, in pipelines. A room's
score marks (`keep_scores_nowait`) go through the same queue, as a fenced
script in the same pipeline: Redis keeps them before it publishes the tick
queued after them.

When Redis goes away, commands raise `BackendUnavailable`, the reader
reconnects with backoff and subscribes again, and queued publishes are
dropped and counted: rooms keep ticking for the players of their own process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

import anyio
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from asgi_mmo.backends.base import PUBLISH_QUEUE, LeaseState, MessageHandler
from asgi_mmo.exceptions import BackendUnavailable
from asgi_mmo.names import DIRECTORY, fence_key, lease_key, scores_key, snapshot_key, worker_channel
from asgi_mmo.owned import OwnsTasks

logger = logging.getLogger("asgi_mmo.redis")

T = TypeVar("T")

PUBLISH_BATCH = 256
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local fence = redis.call('INCR', KEYS[2])
if fence < tonumber(ARGV[3]) then
  fence = tonumber(ARGV[3])
  redis.call('SET', KEYS[2], fence)
end
local value = ARGV[1] .. '|' .. fence
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
"""
_RENEW = """
local value = redis.call('GET', KEYS[1])
if value == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if value == false then return -1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SAVE_FENCED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""
# Sent with EVAL in the publisher's pipeline (no round trip to load it first); Redis caches it.
_KEEP_MARKS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

#: what `_RENEW` answers
_RENEWED = {1: LeaseState.HELD, 0: LeaseState.LOST, -1: LeaseState.MISSING}


@dataclass(frozen=True, slots=True)
class _Marks:
    """Score marks queued for the publisher (`keep_scores_nowait`)."""

    room_id: str
    marks: dict[str, bytes]
    lease: str
    ttl_ms: int


_Outgoing = tuple[str, bytes] | _Marks


class _Closing(Protocol):
    """The part of redis-py's `PubSub` the reader closes (its `aclose` is not annotated)."""

    async def aclose(self) -> None: ...


class RedisBackend(OwnsTasks):
    shared = True

    def __init__(self, url: str, worker: str) -> None:
        self.url = url
        self.worker = worker
        # Set through `set_message_handler`; the attribute stays assignable while
        # cluster/node.py still assigns it.
        self.on_message: MessageHandler = _ignore
        self.published = 0
        self.dropped = 0
        self._client = Redis.from_url(
            url,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        self._claim = self._client.register_script(_CLAIM)
        self._renew = self._client.register_script(_RENEW)
        self._release = self._client.register_script(_RELEASE)
        self._save_fenced = self._client.register_script(_SAVE_FENCED)
        self._channels: set[str] = {worker_channel(worker)}
        self._pubsub: PubSub | None = None
        self._subscriptions = anyio.Lock()
        self._outbox_in, self._outbox_out = anyio.create_memory_object_stream[_Outgoing](PUBLISH_QUEUE)
        self._up = anyio.Event()
        self.available = False

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._close_client)  # last: once the tasks have ended
            tasks = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tasks.cancel_scope.cancel)
            tasks.start_soon(self._read, name="redis pub/sub reader")
            tasks.start_soon(self._publish, name="redis publisher")
            # Wait briefly for Redis: a server that starts while Redis is down still
            # serves its own rooms, and joins the cluster once Redis answers.
            with anyio.move_on_after(2.0):
                await self._up.wait()
            if not self.available:
                logger.error("redis unreachable at start url=%s; running on, retrying", _safe(self.url))
            self._own(stack.pop_all())
        return self

    async def _close_client(self) -> None:
        self._outbox_in.close()
        self._outbox_out.close()
        with anyio.CancelScope(shield=True):
            await self._client.aclose()

    def set_message_handler(self, handler: MessageHandler) -> None:
        self.on_message = handler

    # ---- leases ------------------------------------------------------------------------

    async def claim_room(self, room_id: str, ttl_ms: int, min_fence: int = 0) -> str | None:
        """Take the room's lease if nobody holds it: the lease (`worker|fence`), else None.

        The fence is above every earlier one, and at least `min_fence` (an owner that
        claims again after Redis lost its data keeps its fences growing).
        """
        value: object = await self._call(
            self._claim(keys=[lease_key(room_id), fence_key(room_id)], args=[self.worker, ttl_ms, min_fence])
        )
        return _text(value)

    async def renew_room(self, room_id: str, lease: str, ttl_ms: int) -> LeaseState:
        answer: object = await self._call(self._renew(keys=[lease_key(room_id)], args=[lease, ttl_ms]))
        return _RENEWED.get(answer, LeaseState.LOST) if isinstance(answer, int) else LeaseState.LOST

    async def release_room(self, room_id: str, lease: str) -> None:
        await self._call(self._release(keys=[lease_key(room_id)], args=[lease]))

    async def room_owner(self, room_id: str) -> str | None:
        """The lease of the room's owner, or None when nobody holds it."""
        return _text(await self._call(self._client.get(lease_key(room_id))))

    # ---- saved rooms -------------------------------------------------------------------

    async def save_room(self, room_id: str, saved: bytes, ttl_seconds: float, lease: str | None = None) -> bool:
        """Keep a room's state; with `lease`, only while that lease is still the room's."""
        ttl_ms = max(1, int(ttl_seconds * 1000))
        if lease is None:
            await self._call(self._client.set(snapshot_key(room_id), saved, px=ttl_ms))
            return True
        stored: object = await self._call(
            self._save_fenced(keys=[lease_key(room_id), snapshot_key(room_id)], args=[lease, saved, ttl_ms])
        )
        return stored == 1

    async def load_room(self, room_id: str) -> bytes | None:
        return _bytes(await self._call(self._client.get(snapshot_key(room_id))))

    async def delete_room(self, room_id: str) -> None:
        await self._call(self._client.delete(snapshot_key(room_id), scores_key(room_id)))

    def keep_scores_nowait(self, room_id: str, marks: dict[str, bytes], lease: str, ttl_seconds: float) -> None:
        """Queue the marks for the publisher, in order with the publishes; dropped (and counted) when it is full."""
        if not marks:
            return
        try:
            self._outbox_in.send_nowait(_Marks(room_id, marks, lease, max(1, int(ttl_seconds * 1000))))
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.dropped += 1

    async def load_scores(self, room_id: str) -> dict[str, bytes]:
        raw = await self._call(self._client.hgetall(scores_key(room_id)))
        return {_key(key): value for key, value in raw.items() if isinstance(value, bytes)}

    # ---- the directory of rooms ---------------------------------------------------------

    async def publish_directory(self, entries: dict[str, bytes]) -> None:
        if entries:
            mapping: dict[FieldT, EncodableT] = {room_id: entry for room_id, entry in entries.items()}
            await self._call(self._client.hset(DIRECTORY, mapping=mapping))

    async def remove_from_directory(self, room_id: str) -> None:
        await self._call(self._client.hdel(DIRECTORY, room_id))

    async def directory_entry(self, room_id: str) -> bytes | None:
        return _bytes(await self._call(self._client.hget(DIRECTORY, room_id)))

    async def directory(self) -> dict[str, bytes]:
        raw = await self._call(self._client.hgetall(DIRECTORY))
        return {_key(key): value for key, value in raw.items() if isinstance(value, bytes)}

    # ---- pub/sub -----------------------------------------------------------------------

    def publish_nowait(self, channel: str, data: bytes) -> None:
        """Queue a message for the publisher; dropped (and counted) if the queue is full."""
        try:
            self._outbox_in.send_nowait((channel, data))
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.dropped += 1

    async def subscribe(self, channel: str) -> None:
        async with self._subscriptions:
            if channel in self._channels:
                return
            self._channels.add(channel)
            if self._pubsub is not None:
                try:
                    await self._pubsub.subscribe(channel)
                except (RedisError, OSError):
                    pass  # the reader reconnects and subscribes to every channel again

    async def unsubscribe(self, channel: str) -> None:
        async with self._subscriptions:
            self._channels.discard(channel)
            if self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(channel)
                except (RedisError, OSError):
                    pass

    # ---- tasks -------------------------------------------------------------------------

    async def _read(self) -> None:
        attempt = 0
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                async with self._subscriptions:
                    await pubsub.subscribe(*self._channels)
                    self._pubsub = pubsub
                if not self.available:
                    logger.info("redis connected url=%s channels=%d", _safe(self.url), len(self._channels))
                self.available = True
                self._up.set()
                attempt = 0
                while True:
                    message: object = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if not isinstance(message, dict) or message.get("type") != "message":
                        continue
                    channel, data = message["channel"], message["data"]
                    if not isinstance(channel, bytes) or not isinstance(data, bytes):
                        continue
                    try:
                        self.on_message(channel.decode(), data)
                    except Exception:
                        logger.exception("relay message failed channel=%s", channel)
            except (RedisError, OSError) as error:
                if self.available:
                    logger.error("redis connection lost url=%s error=%r; rooms keep ticking locally",
                                 _safe(self.url), error)
                self.available = False
            finally:
                # A subscribe or unsubscribe under way (a room disposed of as the app stops) ends
                # before its connection is closed under it (redis-py then fails with AttributeError).
                with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                    async with self._subscriptions:
                        self._pubsub = None
                self._pubsub = None
                closing: _Closing = pubsub
                with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                    try:
                        await closing.aclose()
                    except (RedisError, OSError):
                        pass
            await anyio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1

    async def _publish(self) -> None:
        async with self._outbox_out:
            async for first in self._outbox_out:
                batch = [first]
                while len(batch) < PUBLISH_BATCH:
                    try:
                        batch.append(self._outbox_out.receive_nowait())
                    except anyio.WouldBlock:
                        break
                try:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for item in batch:
                            if isinstance(item, _Marks):
                                fields = [part for pair in item.marks.items() for part in pair]
                                keys = (lease_key(item.room_id), scores_key(item.room_id))
                                pipe.eval(_KEEP_MARKS, 2, *keys, item.lease, item.ttl_ms, *fields)
                            else:
                                pipe.publish(*item)
                        await pipe.execute()
                    self.published += len(batch)
                except (RedisError, OSError):
                    # the relay resyncs with `state` once Redis is back; the marks with the next save
                    self.dropped += len(batch)

    async def _call(self, command: Awaitable[T]) -> T:
        """Await one command; `BackendUnavailable` when Redis cannot be reached."""
        try:
            return await command
        except (RedisError, OSError) as error:
            raise BackendUnavailable(f"redis: {error!r}") from error


def _ignore(channel: str, data: bytes) -> None:
    pass


def _bytes(value: object) -> bytes | None:
    return value if isinstance(value, bytes) else None


def _text(value: object) -> str | None:
    return value.decode() if isinstance(value, bytes) else None


def _key(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key


def _safe(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
