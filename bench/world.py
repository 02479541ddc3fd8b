"""(w) The world: one view room of 1,000 players, beside 20 plain rooms and full broadcast.

    .venv/bin/python bench/world.py [--players 1000] [--bots 100] [--size 1000] [--view 64x40]
                                    [--rooms 20] [--duration 10] [--runs 3]

Each run measures three scenarios one after the other, each on a fresh
asgi-mmo server pinned to core 0 with the load generator (this process) on
core 1, as the other scenarios do; every other run takes them in the reverse
order, so a machine that slows down (or speeds up) over the runs does not
favour the scenario measured last:

- `world`: one view room of `--size` x `--size` cells with `--bots` bots, the
  players joined with `view=WxH` (`asgi-mmo loadtest --view`);
- `plain`: the same players in `--rooms` plain rooms of the load tester's
  usual size (about 48 cells a player, no bots): the reference for server CPU
  per delivered message;
- `broadcast`: the world as a plain room (`"view": false`): every player gets
  every change of the whole field.

Ratios (world / plain, world / broadcast) are taken inside each run, then the
median over the runs is printed; every figure is the median of the runs.
Targets (issue 12) are checked on the medians. One line is appended to
bench/results.jsonl. The in-process figures (view composition ms for the
views, the nine-grid) are bench/world_compose.py's.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from common import append_result, brief, measure, median, output_path_override, pin_self, run_figures

SCENARIOS = ("world", "plain", "broadcast")

#: issue 12's targets, on the world's medians
LATENESS_P99_MS = 10.0
TICKS_DELIVERED = 0.98
BYTES_PER_PLAYER_TICK = 1500
CPU_PER_MESSAGE_RATIO = 1.3


def run_scenario(name: str, args: argparse.Namespace, view: tuple[int, int]) -> dict[str, Any]:
    field = (args.size, args.size)
    if name == "world":
        return measure("asgi-mmo", args.players, 1, duration=args.duration, view=view, bots=args.bots, field=field)
    if name == "plain":
        return measure("asgi-mmo", args.players, args.rooms, duration=args.duration)
    return measure("asgi-mmo", args.players, 1, duration=args.duration, bots=args.bots, field=field)


def figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians over one scenario's runs."""
    figures = run_figures(results, medians=("ticks_delivered", "bytes_per_player_tick"),
                          sums=("connection_failures", "state_resyncs"))
    rooms = [r["server_rooms"] for r in results if "server_rooms" in r]
    figures["room_overruns"] = median([room["overruns"] for room in rooms])
    figures["room_slots_skipped"] = median([room.get("slots_skipped", 0) for room in rooms])
    figures["room_ticks_dropped"] = median([room["ticks_dropped"] for room in rooms])
    return figures


def ratios(run: dict[str, dict[str, Any]]) -> dict[str, float]:
    """One run's ratios: server CPU per delivered message and bytes, world against the others (those run)."""
    world, found = run.get("world"), {}
    if world is None:
        return found
    if (plain := run.get("plain")) is not None:
        found["cpu_per_msg_world_over_plain"] = round(
            world["server_us_per_msg"] / max(1e-9, plain["server_us_per_msg"]), 3)
    if (broadcast := run.get("broadcast")) is not None:
        found["cpu_per_msg_world_over_broadcast"] = round(
            world["server_us_per_msg"] / max(1e-9, broadcast["server_us_per_msg"]), 3)
        found["bytes_world_over_broadcast"] = round(
            world["bytes_per_player_tick"] / max(1, broadcast["bytes_per_player_tick"]), 4)
    return found


def targets(world: dict[str, Any], ratio: dict[str, float]) -> dict[str, bool]:
    met = {
        "lateness_p99_under_10_ms": world["lateness_p99_ms"] < LATENESS_P99_MS,
        "ticks_delivered_98_percent": world["ticks_delivered"] >= TICKS_DELIVERED,
        "no_drops": world["drops"] == 0 and world["connection_failures"] == 0,
        "bytes_per_player_tick_1500": world["bytes_per_player_tick"] <= BYTES_PER_PLAYER_TICK,
    }
    if "cpu_per_msg_world_over_plain" in ratio:
        met["cpu_per_msg_1_3x_plain"] = ratio["cpu_per_msg_world_over_plain"] <= CPU_PER_MESSAGE_RATIO
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--bots", type=int, default=100, help="bots in the world (and in broadcast)")
    parser.add_argument("--size", type=int, default=1000, help="the world's side, in cells")
    parser.add_argument("--view", default="64x40", help="each player's view, WxH")
    parser.add_argument("--rooms", type=int, default=20, help="plain rooms of the reference scenario")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each measured window")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=SCENARIOS, action="append", default=None,
                        help="run only these scenarios (repeat for more; ratios of the world to those run)")
    parser.add_argument("--results", default=None, help="results file (default bench/results.jsonl)")
    args = parser.parse_args()
    width, _, height = args.view.partition("x")
    view = (int(width), int(height))
    output_path_override(args.results)
    pin_self()
    chosen = tuple(args.only) if args.only else SCENARIOS
    runs: list[dict[str, dict[str, Any]]] = []
    load = [os.getloadavg()]
    for number in range(args.runs):
        run: dict[str, dict[str, Any]] = {}
        for name in chosen if number % 2 == 0 else chosen[::-1]:
            result = run_scenario(name, args, view)
            run[name] = result
            print(f"run {number + 1} {name:<9} {brief(result)}  {result['bytes_per_player_tick']} B/player-tick  "
                  f"delivered {result['ticks_delivered'] * 100:.1f}%", flush=True)
        if run_ratios := ratios(run):
            print(f"run {number + 1} ratios {run_ratios}", flush=True)
        runs.append(run)
        load.append(os.getloadavg())
    medians = {name: figures([run[name] for run in runs]) for name in chosen}
    record: dict[str, Any] = {
        "players": args.players, "bots": args.bots, "size": args.size, "view": args.view, "rooms": args.rooms,
        "duration_s": args.duration, "runs": args.runs, "medians": medians,
        "load_average": [[round(x, 2) for x in sample] for sample in load],
        "each": [{name: _short(run[name]) for name in chosen} for run in runs],
    }
    print("medians:")
    for name, values in medians.items():
        print(f"  {name:<9} {values}")
    if "world" in medians:
        per_run = [ratios(run) for run in runs]
        median_ratios = {key: median([r[key] for r in per_run]) for key in per_run[0]}
        record["ratios"] = median_ratios
        record["targets"] = targets(medians["world"], median_ratios)
        print(f"ratios (median of the runs' own): {median_ratios}")
        print(f"targets: {record['targets']}")
    print(f"load average (1, 5, 15 min) before and after each run: {record['load_average']}")
    append_result("world", record)


def _short(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("connected", "lateness_ms", "ack_ms", "ticks_delivered", "bytes_per_player_tick", "server_cpu_frac",
            "server_us_per_msg", "ticks_missed", "state_resyncs", "drops", "loadgen_cpu", "loadgen_us_per_msg",
            "core_busy", "load_before", "load_after", "server_rooms")
    return {key: result.get(key) for key in keys}


if __name__ == "__main__":
    main()
