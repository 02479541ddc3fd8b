"""What the leaderboard needs of the place its best scores are kept.

`Leaderboard` (the buffer and its flusher) sees a store through `ScoreStore`
only. Three implementations: `sqlite.SqliteStore` (one file, several processes
of one machine), `redis.RedisStore` (one board for a whole cluster) and
`memory.MemoryStore` (tests: it can be told to fail or to be slow);
`factory.create_store` picks one from the settings.

A store's methods block: the leaderboard calls each of them in a worker
thread, never on the event loop, one call per flush or read.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Ranked", "Row", "ScoreStore"]

#: A best score handed to `write`: (name, bot 0 or 1, score, at).
Row = tuple[str, int, int, str]
#: A best score answered by `read_top`: (name, score, at, bot 0 or 1).
Ranked = tuple[str, int, str, int]


class ScoreStore(Protocol):
    """Best score per (name, bot); `at` is an ISO-8601 UTC string that sorts in time order."""

    @property
    def description(self) -> str:
        """Where the scores live, for logs (a path, a Redis host; never a password)."""
        ...

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What a failing store raises: the leaderboard retries, logs, and answers 503."""
        ...

    def create_schema(self) -> None:
        """Make the store ready (tables, a first connection); safe to call again."""
        ...

    def write(self, rows: list[Row]) -> None:
        """Keep each row where its score is strictly higher than the stored one for
        that (name, bot), with its `at`; all or nothing. Lower and equal scores change
        nothing, so writers of the same name in any order keep the maximum. Makes
        the schema first if `create_schema` has not succeeded yet."""
        ...

    def read_top(self, limit: int, include_bots: bool) -> list[Ranked]:
        """The `limit` best, ordered by score descending, then `at`, then name;
        bots only when `include_bots`."""
        ...

    def close(self) -> None:
        """Let go of what the store holds open; the store is not used afterwards."""
        ...
