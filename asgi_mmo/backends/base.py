"""What the registry needs from the world beyond its own process.

The in-memory backend (`memory.py`) serves one process; a shared backend
(Redis, for several processes and machines) implements the same interface.
`create_backend` picks one from `ASGI_MMO_REDIS_URL` and imports it lazily.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from asgi_mmo.exceptions import ConfigError
from asgi_mmo.settings import Settings


class Backend(Protocol):
    #: True when other processes see what this backend keeps
    shared: bool

    async def __aenter__(self) -> Backend: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def save_room(self, room_id: str, saved: bytes, ttl_seconds: float) -> None:
        """Keep a room's saved state (`Room.save()` as JSON) for `ttl_seconds`."""
        ...

    async def load_room(self, room_id: str) -> bytes | None:
        """A room's last saved state, or None."""
        ...

    async def delete_room(self, room_id: str) -> None:
        """Forget a disposed room."""
        ...


def create_backend(settings: Settings, worker: str) -> Backend:
    """The backend `settings` ask for: in memory unless a Redis URL is set.

    `worker` names this process in the cluster (`HOST:PID`).
    """
    if not settings.redis_url:
        from asgi_mmo.backends.memory import MemoryBackend

        return MemoryBackend()
    if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"ASGI_MMO_REDIS_URL must be a redis://, rediss:// or unix:// URL, got {settings.redis_url!r}")
    from asgi_mmo.backends.redis import RedisBackend

    return RedisBackend(settings.redis_url, worker)
