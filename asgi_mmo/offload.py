"""A pool of worker processes for bot planning, owned by the app's lifespan.

One `PlannerPool` per server process::

    async with PlannerPool(processes=2) as pool:
        path = await pool.plan("asgi_mmo.games.snake.pathfinding:run_plan", PlanRequest(...))

A plan is any game's planning function, named by the game (`Game.plan_function`,
`"module:function"`) and called in a worker with one picklable request; the
pool knows no game.

Why processes: a plan is pure CPU work in Python; threads would hold the
GIL and slow every room's tick. Each worker is a fresh interpreter
(`python -m asgi_mmo.planworker`) that imports only the planning function's
module, fed through its standard input and output, which the event loop
writes and reads like any socket. Why not `concurrent.futures`'
`ProcessPoolExecutor` (used before): it moves every job through two threads
of its own in the server's process, a feeder that pickles and writes it and
a manager woken by its answer; its `submit` held the event loop up to 2.3 ms
(p99) while they took the GIL, and the threads cost the process 0.19 s of
CPU more over 600 jobs (bench/planner_stall.py, docs/leaderboard-and-bots.md).
Why not `anyio.to_process`: its workers belong to the event loop, not to this
pool, so they could not be stopped and reaped when the pool closes.

Guarantees:
- at most `max_in_flight` jobs are out at once; further callers wait their
  turn (`anyio.CapacityLimiter`), so no room can pile up work. A worker is
  sent its next job while it runs one (at most `max_in_flight / processes`
  apiece, answered in order), so it never idles between two;
- a worker that dies makes the jobs it held answer `[]` (an empty plan: a
  game's driver must take one as "no plan") (logged), and a new worker takes
  its place; one found dead before it is sent a job costs no plan;
- a bad request raises the planning function's exception to its caller;
- on exit every worker process is stopped and reaped: no child process
  outlives the pool.

`processes=0` plans inline on the calling thread (the event loop), for
comparison benchmarks and tiny deployments.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from asgi_mmo.planworker import HEADER, frame, run_each, run_named

__all__ = ["PlannerPool", "PlannerStatistics", "run_named"]

logger = logging.getLogger("asgi_mmo.offload")

#: seconds a new worker may take to start (a fresh interpreter and its imports)
START_SECONDS = 20.0
#: seconds a closing worker may take to finish its job and exit before it is killed
STOP_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class PlannerStatistics:
    processes: int
    max_in_flight: int
    #: Jobs handed to the workers (or waiting for one) and not yet answered.
    in_flight: int
    #: The most jobs ever out at once (never above max_in_flight).
    peak_in_flight: int
    #: Callers waiting for a free slot.
    waiting: int
    #: Workers started in place of one that died.
    replacements: int
    #: Jobs answered `[]` because their worker died.
    failed: int
    #: Plans answered, inline or by a worker.
    planned: int = 0


class WorkerDied(Exception):
    """The worker process ended while it held a job (or would not start)."""


class _Worker:
    """One worker process; its answers come back in the order its jobs went out."""

    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self._jobs = process.stdin
        self._answers = BufferedByteReceiveStream(process.stdout)
        self.load = 0  # jobs sent and not yet answered
        self.dead = False
        self._sent = 0  # jobs sent; the number of the next one
        self._read = 0  # answers read; the number of the next one
        self._turn = anyio.Condition()

    @property
    def alive(self) -> bool:
        return not self.dead and self.process.returncode is None

    async def read_frame(self) -> Any:
        try:
            header = await self._answers.receive_exactly(HEADER.size)
            data = await self._answers.receive_exactly(HEADER.unpack(header)[0])
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise WorkerDied from exc
        try:
            return pickle.loads(data)
        except Exception as exc:  # an answer that cannot be read: the stream can't be trusted after it
            raise WorkerDied(f"a planner worker's answer could not be read: {exc!r}") from exc

    async def run(self, job: bytes) -> Any:
        """Send a job and wait for its answer, however the caller is cancelled meanwhile
        (shielded: a job handed to the pipe is answered, and its answer must be read off the
        pipe before the next one's)."""
        with anyio.CancelScope(shield=True):
            self.load += 1
            try:
                number = self._sent
                self._sent += 1
                try:
                    await self._jobs.send(job)  # (the pipe's buffer holds the few jobs a worker has out)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, RuntimeError) as exc:
                    # (uvloop raises RuntimeError writing to a pipe it found closed)
                    async with self._turn:  # the jobs sent before this one answer [] too
                        self.dead = True
                        self._turn.notify_all()
                    raise WorkerDied from exc
                async with self._turn:
                    while self._read != number and not self.dead:
                        await self._turn.wait()
                    try:
                        if self.dead:
                            raise WorkerDied
                        try:
                            return await self.read_frame()
                        except WorkerDied:
                            self.dead = True
                            raise
                    finally:
                        self._read += 1
                        self._turn.notify_all()
            finally:
                self.load -= 1

    async def stop(self) -> None:
        """Close its input (it ends after its job), reap it; killed if it takes too long."""
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(OSError):  # a dead worker's pipe
                await self._jobs.aclose()
            with anyio.move_on_after(STOP_SECONDS):
                await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
            await self.process.aclose()


async def _start_worker() -> _Worker:
    """A worker that has answered it is ready (its interpreter started, nothing imported
    yet but the worker loop); it finds the server's modules on the server's sys.path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    process = await anyio.open_process(
        [sys.executable, "-m", "asgi_mmo.planworker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    worker = _Worker(process)
    try:
        with anyio.fail_after(START_SECONDS):
            await worker.read_frame()
    except BaseException as exc:
        await worker.stop()
        if isinstance(exc, WorkerDied | TimeoutError):
            raise WorkerDied(f"a planner worker process did not start (exit code {process.returncode})") from exc
        raise
    return worker


class PlannerPool:
    """Bot planning in `processes` worker processes (or inline with 0)."""

    def __init__(self, processes: int = 1, *, max_in_flight: int | None = None) -> None:
        if processes < 0:
            raise ValueError(f"processes must be >= 0, got {processes}")
        # Default: two jobs per worker, one running and one queued behind it,
        # so a worker never idles between two jobs and the queue stays short.
        if max_in_flight is None:
            max_in_flight = max(1, 2 * processes)
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.processes = processes
        self.max_in_flight = max_in_flight
        self._workers: list[_Worker] = []
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
        try:
            for _ in range(self.processes):  # a worker that cannot start raises here, to the lifespan
                self._workers.append(await _start_worker())
        except BaseException:
            await self._stop_workers()
            raise
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        # Shielded: the workers must be reaped even when the lifespan is being cancelled,
        # or they would outlive the server. The lock waits for a replacement in progress.
        with anyio.CancelScope(shield=True):
            assert self._replace_lock is not None
            async with self._replace_lock:
                await self._stop_workers()

    async def _stop_workers(self) -> None:
        workers, self._workers = self._workers, []
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as stopping:
                for worker in workers:
                    stopping.start_soon(worker.stop)

    def worker_pids(self) -> set[int]:
        """The live worker processes' ids, as this event loop knows them (none inline)."""
        return {worker.process.pid for worker in self._workers if worker.alive}

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

        Waits for a free slot when `max_in_flight` jobs are already out.
        A bad request (e.g. `blocked` of the wrong size) raises the worker's
        `ValueError` here, as inline planning would.
        """
        [plan] = await self.plan_each(function, [request])
        return plan

    async def plan_each(self, function: str, requests: list[Any]) -> list[Any]:
        """`plan` for several requests at once, as one job of one worker: a room's bots hand
        in a tick's requests together, since each job costs the event loop its pickling and
        wake-ups whatever it holds (docs/performance.md, "The world").
        Every plan `[]` if the worker died; a bad request raises, as `plan` does."""
        if not self._open or self._limiter is None:
            raise RuntimeError("PlannerPool is not open: use 'async with PlannerPool()'")
        async with self._limiter:
            if not self.processes:
                # Inline: blocks the event loop for the plans' duration, which
                # `max_nodes` bounds. The checkpoint lets other tasks run first.
                await anyio.lowlevel.checkpoint()
                plans = run_each(function, requests)
                self._planned += len(plans)
                return plans
            job = frame((function, requests))
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            try:
                worker = await self._worker()
                if worker is None:
                    return [[] for _ in requests]
                try:
                    ok, answer = await worker.run(job)
                except WorkerDied:
                    self._failed += 1
                    logger.error("a planner worker process died; its plans answer [] and a new one starts")
                    await self._replace(worker)
                    return [[] for _ in requests]
            finally:
                self._in_flight -= 1
        if not ok:
            raise answer
        self._planned += len(answer)
        return list(answer)

    async def _worker(self) -> _Worker | None:
        """The live worker with the fewest jobs; a dead one found here is replaced first
        (None: no worker could be started, this job goes unplanned)."""
        while True:
            workers = self._workers
            if len(workers) == self.processes and all(worker.alive for worker in workers):
                return min(workers, key=lambda worker: worker.load)
            if not await self._replace(next((worker for worker in workers if not worker.alive), None)):
                live = [worker for worker in self._workers if worker.alive]
                return min(live, key=lambda worker: worker.load) if live else None

    async def _replace(self, dead: _Worker | None) -> bool:
        """New workers in place of a dead one (once, whoever finds it dead) and of any that
        could not start before; False if one does not start now either."""
        assert self._replace_lock is not None
        async with self._replace_lock:
            if dead is not None and dead in self._workers:
                self._workers.remove(dead)
                await dead.stop()
            while self._open and len(self._workers) < self.processes:
                try:
                    self._workers.append(await _start_worker())
                except WorkerDied:
                    # The pool plans on with the others, if any; the next job tries again.
                    logger.exception("could not start a planner worker process in place of one that died")
                    return False
                self._replacements += 1
                logger.warning("planner worker replaced (%d worker processes)", self.processes)
            return self._open
