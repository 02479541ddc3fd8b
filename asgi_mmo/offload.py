"""A pool of worker processes for bot planning, owned by the app's lifespan.

One `PlannerPool` per server process::

    async with PlannerPool(processes=2) as pool:
        path = await pool.plan("asgi_mmo.games.snake.pathfinding:run_plan", PlanRequest(...))

A plan is any game's planning function, named by the game (`Game.plan_function`,
`"module:function"`) and called in a worker with one picklable request; the
pool knows no game.

Why processes: a plan is pure CPU work in Python; threads would hold the
GIL and slow every room's tick. Why "spawn": forking a process that runs an
event loop and threads copies locks in whatever state other threads left
them; spawn starts a clean interpreter that imports only the planning
function's module (snake's `pathfinding` imports the standard library only). Forkserver is not used
because its server process would outlive the pool as our child.

Guarantees:
- at most `max_in_flight` plans are in the workers at once; further callers
  wait their turn (`anyio.CapacityLimiter`), so no room can pile up work;
- a dead worker (BrokenProcessPool) makes the requests it broke answer `[]`
  (an empty plan: a game's driver must take one as "no plan")
  (logged); the executor is replaced in a worker thread, and later requests
  use the new one;
- on exit the executor is shut down, pending plans cancelled and every
  worker process joined: no child process outlives the pool (the
  interpreter-wide `multiprocessing` resource tracker is not ours and stays).

`processes=0` plans inline on the calling thread (the event loop), for
comparison benchmarks and tiny deployments.

The pool awaits `concurrent.futures` futures with `asyncio.wrap_future`, so it
needs anyio's asyncio backend (the one the app runs on).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

__all__ = ["PlannerPool", "PlannerStatistics", "run_named"]

logger = logging.getLogger("asgi_mmo.offload")


@cache
def _function(name: str) -> Callable[[Any], Any]:
    module_name, _, attribute = name.partition(":")
    function: Callable[[Any], Any] = getattr(importlib.import_module(module_name), attribute)
    return function


def run_named(function: str, request: Any) -> Any:
    """Call the planning function named `"module:function"` (in a worker, or inline)."""
    return _function(function)(request)


def run_each(function: str, requests: list[Any]) -> list[Any]:
    """`run_named` for each request, in one worker job (one submit, one pickle each way)."""
    planning = _function(function)
    return [planning(request) for request in requests]


@dataclass(frozen=True, slots=True)
class PlannerStatistics:
    processes: int
    max_in_flight: int
    #: Plans handed to the workers and not yet finished.
    in_flight: int
    #: The most plans ever in the workers at once (never above max_in_flight).
    peak_in_flight: int
    #: Callers waiting for a free slot.
    waiting: int
    #: Executors replaced after a worker died.
    replacements: int
    #: Plans answered `[]` because a worker died.
    failed: int
    #: Plans answered, inline or by a worker.
    planned: int = 0


def _start_executor(processes: int) -> ProcessPoolExecutor:
    """A started executor, every worker up. Blocking: run it in a thread.

    Non-fork executors spawn workers on demand, one per `submit` that finds
    no idle worker; submitting `processes` tiny jobs at once starts them all
    here, so the event loop never pays for a spawn in `plan`.
    """
    executor = ProcessPoolExecutor(
        max_workers=processes, mp_context=multiprocessing.get_context("spawn")
    )
    try:
        for future in [executor.submit(os.getpid) for _ in range(processes)]:
            future.result()
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    return executor


def _stop_executor(executor: ProcessPoolExecutor) -> None:
    """Cancel what has not started, wait for every worker to exit."""
    executor.shutdown(wait=True, cancel_futures=True)


class PlannerPool:
    """Bot planning in `processes` spawned workers (or inline with 0)."""

    def __init__(self, processes: int = 1, *, max_in_flight: int | None = None) -> None:
        if processes < 0:
            raise ValueError(f"processes must be >= 0, got {processes}")
        # Default: two plans per worker, one running and one queued behind it,
        # so a worker never idles between two plans and the queue stays short.
        if max_in_flight is None:
            max_in_flight = max(1, 2 * processes)
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.processes = processes
        self.max_in_flight = max_in_flight
        self._executor: ProcessPoolExecutor | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._replace_lock: anyio.Lock | None = None
        self._open = False
        self._in_flight = 0
        self._peak_in_flight = 0
        self._replacements = 0
        self._failed = 0
        self._planned = 0

    async def __aenter__(self) -> PlannerPool:
        if self._open:
            raise RuntimeError("PlannerPool is already open")
        self._limiter = anyio.CapacityLimiter(self.max_in_flight)
        self._replace_lock = anyio.Lock()
        if self.processes:
            # A worker that cannot start raises here, to the lifespan.
            self._executor = await anyio.to_thread.run_sync(_start_executor, self.processes)
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        # Shielded: the workers must be joined even when the lifespan is
        # being cancelled, or they would outlive the server. The lock waits
        # for a replacement in progress, whose executor must be stopped too.
        with anyio.CancelScope(shield=True):
            assert self._replace_lock is not None
            async with self._replace_lock:
                executor, self._executor = self._executor, None
                if executor is not None:
                    await anyio.to_thread.run_sync(_stop_executor, executor)

    def statistics(self) -> PlannerStatistics:
        waiting = self._limiter.statistics().tasks_waiting if self._limiter else 0
        return PlannerStatistics(
            processes=self.processes,
            max_in_flight=self.max_in_flight,
            in_flight=self._in_flight,
            peak_in_flight=self._peak_in_flight,
            waiting=waiting,
            replacements=self._replacements,
            failed=self._failed,
            planned=self._planned,
        )

    async def plan(self, function: str, request: Any) -> Any:
        """What the planning function `function` (`"module:function"`) answers `request`;
        `[]` if a worker died.

        Waits for a free slot when `max_in_flight` plans are already out.
        A bad request (e.g. `blocked` of the wrong size) raises the worker's
        `ValueError` here, as inline planning would.
        """
        [plan] = await self.plan_each(function, [request])
        return plan

    async def plan_each(self, function: str, requests: list[Any]) -> list[Any]:
        """`plan` for several requests at once, as one job of one worker: a room's bots hand
        in a tick's requests together, since each job costs the event loop ~0.12 ms of
        queueing, pickling and wake-ups whatever it holds (docs/performance.md, "The world").
        Every plan `[]` if the worker died; a bad request raises, as `plan` does."""
        if not self._open or self._limiter is None:
            raise RuntimeError("PlannerPool is not open: use 'async with PlannerPool()'")
        async with self._limiter:
            if self._executor is None:
                # Inline: blocks the event loop for the plans' duration, which
                # `max_nodes` bounds. The checkpoint lets other tasks run first.
                await anyio.lowlevel.checkpoint()
                plans = run_each(function, requests)
                self._planned += len(plans)
                return plans
            executor = self._executor
            self._enter()
            try:
                try:
                    future = executor.submit(run_each, function, requests)
                    plans = await self._result(future)
                except BrokenProcessPool:
                    await self._worker_died(executor)
                    return [[] for _ in requests]
                self._planned += len(plans)
                return list(plans)
            finally:
                self._in_flight -= 1

    def _enter(self) -> None:
        self._in_flight += 1
        self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    @staticmethod
    async def _result(future: Future[Any]) -> Any:
        try:
            return await asyncio.wrap_future(future)
        finally:
            if not future.done() and not future.cancel():
                # We were cancelled while a worker runs this plan: keep the
                # slot until it ends, so the cap counts the work really in the
                # workers. A plan is bounded by max_nodes, so this is short.
                with anyio.CancelScope(shield=True):
                    await asyncio.wait([asyncio.wrap_future(future)])

    async def _worker_died(self, broken: ProcessPoolExecutor) -> Any:
        self._failed += 1
        logger.error("a planner worker process died; this plan answers [] and the pool is replaced")
        assert self._replace_lock is not None
        async with self._replace_lock:
            # Several requests may fail on one broken executor: replace it once.
            if self._executor is not broken or not self._open:
                return []
            try:
                replacement = await anyio.to_thread.run_sync(_start_executor, self.processes)
            except Exception:
                # Keep the broken executor: the next request tries again.
                logger.exception("could not start replacement planner workers")
                return []
            self._executor = replacement
            self._replacements += 1
            # The broken executor has already terminated its workers;
            # shutting it down joins them so none is left behind.
            await anyio.to_thread.run_sync(_stop_executor, broken)
        logger.warning("planner pool replaced (%d worker processes)", self.processes)
        return []
