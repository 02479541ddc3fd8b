"""The leaderboard's buffer and flusher: persistence through a store, ranking, batching,
retries with backoff, the final flush. Most run on a SQLite file; the failure and timing
cases on a `MemoryStore` told to fail or to hold its writes. What every store must do
is in tests/test_score_stores.py."""

from __future__ import annotations

import logging
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from asgi_mmo.games.base import ScoreEvent
from asgi_mmo.scores.leaderboard import Leaderboard, LeaderboardStatistics, LeaderboardUnavailable
from asgi_mmo.scores.memory import MemoryStore, StoreFailure
from asgi_mmo.scores.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

# Quick retries keep the failure tests short.
FAST: dict[str, Any] = {"retry_initial": 0.02, "retry_max": 0.1, "flush_interval": 0.05}


def score(name: str, points: int, bot: bool = False) -> ScoreEvent:
    return ScoreEvent(player_id=f"id-{name}", name=name, score=points, bot=bot)


def table(path: Path) -> dict[tuple[str, bool], int]:
    """The stored best scores, read with a plain connection."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT name, bot, score FROM best_scores").fetchall()
    return {(name, bool(bot)): points for name, bot, points in rows}


def names(entries: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(entry["name"], entry["score"]) for entry in entries]


async def wait_until_written(board: Leaderboard, timeout: float = 5) -> None:
    with anyio.fail_after(timeout):
        while board.statistics().pending:
            await anyio.sleep(0.01)


async def test_scores_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    # A long interval: only the final flush on exit writes these.
    async with Leaderboard(SqliteStore(path), flush_interval=60) as board:
        board.record_nowait(score("alice", 30))
        board.record_nowait(score("bob", 20))
    assert table(path) == {("alice", False): 30, ("bob", False): 20}

    async with Leaderboard(SqliteStore(path)) as board:
        entries = await board.top()
    assert names(entries) == [("alice", 30), ("bob", 20)]
    assert entries[0]["bot"] is False
    assert entries[0]["at"].endswith("Z") and "T" in entries[0]["at"]


async def test_best_score_per_name(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    async with Leaderboard(SqliteStore(path), flush_interval=60) as board:
        board.record_nowait(score("alice", 5))
        await board.flush()
        board.record_nowait(score("alice", 12))
        board.record_nowait(score("alice", 7))  # lower, in the same batch
        board.record_nowait(score("bob", 9))
        await board.flush()
        (first,) = [e for e in await board.top() if e["name"] == "alice"]
        board.record_nowait(score("alice", 3))  # lower, a later batch
        board.record_nowait(score("alice", 12))  # equal: keeps the first time
        await board.flush()
        assert names(await board.top()) == [("alice", 12), ("bob", 9)]
        (again,) = [e for e in await board.top() if e["name"] == "alice"]
        assert again["at"] == first["at"]
        board.record_nowait(score("carol", 0))  # nothing worth keeping
    assert table(path) == {("alice", False): 12, ("bob", False): 9}


async def test_bots_listed_only_when_asked(tmp_path: Path) -> None:
    async with Leaderboard(SqliteStore(tmp_path / "board.sqlite3")) as board:
        board.record_nowait(score("alice", 10))
        board.record_nowait(score("bot-1", 50, bot=True))
        await board.flush()
        board.record_nowait(score("bot-2", 40, bot=True))  # still buffered
        assert names(await board.top()) == [("alice", 10)]
        entries = await board.top(include_bots=True)
        assert names(entries) == [("bot-1", 50), ("bot-2", 40), ("alice", 10)]
        assert [entry["bot"] for entry in entries] == [True, True, False]


async def test_limit_and_ties(tmp_path: Path) -> None:
    async with Leaderboard(SqliteStore(tmp_path / "board.sqlite3")) as board:
        for points in range(1, 16):
            board.record_nowait(score(f"p{points:02}", points))
        await board.flush()
        assert names(await board.top(limit=3)) == [("p15", 15), ("p14", 14), ("p13", 13)]
        assert len(await board.top()) == 10
        assert len(await board.top(limit=100)) == 15
        assert await board.top(limit=0) == []
        with pytest.raises(ValueError):
            await board.top(limit=-1)
        # An equal score reached later ranks after the earlier one.
        board.record_nowait(score("early", 99))
        await board.flush()
        await anyio.sleep(0.01)  # `at` has millisecond resolution
        board.record_nowait(score("late", 99))  # buffered, not yet written
        assert names(await board.top(limit=2)) == [("early", 99), ("late", 99)]


async def test_recorded_score_is_visible_before_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    async with Leaderboard(SqliteStore(path), flush_interval=60) as board:
        board.record_nowait(score("alice", 10))
        await board.flush()
        board.record_nowait(score("alice", 25))
        board.record_nowait(score("bob", 7))
        assert table(path) == {("alice", False): 10}
        assert names(await board.top()) == [("alice", 25), ("bob", 7)]
        assert board.statistics().pending == 2


async def test_flusher_writes_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    async with Leaderboard(SqliteStore(path), flush_interval=0.05) as board:
        board.record_nowait(score("alice", 10))
        await wait_until_written(board)
        assert table(path) == {("alice", False): 10}
        # A full batch is written without waiting for the interval.
        board.flush_interval = 60
        await anyio.sleep(0.1)  # the flusher is now in its long wait
        for n in range(board.batch_size):
            board.record_nowait(score(f"p{n}", n + 1))
        await wait_until_written(board)
        assert len(table(path)) == board.batch_size + 1


async def test_final_flush_runs_when_cancelled(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    with anyio.CancelScope() as scope:
        async with Leaderboard(SqliteStore(path), flush_interval=60) as board:
            board.record_nowait(score("alice", 10))
            scope.cancel()
            await anyio.sleep(1)  # cancelled here
    assert scope.cancelled_caught
    assert table(path) == {("alice", False): 10}


async def test_an_error_in_the_body_propagates_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    with pytest.raises(KeyError):  # not an ExceptionGroup from the task group
        async with Leaderboard(SqliteStore(path), flush_interval=60) as board:
            board.record_nowait(score("alice", 10))
            raise KeyError("body")
    assert table(path) == {("alice", False): 10}


async def test_buffer_is_bounded_and_keeps_the_best(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asgi_mmo.scores.leaderboard")
    folder = tmp_path / "not-yet"
    async with Leaderboard(SqliteStore(folder / "board.sqlite3"), max_pending=3, **FAST) as board:
        for points in [5, 1, 9, 3, 7, 2, 8]:
            board.record_nowait(score(f"p{points}", points))
        board.record_nowait(score("p9", 4))  # lower than p9's best: no change
        stats = board.statistics()
        assert stats.pending == 3
        assert stats.dropped == 4
        with anyio.fail_after(5):
            while not any("dropped" in r.getMessage() for r in caplog.records):
                await anyio.sleep(0.01)
        folder.mkdir()
        await wait_until_written(board)
        assert names(await board.top()) == [("p9", 9), ("p8", 8), ("p7", 7)]


async def test_use_outside_the_context_manager(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    board = Leaderboard(SqliteStore(tmp_path / "board.sqlite3"))
    with pytest.raises(RuntimeError, match="not open"):
        await board.top()
    async with board:
        pass
    with pytest.raises(RuntimeError):
        async with board:
            pass
    board.record_nowait(score("late", 3))  # after close: logged, not raised
    assert board.statistics().dropped == 1
    assert any("closed" in record.getMessage() for record in caplog.records)


# -- a store that fails or is slow (MemoryStore) -------------------------------------------


async def test_a_failing_store_is_retried_with_growing_delays(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asgi_mmo.scores.leaderboard")
    store = MemoryStore()
    store.fail_next(5)  # the start, then four writes
    async with Leaderboard(store, flush_interval=0.01, retry_initial=0.01, retry_max=0.04) as board:
        board.record_nowait(score("alice", 10))
        await wait_until_written(board)
        assert board.statistics() == LeaderboardStatistics(pending=0, written=1, dropped=0, failures=4)
    assert store.best[("alice", 0)][0] == 10
    records = caplog.records
    assert any("unavailable at start" in r.getMessage() for r in records)
    retries = [r for r in records if "write failed" in r.getMessage()]
    found = [re.search(r"attempt (\d+)\), retrying in ([\d.]+) s", r.getMessage()) for r in retries]
    assert [m.groups() if m else None for m in found] == [
        ("1", "0.01"), ("2", "0.02"), ("3", "0.04"), ("4", "0.04"),  # doubled, up to retry_max
    ]
    assert [bool(r.exc_info) for r in retries] == [True, False, False, False]  # one traceback a run
    assert any("work again after 4 failed attempts" in r.getMessage() for r in records)


async def test_scores_recorded_during_a_slow_write_wait_for_the_next() -> None:
    store = MemoryStore()
    release = store.hold_writes()
    async with Leaderboard(store, flush_interval=60) as board:
        board.record_nowait(score("alice", 10))
        board.record_nowait(score("bob", 5))
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(board.flush)
            try:
                await anyio.to_thread.run_sync(store.write_started.wait)
                board.record_nowait(score("alice", 25))  # raised while her 10 is being written
                board.record_nowait(score("carol", 7))
                # A read does not wait for the slow write, and sees every score.
                assert names(await board.top()) == [("alice", 25), ("carol", 7), ("bob", 5)]
            finally:
                release.set()
        assert {key: best for key, (best, _) in store.best.items()} == {("alice", 0): 10, ("bob", 0): 5}
        # Only what the write carried left the buffer: alice's 25 and carol's 7 still wait.
        assert board.statistics() == LeaderboardStatistics(pending=2, written=2, dropped=0, failures=0)
        await board.flush()
    assert {key: best for key, (best, _) in store.best.items()} == {
        ("alice", 0): 25, ("bob", 0): 5, ("carol", 0): 7,
    }  # fmt: skip


async def test_a_store_that_fails_answers_unavailable_and_keeps_the_scores() -> None:
    store = MemoryStore()
    async with Leaderboard(store, flush_interval=60) as board:
        board.record_nowait(score("alice", 10))
        store.fail_next(1)
        with pytest.raises(LeaderboardUnavailable) as failure:
            await board.top()
        assert isinstance(failure.value.__cause__, StoreFailure)
        store.fail_next(1)
        with pytest.raises(LeaderboardUnavailable):
            await board.flush()
        assert board.statistics() == LeaderboardStatistics(pending=1, written=0, dropped=0, failures=1)
        assert names(await board.top()) == [("alice", 10)]
    assert store.best[("alice", 0)][0] == 10


async def test_scores_the_final_flush_cannot_write_are_logged_by_name(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    with anyio.fail_after(5):  # close_timeout bounds the exit, however dead the store
        async with Leaderboard(store, flush_interval=60, close_timeout=0.2, retry_initial=0.01) as board:
            board.record_nowait(score("alice", 10))
            board.record_nowait(score("Bot 1", 3, bot=True))
            store.fail_next(1_000_000)
    assert store.best == {}
    assert store.closed  # the board closes the store it was given
    messages = [r.getMessage() for r in caplog.records]
    assert any("final write failed" in m for m in messages)
    assert "leaderboard memory closed with 2 scores not written: alice=10, Bot 1 (bot)=3" in messages
