"""What every score store must do, run over all three (memory, SQLite, Redis) through one
parametrized fixture; then what only SQLite has: WAL, a locked or broken file, several
processes writing one file. The Redis store runs against a real redis-server, started once
for this module and emptied (FLUSHALL) before each test; CI fails where it is missing."""

from __future__ import annotations

import logging
import multiprocessing
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from asgi_mmo.games.base import ScoreEvent
from asgi_mmo.scores.leaderboard import Leaderboard, LeaderboardUnavailable
from asgi_mmo.scores.memory import MemoryStore
from asgi_mmo.scores.redis import RedisStore
from asgi_mmo.scores.sqlite import SqliteStore
from asgi_mmo.scores.store import Ranked, Row, ScoreStore
from tests.cluster import RedisProcess, run_redis
from tests.servers import free_port
from tests.test_leaderboard import FAST, names, score, table, wait_until_written

pytestmark = pytest.mark.anyio


@dataclass
class Place:
    """Where a kind of store keeps its scores."""

    kind: str
    #: a new store on this place: another process, another machine, or after a restart
    make: Callable[[], ScoreStore]
    #: a store whose every call fails (a missing folder, a Redis nobody listens for)
    make_broken: Callable[[], ScoreStore]
    opened: list[ScoreStore] = field(default_factory=list)

    def open(self) -> ScoreStore:
        store = self.make()
        self.opened.append(store)
        return store

    def broken(self) -> ScoreStore:
        store = self.make_broken()
        self.opened.append(store)
        return store


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    with run_redis(cwd=tmp_path_factory.mktemp("redis")) as server:
        yield server


def broken_memory() -> MemoryStore:
    store = MemoryStore()
    store.fail_next(1_000_000)
    return store


@pytest.fixture(params=["memory", "sqlite", "redis"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    if request.param == "memory":
        shared: dict[tuple[str, int], tuple[int, str]] = {}
        chosen = Place("memory", lambda: MemoryStore(shared), broken_memory)
    elif request.param == "sqlite":
        path, missing = tmp_path / "board.sqlite3", tmp_path / "missing" / "board.sqlite3"
        chosen = Place("sqlite", lambda: SqliteStore(path), lambda: SqliteStore(missing))
    else:
        server: RedisProcess = request.getfixturevalue("redis_server")
        client = server.client()
        try:
            client.flushall()
        finally:
            client.close()
        nobody = f"redis://127.0.0.1:{free_port()}/0"
        chosen = Place("redis", lambda: RedisStore(server.url), lambda: RedisStore(nobody))
    yield chosen
    for store in chosen.opened:
        store.close()


def at(second: int) -> str:
    """A fixed `at`, `second` seconds into a minute (they sort in time order)."""
    return f"2025-01-31T12:00:{second:02}.000Z"


def ready(place: Place, rows: list[Row] | None = None) -> ScoreStore:
    """A new store on `place`, its schema made and `rows` written."""
    store = place.open()
    store.create_schema()
    if rows:
        store.write(rows)
    return store


# -- the contract: every store -------------------------------------------------------------


def test_an_empty_store_reads_nothing(place: Place) -> None:
    store = ready(place)
    store.create_schema()  # again: harmless
    assert store.read_top(10, include_bots=True) == []


def test_a_write_before_create_schema_makes_the_schema(place: Place) -> None:
    store = place.open()
    store.write([("ada", 0, 5, at(1))])
    assert store.read_top(10, include_bots=False) == [("ada", 5, at(1), 0)]


def test_only_a_strictly_higher_score_replaces_the_best(place: Place) -> None:
    store = ready(place, [("ada", 0, 10, at(1))])
    store.write([("ada", 0, 7, at(2))])  # lower
    store.write([("ada", 0, 10, at(3))])  # equal: keeps the time it was first reached
    assert store.read_top(10, include_bots=False) == [("ada", 10, at(1), 0)]
    store.write([("ada", 0, 12, at(4))])
    assert store.read_top(10, include_bots=False) == [("ada", 12, at(4), 0)]


def test_ranked_by_score_then_time_then_name(place: Place) -> None:
    store = ready(place, [
        ("cat", 0, 5, at(3)), ("bob", 0, 5, at(2)), ("amy", 0, 5, at(2)), ("dan", 0, 9, at(5)), ("eve", 0, 1, at(1)),
    ])  # fmt: skip
    assert [row[0] for row in store.read_top(10, include_bots=False)] == ["dan", "amy", "bob", "cat", "eve"]
    assert [row[0] for row in store.read_top(2, include_bots=False)] == ["dan", "amy"]
    assert store.read_top(0, include_bots=False) == []


def test_bots_are_read_only_when_asked_and_apart_from_humans(place: Place) -> None:
    store = ready(place, [("ada", 0, 10, at(1)), ("ada", 1, 30, at(2)), ("Bot 1", 1, 20, at(3))])
    assert store.read_top(10, include_bots=False) == [("ada", 10, at(1), 0)]
    expected: list[Ranked] = [("ada", 30, at(2), 1), ("Bot 1", 20, at(3), 1), ("ada", 10, at(1), 0)]
    assert store.read_top(10, include_bots=True) == expected


def test_names_come_back_as_they_were_written(place: Place) -> None:
    written = ["Zoë 🐍", "a:b", "  spaced  ", "'; DROP TABLE best_scores; --", "名前"]
    store = ready(place, [(name, 0, 10 + n, at(n)) for n, name in enumerate(written)])
    assert [row[0] for row in store.read_top(10, include_bots=False)] == written[::-1]


def test_one_write_carries_a_large_batch(place: Place) -> None:
    store = ready(place, [(f"p{n:03}", n % 2, n + 1, at(n % 60)) for n in range(300)])
    best = store.read_top(100, include_bots=True)
    assert [row[1] for row in best] == list(range(300, 200, -1))
    assert best[0] == ("p299", 300, at(299 % 60), 1)
    assert len(store.read_top(200, include_bots=False)) == 150


def test_another_store_on_the_same_place_sees_the_same_scores(place: Place) -> None:
    first = ready(place, [("ada", 0, 10, at(1))])
    first.close()
    second = place.open()
    second.write([("ada", 0, 8, at(2)), ("bob", 0, 3, at(3))])  # lower: ada keeps her 10
    assert place.open().read_top(10, include_bots=False) == [("ada", 10, at(1), 0), ("bob", 3, at(3), 0)]


def test_a_failing_store_raises_only_what_it_declares(place: Place) -> None:
    store = place.broken()
    with pytest.raises(store.errors):
        store.create_schema()
    with pytest.raises(store.errors):
        store.write([("ada", 0, 5, at(1))])
    with pytest.raises(store.errors):
        store.read_top(10, include_bots=True)


# -- the leaderboard over every store ------------------------------------------------------


async def test_boards_on_one_place_share_one_leaderboard(place: Place) -> None:
    """Two boards on one place stand for two processes (SQLite) or two machines (Redis)."""
    async with Leaderboard(place.open()) as first, Leaderboard(place.open()) as second:
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


async def test_a_broken_store_makes_the_board_unavailable_not_broken(place: Place) -> None:
    store = place.broken()
    async with Leaderboard(store, close_timeout=0.1, **FAST) as board:
        board.record_nowait(score("alice", 10))  # does not raise
        with pytest.raises(LeaderboardUnavailable) as failure:
            await board.top()
        assert isinstance(failure.value.__cause__, store.errors)
        assert board.statistics().pending == 1


# -- SQLite only -------------------------------------------------------------------------------


async def test_wal_mode_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "board.sqlite3"
    async with Leaderboard(SqliteStore(path)):
        pass
    with closing(sqlite3.connect(path)) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        columns = [row[1] for row in conn.execute("PRAGMA table_info(best_scores)")]
    assert mode == "wal"
    assert columns == ["name", "bot", "score", "at"]


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

    async with Leaderboard(SqliteStore(path), flush_interval=60) as board:
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
    # A read or a loop blocked by the locked write would wait out the whole second.
    assert read_time < 0.5
    assert worst < 0.5, f"event loop was {worst * 1000:.0f} ms late"
    assert table(path) == {("alice", False): 42}


def scores_for(seed: int, count: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [(f"player{rng.randrange(25)}", rng.randrange(1, 1_000_000)) for _ in range(count)]


def write_from_another_process(path: str, seed: int, count: int, start: Any) -> None:
    """Runs in a spawned process: its own event loop, its own Leaderboard."""

    async def main() -> None:
        start.wait()  # all processes open the fresh file at once
        # The board's own flusher writes, as in a server: woken by every score (batch_size=1), and
        # trying again when the others held the lock for longer than the busy timeout (on a loaded
        # machine a writer that waits can lose every round to them for that long).
        async with Leaderboard(SqliteStore(path), flush_interval=60, batch_size=1, retry_initial=0.01,
                               retry_max=0.05) as board:
            for name, points in scores_for(seed, count):
                board.record_nowait(score(name, points))
                while board.statistics().pending:  # one transaction per score: most contention
                    await anyio.sleep(0.001)

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
    async with Leaderboard(SqliteStore(path), **FAST) as board:
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
    async with Leaderboard(SqliteStore(path), **FAST) as board:
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
