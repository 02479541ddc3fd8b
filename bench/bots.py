"""Bench: bots planning in worker processes against planning inline on the event loop.

50 bots on a 200 x 200 field at 20 Hz, one watching human so the room ticks.
Each round measures both modes back to back in this one process (so the
ratio is taken in one window), and the rounds are repeated for medians:

    .venv/bin/python bench/bots.py [--rounds 3] [--seconds 10] [--bots 50] [--size 200] [--results FILE]

Per mode it prints tick duration p50/p99/max (the tick's own work: bots'
moves, the game step, the fan-out), tick lateness p50/p99/max (how late ticks
start: what inline planning costs, since it runs between ticks on the same
loop), overruns, and plans answered per second; then appends one JSON line to
bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asgi_mmo.backends.memory import MemoryBackend  # noqa: E402
from asgi_mmo.connection import Connection  # noqa: E402
from asgi_mmo.games.snake import bots as snake_bots, rules as snake  # noqa: E402
from asgi_mmo.offload import PlannerPool  # noqa: E402
from asgi_mmo.peers import NoPeers  # noqa: E402
from asgi_mmo.registry import RoomRegistry  # noqa: E402
from asgi_mmo.roomconfig import RoomConfig  # noqa: E402
from asgi_mmo.settings import Settings  # noqa: E402
from asgi_mmo.stats import RoomStats  # noqa: E402
from bench.common import append_result, output_path_override  # noqa: E402

MODES = {"processes": 1, "inline": 0}


async def _discard(frame: str) -> None:
    pass


async def measure(processes: int, *, bots: int, size: int, seconds: float, food: int | None) -> dict[str, float]:
    async with PlannerPool(processes) as pool, anyio.create_task_group() as tasks:
        settings = Settings(bot_processes=processes)
        registry = RoomRegistry(
            settings, NoPeers.over(MemoryBackend(), settings), planner=pool.plan_each,
            plan_concurrency=pool.max_in_flight,
        )
        await tasks.start(registry.run)
        room = registry.create_room(RoomConfig(bots=bots, width=size, height=size, tick_rate=20), seed=1)
        watcher = Connection(_discard, 64)
        room.connect(room.join("watcher"), watcher)
        tasks.start_soon(watcher.run_writer)
        await anyio.sleep(2.0)  # warm up: workers started, bots spread out
        room.stats = RoomStats()
        planned = pool.statistics().planned
        cpu = time.process_time()
        await anyio.sleep(seconds)
        cpu = time.process_time() - cpu
        stats = room.stats
        tick_ms, late_ms = stats.tick_ms(), stats.lateness_ms()
        result = {
            "tick_p50_ms": tick_ms["p50"], "tick_p99_ms": tick_ms["p99"], "tick_max_ms": tick_ms["max"],
            "late_p50_ms": late_ms["p50"], "late_p99_ms": late_ms["p99"], "late_max_ms": late_ms["max"],
            "overruns": stats.overruns, "ticks": stats.ticks,
            "plans_per_s": round((pool.statistics().planned - planned) / seconds, 1),
            "loop_cpu_pct": round(100 * cpu / seconds, 1),
        }  # fmt: skip
        tasks.cancel_scope.cancel()
    watcher.close_outbox()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--radius", type=int, default=snake_bots.WINDOW_RADIUS,
                        help="cells a plan covers around the head each way (the game's default: %(default)s)")
    parser.add_argument("--max-nodes", type=int, default=snake_bots.MAX_NODES,
                        help="cells one search may expand (the game's default: %(default)s)")
    parser.add_argument("--food", type=int, default=None, help="food on the field (default: the game's)")
    parser.add_argument("--results", default=None, help="results file (default bench/results.jsonl)")
    args = parser.parse_args()
    output_path_override(args.results)
    # Heavier plans (a wider window, a larger bound, scarce food) show what offloading buys.
    snake_bots.WINDOW_RADIUS, snake_bots.MAX_NODES = args.radius, args.max_nodes
    if args.food is not None:
        snake.FOOD_AREA = max(1, args.size * args.size // args.food)  # scarce food: long searches

    rounds: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    load_before = os.getloadavg()
    for number in range(1, args.rounds + 1):
        for mode, processes in MODES.items():
            result = anyio.run(
                lambda: measure(processes, bots=args.bots, size=args.size, seconds=args.seconds, food=args.food),
                backend_options={"use_uvloop": True},
            )
            rounds[mode].append(result)
            print(f"round {number} {mode:9} " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)

    medians = {
        mode: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for mode, results in rounds.items()
    }
    print(f"\nmedians of {args.rounds} rounds, {args.bots} bots on {args.size}x{args.size} at 20 Hz "
          f"(window radius {args.radius}, max nodes {args.max_nodes}, food {args.food or 'default'}):")
    print(f"{'':10}{'tick p50':>9}{'tick p99':>9}{'late p50':>9}{'late p99':>9}{'late max':>9}"
          f"{'overruns':>9}{'plans/s':>9}{'loop cpu%':>10}")
    for mode, m in medians.items():
        print(f"{mode:10}{m['tick_p50_ms']:9.2f}{m['tick_p99_ms']:9.2f}{m['late_p50_ms']:9.2f}"
              f"{m['late_p99_ms']:9.2f}{m['late_max_ms']:9.2f}{m['overruns']:9.0f}{m['plans_per_s']:9.1f}"
              f"{m['loop_cpu_pct']:10.1f}")
    ratio = {
        key: round(medians["inline"][key] / medians["processes"][key], 2) if medians["processes"][key] else None
        for key in ("late_p99_ms", "late_max_ms", "tick_p99_ms", "loop_cpu_pct")
    }
    print("inline / processes:", ratio)
    append_result("bots", {
        "bots": args.bots, "size": args.size, "rounds": args.rounds, "seconds": args.seconds,
        "radius": args.radius, "max_nodes": args.max_nodes, "food": args.food,
        "medians": medians, "inline_over_processes": ratio,
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
    })  # fmt: skip


if __name__ == "__main__":  # the planner pool spawns workers that import this module
    main()
