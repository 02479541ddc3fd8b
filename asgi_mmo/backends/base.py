"""What a registry and its cluster need from the world beyond their own process.

A backend keeps four things that several processes must agree on, and
delivers messages between them:

- **fenced leases**: one owner per room (`claim_room`, `renew_room`,
  `release_room`, `room_owner`); every new lease of a room carries a fence
  above all earlier ones, so a stale owner can be told from the current one;
- **saved rooms**: a room's last state with a time to live, written under a
  lease when one is given (`save_room`, `load_room`, `delete_room`), and its
  players' score marks, newer than the save, written under the lease as they
  change, in order with the publishes (`keep_scores_nowait`, `load_scores`);
- **the room directory**: room id -> the owner's latest entry
  (`publish_directory`, `directory_entry`, `directory`, `remove_from_directory`);
- **pub/sub**: `publish_nowait` never waits, and the handler set with
  `set_message_handler` gets every message of the subscribed channels, in
  order per publisher, from the backend's own task (never inside a publish).

Two implementations: `memory.py` (an in-process hub: the one-process default,
and several backends on one hub for tests) and `redis.py` (many processes and
machines). `factory.create_backend` picks one by the scheme of `ASGI_MMO_REDIS_URL`
and imports it lazily, so the memory backend needs no redis-py.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

#: messages a backend queues (Redis: waiting for the publisher; memory: waiting in
#: a subscriber's inbox); beyond it they are dropped and counted
PUBLISH_QUEUE = 10_000

#: a pub/sub message arrived: (channel, data); called from the backend's own task
MessageHandler = Callable[[str, bytes], None]


class LeaseState(enum.StrEnum):
    """What `renew_room` found."""

    HELD = "held"  #: the lease is still the caller's, and now lasts `ttl_ms` more
    LOST = "lost"  #: another lease holds the room
    MISSING = "missing"  #: nobody holds the room (the lease ran out, or the store lost its data)


class Backend(Protocol):
    """The store and the message bus every process of a cluster shares.

    Every `async` command raises `BackendUnavailable` when the store cannot be
    reached; `subscribe` and `unsubscribe` never do (the subscriptions are
    restored when the store is back).
    """

    @property
    def shared(self) -> bool:
        """True when other processes (or other backends on one memory hub) see what it keeps."""
        ...

    @property
    def worker(self) -> str:
        """This process in the cluster (`HOST:PID`): leases name it, and it hears `worker_channel(worker)`."""
        ...

    @property
    def available(self) -> bool:
        """False while the store cannot be reached."""
        ...

    @property
    def published(self) -> int:
        """Messages sent so far."""
        ...

    @property
    def dropped(self) -> int:
        """Messages lost so far: queue full, or the store unreachable."""
        ...

    async def __aenter__(self) -> Self:
        """Connect and start the backend's tasks (delivery, publishing, reconnecting)."""
        ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def set_message_handler(self, handler: MessageHandler) -> None:
        """Who gets the messages of every subscribed channel; a handler that raises is logged."""
        ...

    # ---- leases ------------------------------------------------------------------------

    async def claim_room(self, room_id: str, ttl_ms: int, min_fence: int = 0) -> str | None:
        """Take the room's lease if nobody holds it: the lease `"{worker}|{fence}"`, else None.

        The fence is above every earlier one of the room, and at least `min_fence`
        (an owner that claims again after the store lost its data keeps its fences growing).
        """
        ...

    async def renew_room(self, room_id: str, lease: str, ttl_ms: int) -> LeaseState:
        """Extend `lease` by `ttl_ms` if it still holds the room."""
        ...

    async def release_room(self, room_id: str, lease: str) -> None:
        """Give the room up, if `lease` still holds it (another holder's lease stays)."""
        ...

    async def room_owner(self, room_id: str) -> str | None:
        """The lease that holds the room, or None."""
        ...

    # ---- saved rooms -------------------------------------------------------------------

    async def save_room(self, room_id: str, saved: bytes, ttl_seconds: float, lease: str | None = None) -> bool:
        """Keep a room's state (`roomview.save(room)` as JSON) for `ttl_seconds`.

        With `lease`, only while that lease holds the room: False when it does not.
        """
        ...

    async def load_room(self, room_id: str) -> bytes | None:
        """A room's last saved state, or None (never saved, expired or deleted)."""
        ...

    async def delete_room(self, room_id: str) -> None:
        """Forget a disposed room's saved state and its score marks."""
        ...

    def keep_scores_nowait(self, room_id: str, marks: dict[str, bytes], lease: str, ttl_seconds: float) -> None:
        """Set these players' score marks of the room (player id -> mark), only while `lease` holds
        the room, all of the room's marks to live `ttl_seconds` from now. Never waits: queued with the
        publishes, so that what is published after it is delivered only once the marks are kept;
        dropped and counted in `dropped` as a publish is."""
        ...

    async def load_scores(self, room_id: str) -> dict[str, bytes]:
        """The room's score marks: player id -> mark (empty: none kept, expired or deleted)."""
        ...

    # ---- the directory of rooms ----------------------------------------------------------

    async def publish_directory(self, entries: dict[str, bytes]) -> None:
        """Set these rooms' entries (room id -> entry); other rooms' entries stay."""
        ...

    async def remove_from_directory(self, room_id: str) -> None: ...

    async def directory_entry(self, room_id: str) -> bytes | None: ...

    async def directory(self) -> dict[str, bytes]:
        """Every entry: room id -> entry."""
        ...

    # ---- pub/sub -----------------------------------------------------------------------

    def publish_nowait(self, channel: str, data: bytes) -> None:
        """Send without waiting; dropped and counted in `dropped` when the queue is full or the store is down."""
        ...

    async def subscribe(self, channel: str) -> None:
        """Hear `channel` too (`worker_channel(worker)` is heard from the start)."""
        ...

    async def unsubscribe(self, channel: str) -> None: ...
