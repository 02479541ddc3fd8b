"""The leaderboard's scores in Redis: one board shared by every process and machine of a cluster.

Per bot flag, a sorted set of best scores and a hash of the times they were
reached (key names in `asgi_mmo.names`). A Lua script raises a name's score
only when the new one is strictly higher, and its time with it, so the order
in which processes write does not matter, exactly as the SQLite upsert.
"""

from __future__ import annotations

from typing import cast

from redis import Redis
from redis.exceptions import RedisError

from asgi_mmo.names import board_keys
from asgi_mmo.scores.store import Ranked, Row

__all__ = ["RedisStore"]

# Only a strictly higher score replaces a name's best, and its time with it.
UPSERT = """
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if held and tonumber(held) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

#: Names read beyond `limit` per sorted set, so names tied at the cut are ordered by time as in SQL.
TIE_MARGIN = 10


class RedisStore:
    """A `ScoreStore` in Redis. Blocking redis-py calls: run them in worker threads like SQLite's."""

    errors: tuple[type[BaseException], ...] = (RedisError, OSError)

    def __init__(self, url: str) -> None:
        self.description = url.split("@")[-1]  # for logs: never the password
        self._client = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
        self._upsert = self._client.register_script(UPSERT)

    def create_schema(self) -> None:
        self._client.ping()

    def write(self, rows: list[Row]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for name, bot, score, at in rows:
            self._upsert(keys=board_keys(bot), args=[name, score, at], client=pipe)
        pipe.execute()

    def read_top(self, limit: int, include_bots: bool) -> list[Ranked]:
        rows: list[Ranked] = []
        for bot in (0, 1) if include_bots else (0,):
            scores_key, times_key = board_keys(bot)
            # Replies are bytes: the client is made without decode_responses.
            best = cast(
                list[tuple[bytes, float]],
                self._client.zrevrange(scores_key, 0, limit + TIE_MARGIN - 1, withscores=True),
            )
            if not best:
                continue
            times = cast(list[bytes | None], self._client.hmget(times_key, [name for name, _ in best]))
            rows.extend(
                (name.decode(), int(score), (at or b"").decode(), bot)
                for (name, score), at in zip(best, times, strict=True)
            )
        rows.sort(key=lambda row: (-row[1], row[2], row[0]))
        return rows[:limit]

    def close(self) -> None:
        self._client.close()
