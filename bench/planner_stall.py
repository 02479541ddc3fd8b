"""(p) What handing plans to worker processes costs a busy event loop's ticks: pipes against an executor.

    taskset -c 0 .venv/bin/python bench/planner_stall.py [--runs 3] [--ticks 200] [--work-ms 25] [--jobs 3] [--batch 8] [--processes 1]

A 20 Hz loop does `--work-ms` of CPU work a tick (a world room's step and
fan-out, say) and hands out `--jobs` jobs of `--batch` snake plans each tick
(33 x 33 windows, as the bots ask), without waiting for them, in two ways, one
run of each in turn:

- `pipes`: `offload.PlannerPool`, the server's pool (the event loop writes each
  job to a worker's pipe and reads the answer);
- `executor`: `concurrent.futures.ProcessPoolExecutor` (spawn), which the pool
  used before: each job goes through a feeder thread and a manager thread of
  the executor in this process.

Printed per run: the ticks' lateness (how late each tick started against its
deadline) p50 / p99 / max, the time `submit` held the loop (executor only),
and this process's CPU time over the run. Pin it to one core (`taskset -c 0`),
as a server is: the workers then share the core, as they do in the bench's
server. Figures in docs/performance.md ("The world", "A slow day").
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio  # noqa: E402

from asgi_mmo.games.snake.pathfinding import PlanRequest  # noqa: E402
from asgi_mmo.offload import PlannerPool  # noqa: E402
from asgi_mmo.planworker import run_each  # noqa: E402

PLAN = "asgi_mmo.games.snake.pathfinding:run_plan"
PERIOD = 0.05


def window(rng: random.Random) -> PlanRequest:
    """A bot's plan request: a 33 x 33 window with some snake cells and food in it."""
    side = 33
    blocked = bytearray(side * side)
    for _ in range(100):
        blocked[rng.randrange(side * side)] = 1
    blocked[16 * side + 16] = 0
    food = tuple((rng.randrange(side), rng.randrange(side)) for _ in range(9))
    return PlanRequest(side, side, bytes(blocked), (16, 16), food, 4000)


def busy(ms: float) -> None:
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        pass


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(1)
    stalls: list[float] = []
    executor = pool = None
    if kind == "executor":
        executor = ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn"))
        # every worker started before the run, as the server's pool started them (a spawn is ~0.1 s)
        await asyncio.gather(*(asyncio.wrap_future(executor.submit(busy, 200)) for _ in range(args.processes)))
    else:
        pool = await PlannerPool(args.processes).__aenter__()
        # each worker has imported the planning module before the run, as the executor's have
        await asyncio.gather(*(pool.plan_each(PLAN, [window(rng)]) for _ in range(args.processes)))

    async def job(batch: list[PlanRequest]) -> None:
        if executor is not None:
            started = time.perf_counter()
            future = executor.submit(run_each, PLAN, batch)
            stalls.append(time.perf_counter() - started)
            await asyncio.wrap_future(future)
        else:
            assert pool is not None
            await pool.plan_each(PLAN, batch)

    lateness: list[float] = []
    try:
        async with anyio.create_task_group() as jobs:
            cpu = time.process_time()
            deadline = time.monotonic() + PERIOD
            for _ in range(args.ticks):
                await asyncio.sleep(max(0.0, deadline - time.monotonic()))
                lateness.append(time.monotonic() - deadline)
                busy(args.work_ms)
                for _ in range(args.jobs):
                    jobs.start_soon(job, [window(rng) for _ in range(args.batch)])
                deadline += PERIOD
            cpu = time.process_time() - cpu
    finally:
        if executor is not None:
            executor.shutdown()
        if pool is not None:
            await pool.__aexit__(None, None, None)
    found = {
        "lateness_p50_ms": round(statistics.median(lateness) * 1e3, 2),
        "lateness_p99_ms": round(percentile(lateness, 0.99) * 1e3, 2),
        "lateness_max_ms": round(max(lateness) * 1e3, 2),
        "cpu_s": round(cpu, 2),
    }
    if stalls:
        found["submit_p50_ms"] = round(statistics.median(stalls) * 1e3, 3)
        found["submit_p99_ms"] = round(percentile(stalls, 0.99) * 1e3, 3)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--work-ms", type=float, default=25.0)
    parser.add_argument("--jobs", type=int, default=3, help="jobs handed out each tick")
    parser.add_argument("--batch", type=int, default=8, help="plans in one job")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (the server's default: 1)")
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {"pipes": [], "executor": []}
    for number in range(1, args.runs + 1):
        for kind in results:
            found = asyncio.run(run(kind, args))
            results[kind].append(found)
            print(f"run {number} {kind:<8} {found}", flush=True)
    for kind, runs in results.items():
        medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"median {kind:<8} {medians}")


if __name__ == "__main__":  # the executor's spawned workers import this module again
    main()
