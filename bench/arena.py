"""(f) The arena at 1,000 players in 20 rooms at 20 Hz, and snake under the same load, alternating.

    .venv/bin/python bench/arena.py [--players 1000] [--rooms 20] [--duration 10] [--runs 3]

Each run is a fresh asgi-mmo server pinned to core 0 and the load generator
(this process) on core 1, as in the other scenarios; the games take turns
(snake, arena, snake, arena, ...) so both see the same machine. The players
are the load tester's own drivers: snake turns a key press apart (0.3-0.8 s);
arena players steer, sweep their aim and fire with `seen` every 0.1-0.3 s, and
respawn after each death. Fields: snake about 48 cells a player, arena the
game's 60 x 40 for 50 ships. Prints each run and the medians (tick lateness,
input-to-ack, server CPU per delivered tick message, bytes per message, the
rooms' own tick duration), appends one line to bench/results.jsonl.
"""

from __future__ import annotations

from typing import Any

from common import alternate, alternating_runs, brief, measure, median, report_alternating, run_figures

GAMES = ("snake", "arena")


def figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians over one game's runs."""
    figures = run_figures(results, medians=("mean_frame_bytes", "loadgen_us_per_msg"), sums=("respawns",))
    figures["inputs_per_s"] = median([r["acks_measured"] / r["window_s"] for r in results])  # sent in the window
    return figures


def main() -> None:
    args = alternating_runs(__doc__, duration=10.0, what="game")
    runs = alternate(GAMES, args.runs,
                     lambda game: measure("asgi-mmo", args.players, args.rooms, duration=args.duration, game=game),
                     lambda game, result: f"{game:<5} {brief(result)}  frame {result['mean_frame_bytes']} B  "
                                          f"deaths {result['deaths']} respawns {result['respawns']}")
    medians = {game: figures(results) for game, results in runs.items()}
    report_alternating("arena", args, runs, medians, ("arena", "snake"),
                       ("server_us_per_msg", "server_cpu_frac", "mean_frame_bytes", "room_tick_ms_p50"),
                       ("connected", "lateness_ms", "ack_ms", "server_cpu_frac", "server_us_per_msg",
                        "mean_frame_bytes", "acks_measured", "deaths", "respawns", "respawned", "ticks_missed",
                        "drops", "loadgen_cpu", "loadgen_us_per_msg", "core_busy", "load_before", "load_after",
                        "server_rooms"))


if __name__ == "__main__":
    main()
