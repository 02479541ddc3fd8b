"""(c) Server CPU microseconds per delivered tick message, with and without permessage-deflate.

    .venv/bin/python bench/cpu_per_message.py [--players 1000] [--rooms 20] [--runs 3]

For each server (asgi-mmo, baseline) and each compression setting (none: the
client offers nothing; deflate: uvicorn's permessage-deflate on and the client
offers it, as browsers do), the server's CPU time over the measured window
(/proc/PID/stat) divided by the tick and state frames the clients received.
Runs alternate between the servers; prints medians and ratios, appends one
line to bench/results.jsonl.
"""

from __future__ import annotations

import argparse

from common import KINDS, append_result, brief, measure, median, output_path_override, pin_self

MODES = {"none": {"deflate": False, "compression": False}, "deflate": {"deflate": True, "compression": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="none,deflate")
    parser.add_argument("--results", default=None)
    args = parser.parse_args()
    output_path_override(args.results)
    pin_self()
    modes = args.modes.split(",")
    runs: dict[str, list[dict]] = {f"{kind}/{mode}": [] for mode in modes for kind in KINDS}
    for number in range(args.runs):
        for mode in modes:
            for kind in KINDS:
                result = measure(kind, args.players, args.rooms, duration=args.duration, **MODES[mode])
                runs[f"{kind}/{mode}"].append(result)
                print(f"run {number + 1} {mode:<7} {brief(result)}  frame {result['mean_frame_bytes']} B "
                      f"deflate {result['deflate_negotiated']}", flush=True)
    medians = {name: {"us_per_msg": median([r["server_us_per_msg"] for r in results]),
                      "cpu_frac": median([r["server_cpu_frac"] for r in results]),
                      "lateness_p99_ms": median([r["lateness_ms"]["p99"] for r in results]),
                      "wire_bytes_per_msg": median([r["mean_frame_bytes"] for r in results]),
                      "loadgen_cpu": median([r["loadgen_cpu"] for r in results])}
               for name, results in runs.items()}
    ratios = {}
    for mode in modes:
        ours, base = medians[f"asgi-mmo/{mode}"], medians[f"baseline/{mode}"]
        if base["us_per_msg"]:
            ratios[f"asgi-mmo/baseline {mode}"] = round(ours["us_per_msg"] / base["us_per_msg"], 3)
    if "deflate" in modes and "none" in modes:
        for kind in KINDS:
            ratios[f"{kind} deflate/none"] = round(
                medians[f"{kind}/deflate"]["us_per_msg"] / medians[f"{kind}/none"]["us_per_msg"], 3)
    for name, values in medians.items():
        print(f"  {name:<18} {values}")
    print("ratios:", ratios)
    append_result("cpu_per_message", {"players": args.players, "rooms": args.rooms, "duration_s": args.duration,
                                      "runs": args.runs, "medians": medians, "ratios": ratios,
                                      "load": [r["load_before"] for rs in runs.values() for r in rs]})


if __name__ == "__main__":
    main()
