"""The persistent leaderboard: best score per (name, bot), written to a store in batches.

    async with Leaderboard(SqliteStore("asgi-mmo.sqlite3")) as board:
        board.record_nowait(event)          # from a room's tick: never blocks
        entries = await board.top(10)       # from the HTTP endpoint

The store (`asgi_mmo.scores.store.ScoreStore`: SQLite, Redis, or memory in
tests; `factory.create_store` picks one from the settings) is called only in
worker threads (`anyio.to_thread.run_sync`), never on the event loop. Rooms
only append to a bounded in-memory buffer; a flusher task, owned by the
board's own task group, writes the buffer in one call every `flush_interval`
seconds, or sooner once `batch_size` scores wait. A store that is locked,
slow or broken is retried with backoff and logged; the buffer keeps the
scores meanwhile (at most `max_pending` names, the best ones). On exit the
buffer is flushed once more, shielded from cancellation and bounded by
`close_timeout` (see docs/leaderboard-and-bots.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

from asgi_mmo.exceptions import AsgiMmoError
from asgi_mmo.games.base import ScoreEvent
from asgi_mmo.owned import OwnsTasks
from asgi_mmo.scores.store import ScoreStore

__all__ = ["Leaderboard", "LeaderboardStatistics", "LeaderboardUnavailable"]

logger = logging.getLogger("asgi_mmo.scores.leaderboard")

_Key = tuple[str, bool]  # (name, bot)
_Best = tuple[int, str]  # (score, at)


class LeaderboardUnavailable(AsgiMmoError):
    """Raised by `Leaderboard.top` and `Leaderboard.flush` when the store
    cannot be read or written; the store's error (one of `store.errors`,
    e.g. a `sqlite3.Error`) is its cause. Never raised by `record_nowait`."""


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
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Leaderboard(OwnsTasks):
    """Best score per (name, bot) in `store`, written in batches.

    `record_nowait` must be called from the event loop's thread (a room's
    tick); `top` and `flush` are safe from any task. Use as an async context
    manager; it owns the flusher task, and closes `store` on exit.
    """

    def __init__(
        self,
        store: ScoreStore,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 100,
        max_pending: int = 10_000,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        close_timeout: float = 10.0,
    ) -> None:
        if max_pending < 1 or batch_size < 1:
            raise ValueError("max_pending and batch_size must be >= 1")
        self._store = store
        #: where the scores live, for logs
        self.path = store.description
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

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> Leaderboard:
        if self._exit_stack is not None or self._closed:
            raise RuntimeError("a Leaderboard can be entered only once")
        # Its own thread limit, so a slow store cannot take all of anyio's
        # default worker threads from the rest of the app.
        self._limiter = anyio.CapacityLimiter(4)
        self._write_lock = anyio.Lock()
        try:
            await anyio.to_thread.run_sync(self._store.create_schema, limiter=self._limiter)
        except self._store.errors:
            # Not fatal: the server can run without its leaderboard for a
            # while; the store makes its schema on the next write.
            logger.warning("leaderboard %s unavailable at start; retrying in the background", self.path, exc_info=True)
        async with AsyncExitStack() as stack:
            # Unwound in reverse: cancel the flusher, wait for it, final flush.
            stack.push_async_callback(self._close)
            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)
            await task_group.start(self._flush_forever)
            self._own(stack.pop_all())
        return self

    async def _close(self) -> None:
        self._closed = True
        delay = self.retry_initial
        # Shielded: the lifespan may be cancelled, but scores still in memory
        # must reach the store; bounded, so a dead store cannot hang exit.
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
        When `max_pending` names already wait (the store has been down
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
        (scores stay waiting) if the store refuses."""
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
            raise RuntimeError("Leaderboard is not open: use 'async with Leaderboard(store)'")
        return self._write_lock


def _preview(items: Iterable[tuple[_Key, _Best]], count: int = 5) -> str:
    shown = [f"{name}{' (bot)' if bot else ''}={score}" for (name, bot), (score, _) in list(items)[:count]]
    return ", ".join(shown)
