"""`create_store(settings)`: the score store the settings ask for.

Redis when `ASGI_MMO_REDIS_URL` is set (every process and machine of the
cluster then shares one leaderboard), else the SQLite file `ASGI_MMO_DB`.
Each store's module is imported only when it is chosen.
"""

from __future__ import annotations

from asgi_mmo.scores.store import ScoreStore
from asgi_mmo.settings import Settings

__all__ = ["create_store"]


def create_store(settings: Settings) -> ScoreStore:
    if settings.redis_url:
        from asgi_mmo.scores.redis import RedisStore

        return RedisStore(settings.redis_url)
    from asgi_mmo.scores.sqlite import SqliteStore

    return SqliteStore(settings.db_path)
