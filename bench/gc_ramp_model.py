"""The garbage collector during a ramp, in one process and without sockets: what each policy
of asgi_mmo/gcpolicy.py costs in pauses.

    .venv/bin/python bench/gc_ramp_model.py [--players 1000] [--objects 150] [--seconds 30]

Players "arrive" evenly over `--seconds` of simulated time, each bringing `--objects`
tracked objects that live on (a connection's graph: dicts, lists, small objects in
cycles), while every simulated millisecond's work makes short-lived garbage as message
handling does. `gc.callbacks` times every collection. `before`: frozen at start-up
only; `after`: what lived `--freeze` simulated seconds is frozen every `--freeze`
seconds (ASGI_MMO_GC_FREEZE_SECONDS). The same process runs both, alternating, so the
machine's load weighs on both alike. This isolates the collector's share of a real ramp
(bench/ramp.py), which a loaded machine drowns in scheduling delays.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

pauses: list[tuple[int, float]] = []
_started: list[float] = []


def on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        pauses.append((info["generation"], time.perf_counter() - _started.pop()))


class Node:
    def __init__(self, peer: Node | None) -> None:
        self.peer = peer if peer is not None else self  # a cycle, as coroutines and scopes make
        self.data: dict[str, Any] = {"n": 1}


def player(objects: int) -> list[Any]:
    """About `objects` tracked objects that live as long as the player."""
    nodes: list[Any] = []
    previous = None
    for _ in range(objects // 2):  # a Node and its dict
        previous = Node(previous)
        nodes.append(previous)
    return nodes


def ramp(players: int, objects: int, seconds: float, freeze_every: float) -> dict[str, Any]:
    gc.collect()
    gc.freeze()
    pauses.clear()
    kept: list[list[Any]] = []
    steps = int(seconds * 100)  # 10 ms of simulated time a step
    next_freeze = freeze_every
    for step in range(steps):
        now = step / 100
        while len(kept) < players * (step + 1) / steps:
            kept.append(player(objects))
        for _ in range(200):  # a step's messages: garbage that dies young, some of it cyclic
            garbage = Node(None)
            garbage.data["x"] = [garbage]
        if freeze_every and now >= next_freeze:
            gc.freeze()
            next_freeze += freeze_every
    found = {gen: [ms * 1000 for g, ms in pauses if g == gen] for gen in (0, 1, 2)}
    tracked = len(gc.get_objects()) + gc.get_freeze_count()
    gc.unfreeze()
    del kept
    gc.collect()
    return {"tracked": tracked, **{f"gen{gen}": {"count": len(ms), "total_ms": round(sum(ms), 1),
                                                 "max_ms": round(max(ms, default=0.0), 1)}
                                   for gen, ms in found.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--objects", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--freeze", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    gc.callbacks.append(on_gc)
    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for number in range(args.runs):
        for policy, every in (("before", 0.0), ("after", args.freeze)):
            result = ramp(args.players, args.objects, args.seconds, every)
            results[policy].append(result)
            print(f"run {number + 1} {policy:<6} tracked {result['tracked']}  "
                  + "  ".join(f"{g} {v['count']}x {v['total_ms']} ms (max {v['max_ms']})"
                              for g, v in result.items() if g.startswith("gen")), flush=True)
    for policy, found in results.items():
        every = [sum(r[g]["total_ms"] for g in ("gen0", "gen1", "gen2")) for r in found]
        print(f"{policy:<6} medians: gen2 max {statistics.median(r['gen2']['max_ms'] for r in found):.1f} ms, "
              f"gen2 total {statistics.median(r['gen2']['total_ms'] for r in found):.1f} ms, "
              f"all pauses {statistics.median(every):.1f} ms")


if __name__ == "__main__":
    main()
