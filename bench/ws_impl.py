"""Which uvicorn WebSocket implementation: server CPU per tick message for each, same load.

    .venv/bin/python bench/ws_impl.py [--players 600] [--rooms 12] [--duration 8] [--runs 2]

Runs asgi-mmo under each of uvicorn's `--ws` implementations in turn (uvloop
and httptools for all), alternating for `--runs` rounds, prints each run and
the medians with ratios to websockets-sansio, and appends one line to
bench/results.jsonl. `asgi-mmo serve` uses the cheapest. wsproto is not a
dependency of asgi-mmo: `pip install wsproto` to include it (skipped otherwise).
"""

from __future__ import annotations

import argparse
import importlib.util

import common
from common import append_result, brief, measure, median, pin_self

IMPLEMENTATIONS = tuple(
    impl for impl, module in (("websockets-sansio", "websockets"), ("websockets", "websockets"), ("wsproto", "wsproto"))
    if importlib.util.find_spec(module) is not None
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=600)
    parser.add_argument("--rooms", type=int, default=12)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    pin_self()
    chosen = common.uvicorn_options
    runs: dict[str, list[float]] = {impl: [] for impl in IMPLEMENTATIONS}
    for number in range(args.runs):
        for impl in IMPLEMENTATIONS:
            common.uvicorn_options = lambda impl=impl: {**chosen(), "ws": impl}
            result = measure("asgi-mmo", args.players, args.rooms, duration=args.duration)
            runs[impl].append(result["server_us_per_msg"])
            print(f"run {number + 1} {impl:18} {brief(result)}", flush=True)
    common.uvicorn_options = chosen
    medians = {impl: median(values) for impl, values in runs.items()}
    base = medians["websockets-sansio"]
    ratios = {impl: round(value / base, 3) for impl, value in medians.items()}
    print("server us per tick message (medians):", medians)
    print("ratio to websockets-sansio:", ratios)
    append_result("ws_impl", {"players": args.players, "rooms": args.rooms, "duration_s": args.duration,
                              "runs": args.runs, "us_per_msg": medians, "ratio_to_sansio": ratios})


if __name__ == "__main__":
    main()
