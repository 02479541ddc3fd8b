"""(b) Latency, server CPU and memory at 1,000 players in 20 rooms, against the baseline.

    .venv/bin/python bench/latency.py [--players 1000] [--rooms 20] [--duration 20] [--runs 3]

Runs asgi-mmo and the baseline in turn (`--runs` times each, alternating, so
both see the same machine), prints each run and the medians, and appends one
line to bench/results.jsonl.
"""

from __future__ import annotations

from common import KINDS, alternate, alternating_runs, brief, measure, median, report_alternating


def main() -> None:
    args = alternating_runs(__doc__, duration=20.0, what="server")
    runs = alternate(KINDS, args.runs, lambda kind: measure(kind, args.players, args.rooms, duration=args.duration),
                     lambda kind, result: f" {brief(result)}")
    figures = {}
    for kind, results in runs.items():
        figures[kind] = {
            "lateness_p99_ms": median([r["lateness_ms"]["p99"] for r in results]),
            "lateness_p50_ms": median([r["lateness_ms"]["p50"] for r in results]),
            "ack_p50_ms": median([r["ack_ms"]["p50"] for r in results]),
            "ack_p99_ms": median([r["ack_ms"]["p99"] for r in results]),
            "server_cpu_frac": median([r["server_cpu_frac"] for r in results]),
            "server_us_per_msg": median([r["server_us_per_msg"] for r in results]),
            "rss_kb_per_player": median([r["rss_kb_per_player"] for r in results]),
            "mean_frame_bytes": median([r["mean_frame_bytes"] for r in results]),
            "drops": sum(r["drops"] for r in results),
            "ticks_missed": sum(r["ticks_missed"] for r in results),
        }
    report_alternating("latency", args, runs, figures, ("asgi-mmo", "baseline"),
                       ("server_us_per_msg", "server_cpu_frac", "ack_p50_ms", "ack_p99_ms"),
                       ("connected", "lateness_ms", "ack_ms", "server_cpu_frac", "server_us_per_msg",
                        "rss_kb_per_player", "ticks_missed", "drops", "connection_failures", "loadgen_cpu",
                        "core_busy", "load_before", "load_after", "mean_frame_bytes"))


if __name__ == "__main__":
    main()
