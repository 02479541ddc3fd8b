"""The SQLite leaderboard: persistence, ranking, a locked or broken database,
and several processes writing one file."""

from __future__ import annotations

import logging
import multiprocessing
import random
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from asgi_mmo.games.base import ScoreEvent
from asgi_mmo.scores.leaderboard import Leaderboard, LeaderboardUnavailable

pytestmark = pytest.mark.anyio

# Quick retries keep the failure tests short.
FAST = {"retry_initial": 0.02, "retry_max": 0.1, "flush_interval": 0.05}


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
    async with Leaderboard(path, flush_interval=60) as board:
        board.record_nowait(score("alice", 30))
        board.record_nowait(score("bob", 20))
    assert table(path) == {("alice", False): 30, ("bob", False): 20}

    async with Leaderboard(path) as board:
        entries = await board.top()
    assert names(entries) == [("alice", 30), ("bob", 20)]
    assert entries[0]["bot"] is False
    assert entries[0]["at"].endswith("Z") and "T" in entries[0]["at"]


async def test_wal_mode_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    async with Leaderboard(path):
        pass
    with closing(sqlite3.connect(path)) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        columns = [row[1] for row in conn.execute("PRAGMA table_info(best_scores)")]
    assert mode == "wal"
    assert columns == ["name", "bot", "score", "at"]


async def test_best_score_per_name(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    async with Leaderboard(path, flush_interval=60) as board:
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
    async with Leaderboard(tmp_path / "board.sqlite3") as board:
        board.record_nowait(score("alice", 10))
        board.record_nowait(score("bot-1", 50, bot=True))
        await board.flush()
        board.record_nowait(score("bot-2", 40, bot=True))  # still buffered
        assert names(await board.top()) == [("alice", 10)]
        entries = await board.top(include_bots=True)
        assert names(entries) == [("bot-1", 50), ("bot-2", 40), ("alice", 10)]
        assert [entry["bot"] for entry in entries] == [True, True, False]


async def test_limit_and_ties(tmp_path: Path) -> None:
    async with Leaderboard(tmp_path / "board.sqlite3") as board:
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
    async with Leaderboard(path, flush_interval=60) as board:
        board.record_nowait(score("alice", 10))
        await board.flush()
        board.record_nowait(score("alice", 25))
        board.record_nowait(score("bob", 7))
        assert table(path) == {("alice", False): 10}
        assert names(await board.top()) == [("alice", 25), ("bob", 7)]
        assert board.statistics().pending == 2


async def test_flusher_writes_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    async with Leaderboard(path, flush_interval=0.05) as board:
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
        async with Leaderboard(path, flush_interval=60) as board:
            board.record_nowait(score("alice", 10))
            scope.cancel()
            await anyio.sleep(1)  # cancelled here
    assert scope.cancelled_caught
    assert table(path) == {("alice", False): 10}


async def test_an_error_in_the_body_propagates_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    with pytest.raises(KeyError):  # not an ExceptionGroup from the task group
        async with Leaderboard(path, flush_interval=60) as board:
            board.record_nowait(score("alice", 10))
            raise KeyError("body")
    assert table(path) == {("alice", False): 10}


def hold_write_lock(path: Path, locked: threading.Event, seconds: float) -> None:
    """Another connection takes the write lock and keeps it (runs in a thread)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")


async def test_locked_database_does_not_delay_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    period = 0.01
    worst = 0.0
    stop = anyio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not stop.is_set():
            started = anyio.current_time()
            await anyio.sleep(period)
            worst = max(worst, anyio.current_time() - started - period)

    async with Leaderboard(path, flush_interval=60) as board:
        locked = threading.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, hold_write_lock, path, locked, 1.0)
            await anyio.to_thread.run_sync(locked.wait)
            tg.start_soon(ticker)
            board.record_nowait(score("alice", 42))
            started = time.monotonic()
            async with anyio.create_task_group() as writers:
                writers.start_soon(board.flush)
                # Readers are not blocked by the writer (WAL, own connection).
                read_started = time.monotonic()
                assert names(await board.top()) == [("alice", 42)]
                read_time = time.monotonic() - read_started
            write_time = time.monotonic() - started
            stop.set()
    assert write_time > 0.5, "the write should have waited for the lock"
    assert read_time < 0.2
    assert worst < 0.2, f"event loop was {worst * 1000:.0f} ms late"
    assert table(path) == {("alice", False): 42}


def scores_for(seed: int, count: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [(f"player{rng.randrange(25)}", rng.randrange(1, 1_000_000)) for _ in range(count)]


def write_from_another_process(path: str, seed: int, count: int, start: Any) -> None:
    """Runs in a spawned process: its own event loop, its own Leaderboard."""

    async def main() -> None:
        start.wait()  # all processes open the fresh file at once
        async with Leaderboard(path, flush_interval=60) as board:
            for name, points in scores_for(seed, count):
                board.record_nowait(score(name, points))
                await board.flush()  # one transaction per score: most contention

    anyio.run(main)


def test_several_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    context = multiprocessing.get_context("spawn")
    processes, count = 4, 200
    start = context.Barrier(processes)
    workers = [
        context.Process(target=write_from_another_process, args=(str(path), seed, count, start))
        for seed in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(30)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
    assert [worker.exitcode for worker in workers] == [0] * processes

    expected: dict[tuple[str, bool], int] = {}
    for seed in range(processes):
        for name, points in scores_for(seed, count):
            expected[(name, False)] = max(expected.get((name, False), 0), points)
    assert table(path) == expected
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_missing_directory_is_retried_until_it_exists(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asgi_mmo.scores.leaderboard")
    folder = tmp_path / "not-yet"
    path = folder / "board.sqlite3"
    async with Leaderboard(path, **FAST) as board:
        board.record_nowait(score("alice", 10))  # does not raise
        with anyio.fail_after(5):
            while board.statistics().failures < 3:
                await anyio.sleep(0.01)
        with pytest.raises(LeaderboardUnavailable) as failure:
            await board.flush()
        assert isinstance(failure.value.__cause__, sqlite3.Error)
        with pytest.raises(LeaderboardUnavailable):
            await board.top()
        assert board.statistics().pending == 1  # kept while retrying

        folder.mkdir()
        await wait_until_written(board)
        assert names(await board.top()) == [("alice", 10)]
    assert table(path) == {("alice", False): 10}
    messages = [record.getMessage() for record in caplog.records]
    assert any("unavailable at start" in message for message in messages)
    assert any("write failed" in message for message in messages)
    assert any("work again" in message for message in messages)


async def test_file_that_is_not_a_database_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asgi_mmo.scores.leaderboard")
    path = tmp_path / "board.sqlite3"
    path.write_bytes(b"this is not a database, just some text " * 100)
    async with Leaderboard(path, **FAST) as board:
        board.record_nowait(score("alice", 10))
        board.record_nowait(score("bob", 5))
        with anyio.fail_after(5):
            while board.statistics().failures < 2:
                await anyio.sleep(0.01)
        assert board.statistics().pending == 2
        assert any("not a database" in record.getMessage() for record in caplog.records)

        path.unlink()  # an operator removes the bad file
        await wait_until_written(board)
    assert table(path) == {("alice", False): 10, ("bob", False): 5}


async def test_buffer_is_bounded_and_keeps_the_best(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asgi_mmo.scores.leaderboard")
    folder = tmp_path / "not-yet"
    async with Leaderboard(folder / "board.sqlite3", max_pending=3, **FAST) as board:
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
    board = Leaderboard(tmp_path / "board.sqlite3")
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


async def test_with_redis_every_process_shares_one_leaderboard(tmp_path):
    """Two boards on one real Redis stand for two machines of a cluster."""
    from tests.cluster import run_redis

    with run_redis(cwd=tmp_path) as redis_server:
        async with Leaderboard(redis_url=redis_server.url) as first, \
                Leaderboard(redis_url=redis_server.url) as second:
            first.record_nowait(ScoreEvent("p1", "ada", 12, False))
            second.record_nowait(ScoreEvent("p2", "ada", 7, False))  # lower: ada keeps 12
            second.record_nowait(ScoreEvent("p3", "bob", 30, False))
            first.record_nowait(ScoreEvent("b1", "Bot 1", 99, True))
            await first.flush()
            await second.flush()
            for board in (first, second):
                humans = await board.top(10)
                assert [(e["name"], e["score"], e["bot"]) for e in humans] == [("bob", 30, False), ("ada", 12, False)]
                everyone = await board.top(10, include_bots=True)
                assert [e["name"] for e in everyone] == ["Bot 1", "bob", "ada"]
                assert all(e["at"].endswith("Z") for e in everyone)
            second.record_nowait(ScoreEvent("p2", "ada", 40, False))
            await second.flush()
            assert (await first.top(1))[0] == {**(await second.top(1))[0], "name": "ada", "score": 40}
