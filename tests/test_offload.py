"""The planner pool with real worker processes (kept to 1-2 for speed)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from multiprocessing import resource_tracker

import anyio
import pytest

from asgi_mmo.games.snake.pathfinding import PlanRequest, run_plan
from asgi_mmo.offload import PlannerPool

SNAKE_PLAN = "asgi_mmo.games.snake.pathfinding:run_plan"

pytestmark = pytest.mark.anyio


def small_request() -> PlanRequest:
    width, height = 6, 4
    blocked = bytearray(width * height)
    blocked[1 * width + 3] = 1  # a stone between head and food
    return PlanRequest(width, height, bytes(blocked), (1, 1), ((5, 1),))


def slow_request() -> PlanRequest:
    """An open field searched corner to corner: tens of milliseconds of work."""
    width = height = 300
    return PlanRequest(width, height, bytes(width * height), (0, 0), ((299, 299),), max_nodes=width * height)


def child_pids() -> set[int]:
    """Live processes whose parent is this one, from /proc (no psutil)."""
    me = os.getpid()
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("PPid:"):
                        if int(line.split()[1]) == me:
                            children.add(int(entry))
                        break
        except OSError:  # the process ended while we looked
            continue
    return children


def not_ours() -> set[int]:
    """multiprocessing's resource tracker: one per interpreter, started by the
    first spawn-context lock and kept until exit. No pool owns it."""
    # `_pid` is private, so typeshed leaves it out; it is None until the tracker starts.
    pid: int | None = getattr(resource_tracker._resource_tracker, "_pid", None)
    return {pid} if pid is not None else set()


def many_slow_requests() -> list[PlanRequest]:
    """A job that runs for a second or more: long enough to be killed in the middle."""
    return [slow_request() for _ in range(20)]


async def seen_dead(pool: PlannerPool, pid: int) -> None:
    """Wait until the pool's event loop knows the worker has died (its exit code came)."""
    with anyio.fail_after(10):
        while pid in pool.worker_pids():
            await anyio.sleep(0.01)


async def test_plan_comes_back_from_a_worker_process() -> None:
    before = child_pids()
    async with PlannerPool(processes=1) as pool:
        workers = pool.worker_pids()
        assert len(workers) == 1
        assert os.getpid() not in workers
        assert workers <= child_pids() - before
        request = small_request()
        path = await pool.plan(SNAKE_PLAN, request)
        assert path == run_plan(request)
        assert path[0] in ("up", "down") and len(path) == 6
        # A request the planner refuses raises here, as inline planning would.
        bad = PlanRequest(6, 4, bytes(3), (0, 0), ((5, 1),))
        with pytest.raises(ValueError):
            await pool.plan(SNAKE_PLAN, bad)
        # ...and the pool is not harmed by it.
        assert await pool.plan(SNAKE_PLAN, request) == path
        assert pool.statistics().replacements == 0
        assert pool.worker_pids() == workers


async def test_a_worker_found_dead_is_replaced_before_it_costs_a_plan(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="asgi_mmo.offload")
    async with PlannerPool(processes=2) as pool:
        request = small_request()
        expected = run_plan(request)
        assert await pool.plan(SNAKE_PLAN, request) == expected
        victim = min(pool.worker_pids())
        os.kill(victim, signal.SIGKILL)
        await seen_dead(pool, victim)
        for _ in range(4):  # whichever worker each goes to, none is lost
            assert await pool.plan(SNAKE_PLAN, request) == expected
        stats = pool.statistics()
        assert stats.failed == 0 and stats.replacements == 1
        assert victim not in pool.worker_pids() and len(pool.worker_pids()) == 2
        assert any("replaced" in record.getMessage() for record in caplog.records)


async def test_jobs_whose_worker_dies_answer_every_request_empty(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="asgi_mmo.offload")
    async with PlannerPool(processes=1, max_in_flight=2) as pool:
        [victim] = pool.worker_pids()
        answers: list[list[list[str]]] = []

        async def job() -> None:
            answers.append(await pool.plan_each(SNAKE_PLAN, many_slow_requests()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(job)
            tg.start_soon(job)  # queued behind the first, in the same worker
            with anyio.fail_after(5):
                while pool.statistics().in_flight < 2:
                    await anyio.sleep(0.01)
            await anyio.sleep(0.2)
            os.kill(victim, signal.SIGKILL)
        assert answers == [[[]] * 20, [[]] * 20]
        stats = pool.statistics()
        assert stats.failed == 2 and stats.replacements == 1
        assert victim not in child_pids()  # reaped, not a zombie
        assert victim not in pool.worker_pids()
        assert await pool.plan(SNAKE_PLAN, small_request()) == run_plan(small_request())
        assert any("died" in record.getMessage() for record in caplog.records)


async def test_jobs_queued_in_one_worker_answer_each_its_own_caller() -> None:
    """A worker is sent its next job while it runs one; the answers come back in order."""
    async with PlannerPool(processes=1, max_in_flight=3) as pool:
        requests = [PlanRequest(40, 40, bytes(1600), (0, 0), ((n, 39),), max_nodes=1600) for n in range(12)]
        answers: dict[int, list[str]] = {}

        async def one(n: int) -> None:
            answers[n] = await pool.plan(SNAKE_PLAN, requests[n])

        async with anyio.create_task_group() as tg:
            for n in range(12):
                tg.start_soon(one, n)
        assert pool.statistics().peak_in_flight == 3
        assert answers == {n: run_plan(requests[n]) for n in range(12)}
        assert len({len(path) for path in answers.values()}) == 12  # all different: none swapped


async def test_a_worker_survives_ctrl_c_and_prints_outside_its_answers() -> None:
    async with PlannerPool(processes=1) as pool:
        [worker] = pool.worker_pids()
        os.kill(worker, signal.SIGINT)  # a Ctrl-C reaches the server's whole process group
        # `print` as a planning function: what it writes goes to standard error, not into a frame
        assert await pool.plan_each("builtins:print", ["a plan that prints"]) == [None]
        assert await pool.plan(SNAKE_PLAN, small_request()) == run_plan(small_request())
        assert pool.worker_pids() == {worker} and pool.statistics().replacements == 0


async def test_no_child_process_remains_after_exit() -> None:
    before = child_pids()
    async with PlannerPool(processes=2) as pool:
        workers = pool.worker_pids()
        assert len(workers) == 2
        assert await pool.plan(SNAKE_PLAN, small_request())
        # Leave with plans still running: they are cancelled, workers joined.
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(pool.plan, SNAKE_PLAN, slow_request())
            await anyio.sleep(0.05)
            assert pool.statistics().in_flight > 0
            tg.cancel_scope.cancel()
        assert pool.statistics().in_flight == 0
    assert multiprocessing.active_children() == []
    left = child_pids() - before - not_ours()
    assert left == set()
    assert not workers & child_pids()


async def test_in_flight_cap_is_respected() -> None:
    async with PlannerPool(processes=1, max_in_flight=2) as pool:
        waiting_seen = 0
        results: list[list[str]] = []

        async def one() -> None:
            results.append(await pool.plan(SNAKE_PLAN, slow_request()))

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(one)
            while len(results) < 6:
                stats = pool.statistics()
                assert stats.in_flight <= 2
                waiting_seen = max(waiting_seen, stats.waiting)
                await anyio.sleep(0.005)

        stats = pool.statistics()
        assert stats.peak_in_flight == 2
        assert waiting_seen >= 1  # callers beyond the cap waited for a slot
        assert stats.in_flight == 0 and stats.waiting == 0
        assert all(len(path) == 299 + 299 for path in results)


async def test_inline_planning_starts_no_process() -> None:
    before = child_pids()
    async with PlannerPool(processes=0) as pool:
        request = small_request()
        assert await pool.plan(SNAKE_PLAN, request) == run_plan(request)
        assert child_pids() - before - not_ours() == set()
        assert pool.statistics().processes == 0


async def test_plan_outside_the_pool_is_refused() -> None:
    pool = PlannerPool(processes=0)
    with pytest.raises(RuntimeError, match="not open"):
        await pool.plan(SNAKE_PLAN, small_request())
    with pytest.raises(ValueError):
        PlannerPool(processes=-1)
    with pytest.raises(ValueError):
        PlannerPool(processes=1, max_in_flight=0)


async def test_a_batch_of_plans_is_one_worker_job_and_answers_each_request() -> None:
    requests = [small_request(), slow_request(), small_request()]
    expected = [run_plan(request) for request in requests]
    async with PlannerPool(processes=1) as pool:
        assert await pool.plan_each(SNAKE_PLAN, requests) == expected
        assert pool.statistics().planned == 3  # counted by plan, not by job
        assert pool.statistics().peak_in_flight == 1  # one job for the three
        assert await pool.plan_each(SNAKE_PLAN, []) == []
    async with PlannerPool(processes=0) as inline:
        assert await inline.plan_each(SNAKE_PLAN, requests) == expected


class OddError(Exception):
    """Pickles, but cannot be unpickled (its argument is keyword-only)."""

    def __init__(self, *, why: str) -> None:
        super().__init__(why)


def odd_plan(request: object) -> list[str]:
    raise OddError(why="an exception of the planner's own")


async def test_an_answer_that_cannot_be_read_costs_its_job_and_the_worker_only() -> None:
    async with PlannerPool(processes=1) as pool:
        [worker] = pool.worker_pids()
        assert await pool.plan_each("tests.test_offload:odd_plan", [small_request()]) == [[]]
        stats = pool.statistics()
        assert stats.failed == 1 and stats.replacements == 1
        assert worker not in pool.worker_pids() and len(pool.worker_pids()) == 1
        assert await pool.plan(SNAKE_PLAN, small_request()) == run_plan(small_request())
