"""(a) Capacity: the most players one server process holds at 20 Hz, stepping up.

    .venv/bin/python bench/capacity.py [--steps 500,1000,1500,2000,2500,3000] [--per-room 50] [--duration 10]

Held means: every player connected, tick lateness p99 under 10 ms, no drops,
no failed connections and no ticks missed, over the measured window. Each
step runs on a fresh server, asgi-mmo and the baseline in turn (so both see
the same machine); a server's steps stop after it fails `--stop-after`
steps in a row. Prints each step and the largest step held, appends one line
to bench/results.jsonl.
"""

from __future__ import annotations

import argparse

from common import KINDS, append_result, brief, measure, output_path_override, pin_self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="500,1000,1500,2000,2500,3000", help="player counts, comma-separated")
    parser.add_argument("--per-room", type=int, default=50, help="players per room (default 50)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each measured window")
    parser.add_argument("--stop-after", type=int, default=2, help="failed steps in a row that end a server's climb")
    parser.add_argument("--kinds", default=",".join(KINDS), help="servers to climb (default both)")
    parser.add_argument("--results", default=None, help="results file (default bench/results.jsonl)")
    args = parser.parse_args()
    output_path_override(args.results)
    pin_self()
    steps = [int(step) for step in args.steps.split(",")]
    kinds = args.kinds.split(",")
    held: dict[str, int] = {kind: 0 for kind in kinds}
    failed_in_a_row: dict[str, int] = {kind: 0 for kind in kinds}
    table: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for players in steps:
        for kind in kinds:
            if failed_in_a_row[kind] >= args.stop_after:
                continue
            result = measure(kind, players, max(1, players // args.per_room), duration=args.duration)
            print(f"{'HELD' if result['held'] else 'fail'}  {brief(result)}", flush=True)
            table[kind].append({"players": players, "held": result["held"], "lateness_ms": result["lateness_ms"],
                                "ack_ms": result["ack_ms"], "server_cpu_frac": result["server_cpu_frac"],
                                "server_us_per_msg": result["server_us_per_msg"], "drops": result["drops"],
                                "ticks_missed": result["ticks_missed"], "connected": result["connected"],
                                "loadgen_cpu": result["loadgen_cpu"], "core_busy": result["core_busy"],
                                "load_before": result["load_before"], "rss_kb_per_player": result["rss_kb_per_player"],
                                "server_rooms": result.get("server_rooms")})
            if result["held"]:
                held[kind] = max(held[kind], players)
                failed_in_a_row[kind] = 0
            else:
                failed_in_a_row[kind] += 1
    ratio = round(held["asgi-mmo"] / held["baseline"], 3) if held.get("baseline") and "asgi-mmo" in held else None
    print(f"largest held: {held}  asgi-mmo / baseline: {ratio}")
    append_result("capacity", {"per_room": args.per_room, "duration_s": args.duration, "held": held,
                               "ratio": ratio, "steps": table})


if __name__ == "__main__":
    main()
