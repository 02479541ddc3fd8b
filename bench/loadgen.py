"""(g) The load generator's own CPU per message, for two versions of asgi_mmo/loadtest, alternating.

    .venv/bin/python bench/loadgen.py /tmp/before /tmp/after [--players 1000] [--rooms 20] [--runs 3]
        [--game snake]

Each directory holds an `asgi_mmo` package (for example `git archive` of two
commits). Every run starts a fresh asgi-mmo server of this tree pinned to
core 0 and runs `asgi-mmo loadtest --json` of one of the two trees (its cwd,
so its package is the one imported) pinned to core 1. The figure is the load
generator's CPU time over the measured window divided by the tick and state
frames it received in it (`loadgen_cpu` x `window_s` / `ticks`: the older
summary has no `loadgen_us_per_msg`). Prints each run, the medians and the
after/before ratio, appends one line to bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import LOADGEN_CPU, add_ab_arguments, append_result, median, output_path_override, server


def run_loadgen(tree: str, url: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "asgi_mmo.cli", "loadtest", "--url", url, "--players", str(args.players),
               "--rooms", str(args.rooms), "--duration", str(args.duration), "--ramp-up",
               str(max(1.0, args.players / 300)), "--chat-every", "0", "--seed", "1", "--json", "--quiet"]
    if args.game != "snake":
        command += ["--game", args.game]
    if os.cpu_count() and os.cpu_count() > 1:
        command = ["taskset", "-c", str(LOADGEN_CPU), *command]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=args.duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"loadtest of {tree} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_ab_arguments(parser, runs=3)
    parser.add_argument("--game", default="snake", help="the game (the before tree must know --game otherwise)")
    args = parser.parse_args()
    output_path_override(args.results)
    trees = {"before": args.before, "after": args.after}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for number in range(args.runs):
        for name, tree in trees.items():
            with server("asgi-mmo") as (url, _pid):
                result = run_loadgen(tree, url, args)
            result["us_per_msg"] = round(result["loadgen_cpu"] * result["window_s"] / max(1, result["ticks"]) * 1e6, 2)
            runs[name].append(result)
            print(f"run {number + 1} {name:<6} loadgen {result['us_per_msg']:6.2f} us/msg  "
                  f"cpu {result['loadgen_cpu'] * 100:4.1f}%  connected {result['connected']}/{result['players']}  "
                  f"ticks {result['ticks']}  late p99 {result['lateness_ms']['p99']} ms  "
                  f"frame {result['mean_frame_bytes']} B", flush=True)
    medians = {name: {"us_per_msg": median([r["us_per_msg"] for r in results]),
                      "loadgen_cpu": median([r["loadgen_cpu"] for r in results]),
                      "lateness_p99_ms": median([r["lateness_ms"]["p99"] for r in results])}
               for name, results in runs.items()}
    pairs = [round(b["us_per_msg"] / a["us_per_msg"], 3) for a, b in zip(runs["before"], runs["after"], strict=True)
             if a["us_per_msg"]]
    ratio = round(medians["after"]["us_per_msg"] / medians["before"]["us_per_msg"], 3) \
        if medians["before"]["us_per_msg"] else None
    print("medians:", medians)
    print("after/before us per message:", ratio, " per pair:", pairs)
    append_result("loadgen", {"label": args.label, "game": args.game, "players": args.players, "rooms": args.rooms,
                              "runs": args.runs, "duration_s": args.duration, "medians": medians, "ratio": ratio,
                              "pair_ratios": pairs})


if __name__ == "__main__":
    main()
