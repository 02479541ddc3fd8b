"""`create_backend`: the backend the settings ask for, by URL scheme, imported lazily.

Apart from `base.py` so the interface never imports its implementations.
"""

from __future__ import annotations

from asgi_mmo.backends.base import Backend
from asgi_mmo.exceptions import ConfigError
from asgi_mmo.settings import REDIS_SCHEMES, Settings


def create_backend(settings: Settings, worker: str) -> Backend:
    """The backend `settings` ask for, by the scheme of `ASGI_MMO_REDIS_URL`.

    Unset or `memory://`: one process, in memory; `redis://`, `rediss://`,
    `unix://`: Redis. `worker` names this process in the cluster (`HOST:PID`).
    """
    url = settings.redis_url  # settings.py reads unset, "" and memory:// all as None
    if url is None:
        from asgi_mmo.backends.memory import MemoryBackend

        return MemoryBackend(worker=worker)
    if url.startswith(REDIS_SCHEMES):
        from asgi_mmo.backends.redis import RedisBackend

        return RedisBackend(url, worker)
    # Settings refuse any other scheme at start already; this keeps the factory whole on its own.
    raise ConfigError(f"ASGI_MMO_REDIS_URL must be a memory://, redis://, rediss:// or unix:// URL, got {url!r}")
