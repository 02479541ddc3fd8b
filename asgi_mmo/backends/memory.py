"""The in-memory backend: the one-process default, and a stand-in for Redis in tests.

A `MemoryHub` is to several `MemoryBackend`s what one Redis is to several
processes: it keeps the leases (with fences and expiry), the saved rooms and
their score marks (with expiry), the room directory, and who hears which channel. A `MemoryBackend`
is one process's connection to a hub.

- Alone (`MemoryBackend()`, the embedded default) a backend has a private hub
  and `shared` is False: the registry runs no cluster.
- Several on one hub (`MemoryBackend(hub, worker="a")`) behave like processes
  on one Redis, in one event loop, and `shared` is True.

For tests that need a cluster without processes:

- time is the hub's `clock` (a fake clock: a lease expires when the test moves
  the clock on, with no sleeping);
- pub/sub is asynchronous, as with Redis: `publish_nowait` puts the message in
  each subscriber's bounded inbox, and each backend's delivery task (started
  by `async with`) hands it to the handler; `await hub.settle()` returns once
  every message published so far, and every one its handlers published in
  turn, has been handled;
- faults: `backend.go_offline()` and `go_online()` cut one backend off the hub
  and back (its commands raise `BackendUnavailable`, its publishes are dropped
  and it hears nothing meanwhile); `hub.flush()` loses every key, as a Redis
  restarted without persistence does.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Self

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asgi_mmo.backends.base import PUBLISH_QUEUE, LeaseState, MessageHandler
from asgi_mmo.exceptions import BackendUnavailable
from asgi_mmo.names import worker_channel
from asgi_mmo.owned import OwnsTasks

logger = logging.getLogger("asgi_mmo.backends.memory")

Message = tuple[str, bytes]


class MemoryHub:
    """What several `MemoryBackend`s share: keys with expiry, and the channels' listeners.

    The methods that change keys are the backends' side of the hub (a backend
    checks that it can reach the hub first); tests call `flush`, `settle` and
    move their `clock`.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        #: seconds, for every expiry; a test passes a fake clock it moves on itself
        self.clock = clock
        self._leases: dict[str, tuple[str, float]] = {}  # room -> (lease, expires at)
        self._fences: dict[str, int] = {}  # room -> the last fence given
        self._saved: dict[str, tuple[bytes, float]] = {}  # room -> (state, expires at)
        self._marks: dict[str, tuple[dict[str, bytes], float]] = {}  # room -> (score marks, expire at)
        self._directory: dict[str, bytes] = {}
        # channel -> the backends that hear it; a dict keeps them in subscription order
        self._listeners: dict[str, dict[MemoryBackend, None]] = {}
        self._open_workers: set[str] = set()
        self._names = itertools.count(1)
        self._in_flight = 0  # messages in some inbox, or in a handler now
        self._idle: anyio.Event | None = None

    def flush(self) -> None:
        """Lose every lease, fence, saved room, score mark and directory entry (a Redis restart without persistence).

        Subscriptions stay, as a Redis backend subscribes again once it reconnects.
        """
        self._leases.clear()
        self._fences.clear()
        self._saved.clear()
        self._marks.clear()
        self._directory.clear()

    async def settle(self) -> None:
        """Wait until no message waits in any inbox or is being handled."""
        await anyio.lowlevel.checkpoint()
        while self._in_flight:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    # ---- leases ------------------------------------------------------------------------

    def lease(self, room_id: str) -> str | None:
        entry = self._leases.get(room_id)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._leases[room_id]
            return None
        return entry[0]

    def claim(self, worker: str, room_id: str, ttl_ms: int, min_fence: int) -> str | None:
        if self.lease(room_id) is not None:
            return None
        fence = max(self._fences.get(room_id, 0) + 1, min_fence)
        self._fences[room_id] = fence
        lease = f"{worker}|{fence}"
        self._leases[room_id] = (lease, self.clock() + ttl_ms / 1000)
        return lease

    def renew(self, room_id: str, lease: str, ttl_ms: int) -> LeaseState:
        current = self.lease(room_id)
        if current is None:
            return LeaseState.MISSING
        if current != lease:
            return LeaseState.LOST
        self._leases[room_id] = (lease, self.clock() + ttl_ms / 1000)
        return LeaseState.HELD

    def release(self, room_id: str, lease: str) -> None:
        if self.lease(room_id) == lease:
            del self._leases[room_id]

    # ---- saved rooms -------------------------------------------------------------------

    def save(self, room_id: str, saved: bytes, ttl_seconds: float, lease: str | None) -> bool:
        if lease is not None and self.lease(room_id) != lease:
            return False
        ttl_ms = max(1, int(ttl_seconds * 1000))  # as Redis's PX takes it
        self._saved[room_id] = (saved, self.clock() + ttl_ms / 1000)
        return True

    def load(self, room_id: str) -> bytes | None:
        entry = self._saved.get(room_id)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._saved[room_id]
            return None
        return entry[0]

    def delete(self, room_id: str) -> None:
        self._saved.pop(room_id, None)
        self._marks.pop(room_id, None)

    def keep_marks(self, room_id: str, marks: dict[str, bytes], lease: str, ttl_seconds: float) -> bool:
        if self.lease(room_id) != lease:
            return False
        kept = self.marks(room_id)
        kept.update(marks)
        self._marks[room_id] = (kept, self.clock() + max(1, int(ttl_seconds * 1000)) / 1000)
        return True

    def marks(self, room_id: str) -> dict[str, bytes]:
        entry = self._marks.get(room_id)
        if entry is None:
            return {}
        if entry[1] <= self.clock():
            del self._marks[room_id]
            return {}
        return dict(entry[0])

    # ---- the directory -------------------------------------------------------------------

    def set_entries(self, entries: dict[str, bytes]) -> None:
        self._directory.update(entries)

    def remove_entry(self, room_id: str) -> None:
        self._directory.pop(room_id, None)

    def entry(self, room_id: str) -> bytes | None:
        return self._directory.get(room_id)

    def entries(self) -> dict[str, bytes]:
        return dict(self._directory)

    # ---- pub/sub -----------------------------------------------------------------------

    def new_worker(self) -> str:
        """A worker name not given before on this hub."""
        return f"memory-{next(self._names)}"

    def attach(self, backend: MemoryBackend, channels: set[str]) -> None:
        """A backend opened: it hears `channels` from now on."""
        if backend.worker in self._open_workers:
            raise RuntimeError(f"a backend named {backend.worker!r} is open on this hub already")
        self._open_workers.add(backend.worker)
        for channel in channels:
            self.listen(backend, channel)

    def detach(self, backend: MemoryBackend) -> None:
        self._open_workers.discard(backend.worker)
        for listeners in self._listeners.values():
            listeners.pop(backend, None)

    def listen(self, backend: MemoryBackend, channel: str) -> None:
        self._listeners.setdefault(channel, {})[backend] = None

    def unlisten(self, backend: MemoryBackend, channel: str) -> None:
        listeners = self._listeners.get(channel)
        if listeners is not None:
            listeners.pop(backend, None)
            if not listeners:
                del self._listeners[channel]

    def route(self, channel: str, data: bytes) -> bool:
        """Put a message in the inbox of every backend that hears `channel` and is online.

        False when some inbox was full (that backend misses the message).
        """
        complete = True
        for backend in self._listeners.get(channel, ()):
            if backend.available:
                if backend.accept_nowait((channel, data)):
                    self._in_flight += 1
                else:
                    complete = False
        return complete

    def handled(self, count: int = 1) -> None:
        """Messages left an inbox (handled, or thrown away by an offline or closing backend)."""
        self._in_flight -= count
        if self._in_flight == 0 and self._idle is not None:
            self._idle.set()
            self._idle = None


class MemoryBackend(OwnsTasks):
    """One process's connection to a `MemoryHub` (its own private one by default).

    `worker` names it on the hub (default `memory-1`, `memory-2`, ...; the
    factory passes `HOST:PID`); `inbox` bounds the messages waiting for its handler.
    """

    def __init__(self, hub: MemoryHub | None = None, worker: str | None = None, *, inbox: int = PUBLISH_QUEUE) -> None:
        self.shared = hub is not None
        self.hub = hub if hub is not None else MemoryHub()
        self.worker = worker if worker is not None else self.hub.new_worker()
        self.published = 0
        self.dropped = 0
        self._handler: MessageHandler = _ignore
        self._channels = {worker_channel(self.worker)}
        self._inbox_size = inbox
        # made when opened: a backend used without `async with` (commands only) holds no stream
        self._inbox_in: MemoryObjectSendStream[Message] | None = None
        self._inbox_out: MemoryObjectReceiveStream[Message] | None = None
        self._queued = 0  # accepted and not yet handled (counted here: a cancelled receive loses its item)
        self._online = True
        self._open = False
        self._closed = False

    @property
    def available(self) -> bool:
        return self._online

    async def __aenter__(self) -> Self:
        if self._open or self._closed:
            raise RuntimeError("a MemoryBackend is opened once")
        async with AsyncExitStack() as stack:
            self.hub.attach(self, self._channels)
            self._inbox_in, self._inbox_out = anyio.create_memory_object_stream[Message](self._inbox_size)
            stack.callback(self._close)  # last: once the delivery task has ended
            tasks = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(tasks.cancel_scope.cancel)
            await tasks.start(self._deliver, name=f"memory backend delivery {self.worker}")
            self._open = True
            self._own(stack.pop_all())
        return self

    def set_message_handler(self, handler: MessageHandler) -> None:
        self._handler = handler

    # ---- faults, for tests -------------------------------------------------------------

    def go_offline(self) -> None:
        """Lose the hub: commands raise `BackendUnavailable`, publishes are dropped, nothing arrives."""
        self._online = False

    def go_online(self) -> None:
        """Reach the hub again, with every subscription as before."""
        self._online = True

    # ---- leases ------------------------------------------------------------------------

    async def claim_room(self, room_id: str, ttl_ms: int, min_fence: int = 0) -> str | None:
        return (await self._reach()).claim(self.worker, room_id, ttl_ms, min_fence)

    async def renew_room(self, room_id: str, lease: str, ttl_ms: int) -> LeaseState:
        return (await self._reach()).renew(room_id, lease, ttl_ms)

    async def release_room(self, room_id: str, lease: str) -> None:
        (await self._reach()).release(room_id, lease)

    async def room_owner(self, room_id: str) -> str | None:
        return (await self._reach()).lease(room_id)

    # ---- saved rooms -------------------------------------------------------------------

    async def save_room(self, room_id: str, saved: bytes, ttl_seconds: float, lease: str | None = None) -> bool:
        return (await self._reach()).save(room_id, saved, ttl_seconds, lease)

    async def load_room(self, room_id: str) -> bytes | None:
        return (await self._reach()).load(room_id)

    async def delete_room(self, room_id: str) -> None:
        (await self._reach()).delete(room_id)

    def keep_scores_nowait(self, room_id: str, marks: dict[str, bytes], lease: str, ttl_seconds: float) -> None:
        """Kept at once (before anything published after it is routed); dropped when offline or closed."""
        if not (self._online and not self._closed):
            self.dropped += 1
        else:
            self.hub.keep_marks(room_id, marks, lease, ttl_seconds)
            self.published += 1

    async def load_scores(self, room_id: str) -> dict[str, bytes]:
        return (await self._reach()).marks(room_id)

    # ---- the directory of rooms ---------------------------------------------------------

    async def publish_directory(self, entries: dict[str, bytes]) -> None:
        (await self._reach()).set_entries(entries)

    async def remove_from_directory(self, room_id: str) -> None:
        (await self._reach()).remove_entry(room_id)

    async def directory_entry(self, room_id: str) -> bytes | None:
        return (await self._reach()).entry(room_id)

    async def directory(self) -> dict[str, bytes]:
        return (await self._reach()).entries()

    # ---- pub/sub -----------------------------------------------------------------------

    def publish_nowait(self, channel: str, data: bytes) -> None:
        """Route to the subscribers' inboxes; dropped (and counted) when offline, closed, or an inbox is full."""
        if self._online and not self._closed and self.hub.route(channel, data):
            self.published += 1
        else:
            self.dropped += 1

    async def subscribe(self, channel: str) -> None:
        await anyio.lowlevel.checkpoint()
        self._channels.add(channel)
        if self._open:
            self.hub.listen(self, channel)

    async def unsubscribe(self, channel: str) -> None:
        await anyio.lowlevel.checkpoint()
        self._channels.discard(channel)
        if self._open:
            self.hub.unlisten(self, channel)

    def accept_nowait(self, message: Message) -> bool:
        """The hub's side: queue a message for the handler; False when the inbox is full."""
        if self._inbox_in is None:
            return False
        try:
            self._inbox_in.send_nowait(message)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        self._queued += 1
        return True

    # ---- internals ---------------------------------------------------------------------

    async def _reach(self) -> MemoryHub:
        """The hub, after a checkpoint (a Redis command waits too); `BackendUnavailable` while offline."""
        await anyio.lowlevel.checkpoint()
        if not self._online:
            raise BackendUnavailable(f"memory hub: {self.worker} is offline")
        return self.hub

    async def _deliver(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        assert self._inbox_out is not None
        task_status.started()
        async for channel, data in self._inbox_out:
            try:
                if self._online:  # what arrived before the hub was lost is lost with it
                    self._handler(channel, data)
            except Exception:
                logger.exception("relay message failed channel=%s", channel)
            finally:
                self._queued -= 1
                self.hub.handled()

    def _close(self) -> None:
        """After the delivery task ended: leave the hub, and let go of what the inbox still holds."""
        self._open = False
        self._closed = True
        self.hub.detach(self)
        assert self._inbox_in is not None and self._inbox_out is not None
        self._inbox_in.close()
        self._inbox_out.close()
        self.hub.handled(self._queued)
        self._queued = 0


def _ignore(channel: str, data: bytes) -> None:
    pass
