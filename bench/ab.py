"""A/B: two versions of the asgi_mmo package under the same load, alternating, medians.

    .venv/bin/python bench/ab.py /tmp/before /tmp/after [--players 1000] [--rooms 20] [--runs 5]

Each directory holds an `asgi_mmo` package (for example `git archive` of two
commits). Prints each run, the medians and the after/before ratios measured in
the same window, and appends one line to bench/results.jsonl.
"""

from __future__ import annotations

import argparse

from common import add_ab_arguments, append_result, brief, measure, median, output_path_override, pin_self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_ab_arguments(parser, runs=5)
    args = parser.parse_args()
    output_path_override(args.results)
    pin_self()
    kinds = {"before": f"asgi-mmo:{args.before}", "after": f"asgi-mmo:{args.after}"}
    runs: dict[str, list[dict]] = {name: [] for name in kinds}
    for number in range(args.runs):
        for name, kind in kinds.items():
            result = measure(kind, args.players, args.rooms, duration=args.duration)
            runs[name].append(result)
            print(f"run {number + 1} {name:<6} {brief(result)}", flush=True)
    keys = {"us_per_msg": lambda r: r["server_us_per_msg"], "cpu_frac": lambda r: r["server_cpu_frac"],
            "lateness_p99_ms": lambda r: r["lateness_ms"]["p99"], "ack_p50_ms": lambda r: r["ack_ms"]["p50"],
            "ack_p99_ms": lambda r: r["ack_ms"]["p99"], "rss_kb_per_player": lambda r: r["rss_kb_per_player"]}
    medians = {name: {key: median([get(r) for r in results]) for key, get in keys.items()}
               for name, results in runs.items()}
    pairs = [a["server_us_per_msg"] and b["server_us_per_msg"] / a["server_us_per_msg"]
             for a, b in zip(runs["before"], runs["after"], strict=True)]
    ratio = {key: round(medians["after"][key] / medians["before"][key], 3)
             for key in keys if medians["before"][key]}
    print("medians:", medians)
    print("after/before (medians):", ratio, " us/msg ratio per pair:", [round(p, 3) for p in pairs])
    append_result("ab", {"label": args.label, "players": args.players, "rooms": args.rooms, "runs": args.runs,
                         "duration_s": args.duration, "medians": medians, "ratios": ratio,
                         "pair_ratios_us_per_msg": [round(p, 3) for p in pairs],
                         "load": [r["load_before"] for r in runs["before"]]})


if __name__ == "__main__":
    main()
