"""Ramp: players arrive until there are 1,000; tick lateness and garbage collection pauses
during the ramp, for two garbage collector policies in alternating runs.

    .venv/bin/python bench/ramp.py [--players 1000] [--rooms 20] [--ramp-up 30] [--runs 3]

Each run starts a fresh `asgi-mmo` server (uvicorn with the options of `asgi-mmo
serve`, pinned to core 0, through bench/gcprobe.py, which times every collection
with `gc.callbacks`), makes `--rooms` rooms at 20 Hz and connects the players
evenly over `--ramp-up` seconds, then keeps them `--duration` seconds more. The
load generator (core 1) measures tick lateness from the ramp's start on, not
only after it. Printed per run: client-side lateness p50/p99/max over the ramp
and the window after, the worst and the median room's server-side lateness p99
(ROOM_STATS, its last 600 ticks: the ramp, at 20 Hz and 30 s), overruns, and the
collections of each generation during the ramp (count, total, max ms). The two
policies are `before` (ASGI_MMO_GC_FREEZE_SECONDS=0: frozen at start-up only, as before)
and `after` (the default: what lived a second is frozen every second; asgi_mmo/gcpolicy.py).
Appends one line to bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, append_result, busy_between, core_times, median, pin_self, room_stats, server

from asgi_mmo.loadtest.runner import LoadConfig, LoadTest

POLICIES = {"before": {"ASGI_MMO_GC_FREEZE_SECONDS": "0"}, "after": {}}


class RampMeasured(LoadTest):
    """A load test whose lateness and acks are recorded from the ramp's first player on."""

    async def _ramp(self, rooms: list[str | None]) -> None:
        self.stats.window = True
        await super()._ramp(rooms)


def pauses(path: Path, start: float, end: float) -> dict[str, dict[str, float]]:
    """Collections of each generation that began between `start` and `end`: count, total and max ms."""
    found: dict[str, list[float]] = {"0": [], "1": [], "2": []}
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if start <= record["at"] <= end:
                found[str(record["gen"])].append(record["ms"])
    return {gen: {"count": len(ms), "total_ms": round(sum(ms), 1), "max_ms": round(max(ms, default=0.0), 1)}
            for gen, ms in found.items()}


def one_run(policy: str, args: argparse.Namespace) -> dict[str, Any]:
    probe = Path(tempfile.mkdtemp(prefix="asgi-mmo-ramp-")) / "gc.jsonl"
    wrapper = [str(ROOT / "bench" / "gcprobe.py"), str(probe), "--"]
    with server("asgi-mmo", env_extra=POLICIES[policy], wrapper=wrapper) as (url, pid):
        time.sleep(0.5)
        marks: dict[str, Any] = {}

        def on_window(phase: str) -> None:
            marks[phase] = {"wall": time.monotonic(), "cores": core_times(), "load": os.getloadavg()}
            if phase == "start":
                marks["rooms"] = room_stats(url)

        config = LoadConfig(url=url, players=args.players, rooms=args.rooms, ramp_up=args.ramp_up,
                            duration=args.duration, tick_rate=20, seed=1)
        import uvloop

        began = time.monotonic()
        result = uvloop.run(RampMeasured(config).run(on_window))
        time.sleep(1.2)  # the probe writes once a second
    rooms = marks.get("rooms") or []
    p99s = [room.get("lateness_ms", {}).get("p99", 0.0) for room in rooms]
    return {
        "policy": policy,
        "connected": result["connected"],
        "lateness_ms": result["lateness_ms"],
        "server_lateness_p99_ms": {"worst_room": max(p99s, default=0.0), "median_room": median(p99s) if p99s else 0},
        "overruns": sum(room.get("overruns", 0) for room in rooms),
        "gc_during_ramp": pauses(probe, began, marks["start"]["wall"]),
        "gc_after_ramp": pauses(probe, marks["start"]["wall"], marks["end"]["wall"]),
        "core_busy": busy_between(marks["start"]["cores"], marks["end"]["cores"]),
        "load": [round(x, 2) for x in marks["start"]["load"]],
    }


def brief(run: dict[str, Any]) -> str:
    lat, server_side, ramp = run["lateness_ms"], run["server_lateness_p99_ms"], run["gc_during_ramp"]
    return (f"{run['policy']:<6} players {run['connected']}  lateness p50 {lat['p50']:.1f} p99 {lat['p99']:.1f} "
            f"max {lat['max']:.0f} ms  rooms' p99 worst {server_side['worst_room']:.1f} median "
            f"{server_side['median_room']:.1f} ms  overruns {run['overruns']}  gc during ramp: "
            + "  ".join(f"gen{g} {v['count']}x {v['total_ms']:.0f} ms (max {v['max_ms']:.1f})" for g, v in ramp.items())
            + f"  load {run['load']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--ramp-up", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--label", default="gc policy during a ramp")
    args = parser.parse_args()
    pin_self()
    runs: dict[str, list[dict[str, Any]]] = {policy: [] for policy in POLICIES}
    for number in range(args.runs):
        for policy in POLICIES:
            run = one_run(policy, args)
            runs[policy].append(run)
            print(f"run {number + 1} {brief(run)}", flush=True)
    medians = {policy: {"lateness_p99_ms": median([r["lateness_ms"]["p99"] for r in found]),
                        "worst_room_p99_ms": median([r["server_lateness_p99_ms"]["worst_room"] for r in found]),
                        "median_room_p99_ms": median([r["server_lateness_p99_ms"]["median_room"] for r in found]),
                        "gen2_max_ms": median([r["gc_during_ramp"]["2"]["max_ms"] for r in found]),
                        "gen2_total_ms": median([r["gc_during_ramp"]["2"]["total_ms"] for r in found])}
               for policy, found in runs.items()}
    print("medians:", medians)
    append_result("ramp", {"label": args.label, "players": args.players, "rooms": args.rooms,
                           "ramp_up_s": args.ramp_up, "runs": args.runs, "medians": medians,
                           "each": {policy: [brief(r) for r in found] for policy, found in runs.items()}})


if __name__ == "__main__":
    main()
