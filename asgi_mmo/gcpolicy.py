"""When the cyclic garbage collector may pause the event loop, and for how long.

A full collection traverses every object the collector tracks: at 1,000 players
some 150,000, which stalls every room for 25-130 ms. CPython runs one whenever
the objects that survived into the oldest generation grew by a quarter since
the last, so while players keep arriving (a ramp) a full pass comes every few
seconds, each longer than the one before.

So the objects that have lived a while are moved out of the collector's reach:
`gc.freeze()` once start-up is done (modules, the app, the pools), and again
every `freeze_seconds` while the process runs. A freeze costs nothing (it
splices lists); afterwards a full pass traverses only what was made since the
last freeze, a few milliseconds' worth. Objects frozen are still freed when
nothing refers to them (reference counting is untouched); only cyclic garbage
among them waits, until the sweep: every `sweep_seconds`, `gc.unfreeze()` and
one full `gc.collect()`, the one long pause of the period (measured in
docs/performance.md, "Garbage collection during a ramp").

The youngest generation's pass runs after `young_objects` tracked objects
were made (net), not Python's 700: a tick of a big room makes and frees
thousands of tuples and lists, and each young pass also walks every large
container made since the last (the tick's lists of moves and frames), so
at 700 a 1,000-player world paid four young passes a tick, 10 % of its
step; at 10,000 the objects that die young are freed by reference counting
before a pass comes, and those that live are frozen within the second. The
price: a server that makes fewer than that many lasting objects a second runs
no young pass at all, so cyclic garbage (a closed connection's tasks, say) is
frozen with the rest and waits for the sweep, up to `sweep_seconds`.
"""

from __future__ import annotations

import gc
import logging
import time

import anyio

logger = logging.getLogger("asgi_mmo.gcpolicy")


def freeze_start_up() -> None:
    """Everything made so far lives as long as the process: out of the collector's reach."""
    gc.collect()
    gc.freeze()


class GcPolicy:
    def __init__(self, freeze_seconds: float, sweep_seconds: float, young_objects: int = 0) -> None:
        """`freeze_seconds`: how often what lived that long is frozen (0: only at start-up);
        `sweep_seconds`: how often the frozen objects are collected after all (0: never);
        `young_objects`: the youngest generation's threshold while this runs (0: leave it)."""
        self.freeze_seconds = freeze_seconds
        self.sweep_seconds = sweep_seconds
        self.young_objects = young_objects
        self.freezes = 0
        self.sweeps = 0

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Freeze and sweep on schedule until cancelled (a task of the app's lifespan)."""
        thresholds = gc.get_threshold()
        if self.young_objects:
            gc.set_threshold(self.young_objects, *thresholds[1:])
        task_status.started()
        try:
            if not self.freeze_seconds:
                await anyio.sleep_forever()
            next_sweep = anyio.current_time() + (self.sweep_seconds or float("inf"))
            while True:
                await anyio.sleep(self.freeze_seconds)
                if anyio.current_time() >= next_sweep:
                    self.sweep()
                    next_sweep = anyio.current_time() + self.sweep_seconds
                gc.freeze()
                self.freezes += 1
        finally:
            gc.set_threshold(*thresholds)  # (an app served again in this process starts as it found it)

    def sweep(self) -> None:
        """Collect the cyclic garbage among the frozen objects: one full pass, timed in the log."""
        frozen = gc.get_freeze_count()
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        self.sweeps += 1
        logger.info("gc sweep frozen=%d collected=%d ms=%.1f", frozen, collected,
                    (time.perf_counter() - started) * 1000)
