"""The persistent leaderboard: best score per (name, bot), kept in SQLite.

    async with Leaderboard("asgi-mmo.sqlite3") as board:
        board.record_nowait(event)          # from a room's tick: never blocks
        entries = await board.top(10)       # from the HTTP endpoint

Every SQLite call runs in a worker thread (`anyio.to_thread.run_sync`), never
on the event loop. Rooms only append to a bounded in-memory buffer; a flusher
task, owned by the board's own task group, writes the buffer in one
transaction every `flush_interval` seconds, or sooner once `batch_size` scores
wait. A database that is locked, slow or broken is retried with backoff and
logged; the buffer keeps the scores meanwhile (at most `max_pending` names,
the best ones). On exit the buffer is flushed once more, shielded from
cancellation and bounded by `close_timeout`.

Several processes may share one file: WAL mode lets readers run beside the
writer, the busy timeout makes a writer wait for another's lock instead of
failing at once, and the UPSERT only ever raises a score, so concurrent
writers of the same name cannot lose the best one (see
docs/leaderboard-and-bots.md).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable
from contextlib import AsyncExitStack, closing
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
from redis import Redis as SyncRedis
from redis.exceptions import RedisError

from asgi_mmo.exceptions import AsgiMmoError
from asgi_mmo.games.base import ScoreEvent
from asgi_mmo.names import board_keys

__all__ = ["Leaderboard", "LeaderboardStatistics", "LeaderboardUnavailable"]

logger = logging.getLogger("asgi_mmo.scores.leaderboard")

SCHEMA = """
CREATE TABLE IF NOT EXISTS best_scores (
    name  TEXT    NOT NULL,
    bot   INTEGER NOT NULL CHECK (bot IN (0, 1)),
    score INTEGER NOT NULL,
    at    TEXT    NOT NULL,  -- ISO-8601 UTC, when this best score was first reached
    PRIMARY KEY (name, bot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS best_scores_rank ON best_scores (score DESC, at);
"""

# Only a strictly higher score replaces a row, so the order in which
# processes commit does not matter and an equal score keeps the earlier time.
UPSERT = """
INSERT INTO best_scores (name, bot, score, at) VALUES (?, ?, ?, ?)
ON CONFLICT (name, bot) DO UPDATE SET score = excluded.score, at = excluded.at
WHERE excluded.score > best_scores.score
"""

TOP = """
SELECT name, score, at, bot FROM best_scores
WHERE bot = 0 OR ?
ORDER BY score DESC, at ASC, name ASC
LIMIT ?
"""

_Key = tuple[str, bool]  # (name, bot)
_Best = tuple[int, str]  # (score, at)


class LeaderboardUnavailable(AsgiMmoError):
    """Raised by `Leaderboard.top` and `Leaderboard.flush` when the database
    cannot be read or written; the underlying `sqlite3.Error` is its cause.
    Never raised by `record_nowait`."""


@dataclass(frozen=True, slots=True)
class LeaderboardStatistics:
    #: Names whose best score waits in memory for the next write.
    pending: int
    #: Rows handed to successful write transactions so far.
    written: int
    #: Scores dropped because the buffer was full (or the board closed).
    dropped: int
    #: Failed write attempts so far.
    failures: int


def utc_now() -> str:
    """Now as ISO-8601 UTC with milliseconds, e.g. `2025-01-31T12:00:00.123Z`.

    Fixed width, so the strings sort in time order (ties on `top`)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Store:
    """The blocking SQLite side. Every method runs in a worker thread.

    One connection per call rather than one shared connection behind a
    threading.Lock: no connection ever crosses threads (no
    `check_same_thread=False`), and a read of `top` runs beside a write that
    is waiting for another process's lock, as WAL allows; a shared locked
    connection would make the leaderboard endpoint wait behind that write.
    Opening a connection costs well under a millisecond, paid once per flush
    and per read.
    """

    #: what a failing database raises (the leaderboard retries, logs, and answers 503)
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float) -> None:
        self.path = os.fspath(path)
        self.busy_timeout = busy_timeout
        self.schema_ready = False

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a
        # writer takes the write lock up front and the busy timeout applies
        # there, instead of failing on a read-to-write upgrade.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            # In WAL, NORMAL syncs at checkpoints only: a crash of the process
            # loses nothing; a power cut may lose the last writes, never
            # corrupt the file.
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        # journal_mode is stored in the file: only the first opener switches,
        # so processes starting together rarely contend for that lock.
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if mode.lower() != "wal":
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode.lower() != "wal":
                logger.warning(
                    "leaderboard %s: WAL mode refused (journal_mode=%s); readers will wait for writers",
                    self.path,
                    mode,
                )
        conn.executescript(SCHEMA)
        self.schema_ready = True

    def create_schema(self) -> None:
        with closing(self._connect()) as conn:
            self._create_schema(conn)

    def write(self, rows: list[tuple[str, int, int, str]]) -> None:
        with closing(self._connect()) as conn:
            if not self.schema_ready:
                self._create_schema(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(UPSERT, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def read_top(self, limit: int, include_bots: bool) -> list[tuple[str, int, str, int]]:
        with closing(self._connect()) as conn:
            return conn.execute(TOP, (int(include_bots), limit)).fetchall()

    def close(self) -> None:
        """Nothing held open: each call opens its own connection."""


# Only a strictly higher score replaces a name's best, and its time with it.
_REDIS_UPSERT = """
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if held and tonumber(held) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""


class _RedisStore:
    """The same leaderboard in Redis, shared by every process and machine of a cluster.

    A sorted set of best scores and a hash of the times they were reached, one
    pair for humans and one for bots. Blocking redis-py calls, run in worker
    threads like SQLite's.
    """

    errors: tuple[type[BaseException], ...] = (RedisError, OSError)

    def __init__(self, url: str) -> None:
        self.path = url.split("@")[-1]  # for logs: never the password
        self._client = SyncRedis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
        self._upsert = self._client.register_script(_REDIS_UPSERT)

    def create_schema(self) -> None:
        self._client.ping()

    def write(self, rows: list[tuple[str, int, int, str]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for name, bot, score, at in rows:
            self._upsert(keys=board_keys(bot), args=[name, score, at], client=pipe)
        pipe.execute()

    def read_top(self, limit: int, include_bots: bool) -> list[tuple[str, int, str, int]]:
        rows: list[tuple[str, int, str, int]] = []
        for bot in (0, 1) if include_bots else (0,):
            scores_key, times_key = board_keys(bot)
            # A few more than asked, so names tied at the cut are ordered by time as in SQL.
            best = self._client.zrevrange(scores_key, 0, limit + 9, withscores=True)
            if not best:
                continue
            times = self._client.hmget(times_key, [name for name, _ in best])
            rows.extend((name.decode(), int(score), (at or b"").decode(), bot)
                        for (name, score), at in zip(best, times))
        rows.sort(key=lambda row: (-row[1], row[2], row[0]))
        return rows[:limit]

    def close(self) -> None:
        self._client.close()


class Leaderboard:
    """Best score per (name, bot) in a SQLite file, written in batches.

    `record_nowait` must be called from the event loop's thread (a room's
    tick); `top` and `flush` are safe from any task. Use as an async context
    manager; it owns the flusher task.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = "asgi-mmo.sqlite3",
        *,
        redis_url: str | None = None,
        flush_interval: float = 0.5,
        batch_size: int = 100,
        max_pending: int = 10_000,
        busy_timeout: float = 5.0,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        close_timeout: float = 10.0,
    ) -> None:
        if max_pending < 1 or batch_size < 1:
            raise ValueError("max_pending and batch_size must be >= 1")
        # With Redis, every process and machine of the cluster shares one leaderboard.
        self._store: _Store | _RedisStore = _RedisStore(redis_url) if redis_url else _Store(path, busy_timeout)
        self.path = self._store.path
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.close_timeout = close_timeout
        self._pending: dict[_Key, _Best] = {}
        self._written = 0
        self._dropped = 0
        self._dropped_reported = 0
        self._failures = 0
        self._closed = False
        # Created in __aenter__, inside the event loop.
        self._limiter: anyio.CapacityLimiter | None = None
        self._write_lock: anyio.Lock | None = None
        self._wakeup: anyio.Event | None = None
        self._exit_stack: AsyncExitStack | None = None

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Leaderboard:
        if self._exit_stack is not None or self._closed:
            raise RuntimeError("a Leaderboard can be entered only once")
        # Its own thread limit, so a slow database cannot take all of anyio's
        # default worker threads from the rest of the app.
        self._limiter = anyio.CapacityLimiter(4)
        self._write_lock = anyio.Lock()
        try:
            await anyio.to_thread.run_sync(self._store.create_schema, limiter=self._limiter)
        except self._store.errors:
            # Not fatal: the server can run without its leaderboard for a
            # while; the flusher creates the schema on its next write.
            logger.warning("leaderboard %s unavailable at start; retrying in the background", self.path, exc_info=True)
        async with AsyncExitStack() as stack:
            # Unwound in reverse: cancel the flusher, wait for it, final flush.
            stack.push_async_callback(self._close)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)
            await task_group.start(self._flush_forever)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._exit_stack is not None
        # The body's exception is not handed to the task group, which would
        # wrap it in an ExceptionGroup: it propagates as it is once we return.
        await self._exit_stack.aclose()

    async def _close(self) -> None:
        self._closed = True
        delay = self.retry_initial
        # Shielded: the lifespan may be cancelled, but scores still in memory
        # must reach the file; bounded, so a dead database cannot hang exit.
        with anyio.move_on_after(self.close_timeout, shield=True):
            while self._pending:
                try:
                    await self.flush()
                except LeaderboardUnavailable as exc:
                    logger.warning("leaderboard final write failed, retrying in %.2f s: %s", delay, exc.__cause__)
                    await anyio.sleep(delay)
                    delay = min(delay * 2, self.retry_max)
        if self._pending:
            logger.error(
                "leaderboard %s closed with %d scores not written: %s",
                self.path,
                len(self._pending),
                _preview(self._pending.items()),
            )
        self._report_dropped()
        self._store.close()

    # -- writing -----------------------------------------------------------

    def record_nowait(self, event: ScoreEvent) -> None:
        """Remember `event` for the next write. Cheap, never blocks, never raises.

        Only a name's best score is kept. Scores of 0 or less are not kept.
        When `max_pending` names already wait (the database has been down
        for a while), the lowest waiting score is dropped for a higher one,
        and a lower one is dropped itself; drops are counted and logged.
        """
        if event.score <= 0:
            return
        if self._closed:
            self._dropped += 1
            logger.error("leaderboard closed: score %d of %r dropped", event.score, event.name)
            return
        key = (event.name, event.bot)
        pending = self._pending
        held = pending.get(key)
        if held is not None:
            if event.score > held[0]:
                pending[key] = (event.score, utc_now())
            return
        if len(pending) >= self.max_pending:
            # O(max_pending), but only while the buffer is full, which only
            # a long outage causes.
            lowest = min(pending, key=lambda k: pending[k][0])
            self._dropped += 1
            if pending[lowest][0] >= event.score:
                return
            del pending[lowest]
        pending[key] = (event.score, utc_now())
        if len(pending) >= self.batch_size and self._wakeup is not None:
            self._wakeup.set()

    async def flush(self) -> None:
        """Write every waiting score now. Raises `LeaderboardUnavailable`
        (scores stay waiting) if the database refuses."""
        lock = self._require_open()
        async with lock:
            if not self._pending:
                return
            # The buffer stays as it is while the write runs, so `top` still
            # sees these scores; only entries unchanged since are removed after.
            batch = dict(self._pending)
            rows = [(name, int(bot), score, at) for (name, bot), (score, at) in batch.items()]
            try:
                await anyio.to_thread.run_sync(self._store.write, rows, limiter=self._limiter)
            except self._store.errors as exc:
                self._failures += 1
                raise LeaderboardUnavailable(f"cannot write leaderboard {self.path}: {exc}") from exc
            for key, best in batch.items():
                if self._pending.get(key) == best:
                    del self._pending[key]
            self._written += len(rows)

    async def _flush_forever(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        delay = self.retry_initial
        failing = 0
        while True:
            self._wakeup = anyio.Event()
            if len(self._pending) < self.batch_size:
                with anyio.move_on_after(self.flush_interval):
                    await self._wakeup.wait()
            self._report_dropped()
            if not self._pending:
                continue
            try:
                await self.flush()
            except Exception as exc:
                # The error boundary of the flusher: log, back off, retry;
                # the scores stay in the buffer.
                failing += 1
                logger.warning(
                    "leaderboard write failed (%d scores waiting, attempt %d), retrying in %.2f s: %s",
                    len(self._pending),
                    failing,
                    delay,
                    exc,
                    exc_info=failing == 1,
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
            else:
                if failing:
                    logger.info("leaderboard writes work again after %d failed attempts", failing)
                failing = 0
                delay = self.retry_initial

    def _report_dropped(self) -> None:
        if self._dropped > self._dropped_reported:
            logger.error(
                "leaderboard buffer full: %d scores dropped (%d in total)",
                self._dropped - self._dropped_reported,
                self._dropped,
            )
            self._dropped_reported = self._dropped

    # -- reading -----------------------------------------------------------

    async def top(self, limit: int = 10, include_bots: bool = False) -> list[dict[str, Any]]:
        """`[{"name", "score", "at", "bot"}]`, best first, ties by earlier `at`.

        Scores recorded but not yet written are merged in, so a score is
        visible as soon as `record_nowait` returns.
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self._require_open()
        if limit == 0:
            return []
        # Copied before the read: a write finishing during the read removes
        # entries from the buffer, but they are in this copy or in the rows.
        waiting = dict(self._pending)
        try:
            rows = await anyio.to_thread.run_sync(self._store.read_top, limit, include_bots, limiter=self._limiter)
        except self._store.errors as exc:
            raise LeaderboardUnavailable(f"cannot read leaderboard {self.path}: {exc}") from exc
        best: dict[_Key, _Best] = {(name, bool(bot)): (score, at) for name, score, at, bot in rows}
        for key, (score, at) in waiting.items():
            if key[1] and not include_bots:
                continue
            held = best.get(key)
            if held is None or score > held[0]:
                best[key] = (score, at)
        # Rows beyond the first `limit` rank below all of those read, and a
        # waiting score only ever raises its name: merging then cutting is exact.
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1], item[0][0]))
        return [
            {"name": name, "score": score, "at": at, "bot": bot}
            for (name, bot), (score, at) in ranked[:limit]
        ]

    def statistics(self) -> LeaderboardStatistics:
        return LeaderboardStatistics(
            pending=len(self._pending),
            written=self._written,
            dropped=self._dropped,
            failures=self._failures,
        )

    def _require_open(self) -> anyio.Lock:
        if self._write_lock is None:
            raise RuntimeError("Leaderboard is not open: use 'async with Leaderboard(path)'")
        return self._write_lock


def _preview(items: Iterable[tuple[_Key, _Best]], count: int = 5) -> str:
    shown = [f"{name}{' (bot)' if bot else ''}={score}" for (name, bot), (score, _) in list(items)[:count]]
    return ", ".join(shown)
