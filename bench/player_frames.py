"""(g') The simulated player's own Python per tick frame, for versions of asgi_mmo/loadtest, alternating.

    .venv/bin/python bench/player_frames.py /tmp/before /tmp/after [--rounds 5] [--game snake|arena]

Each directory holds an `asgi_mmo` package. For each round and each tree, a
child process (pinned to core 1) imports that tree's `Player`, welcomes it,
and times `on_message` over 20,000 synthetic tick frames of a 50-player room
(about 1 KB each: a `moves` entry a player, a `died` list every 7th tick,
never the player's own id); the best of 7 passes, in nanoseconds per frame.
No sockets, no server: only the part of the load generator's cost per message
that a change to `player.py` or a driver can move (bench/loadgen.py measures
the whole of it). Prints each round and the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time

FRAMES = 20_000
PASSES = 7


class _Socket:
    deflate = False
    bytes_in = 0

    def send_text(self, text: str) -> None:
        pass

    def close(self, code: int = 1000) -> None:
        pass

    def abort(self) -> None:
        pass


def synthetic_frames(game: str) -> list[bytes]:
    import orjson

    rng = random.Random(2)
    frames = []
    for tick in range(1, FRAMES + 1):
        if game == "arena":
            moves = [[f"{rng.getrandbits(32):08x}", rng.uniform(0, 60), rng.uniform(0, 40), 12.0, 0.0]
                     for _ in range(50)]
            delta: dict[str, object] = {"moves": moves, "aims": [[f"{rng.getrandbits(32):08x}", 1.5]] * 10}
        else:
            delta = {"moves": [[f"{rng.getrandbits(32):08x}", rng.randrange(200), rng.randrange(200), 0]
                               for _ in range(50)], "food": [[3, 4, 2]]}
        if tick % 7 == 0:
            delta["died"] = [f"{rng.getrandbits(32):08x}"]
        body = orjson.dumps(delta).decode()
        frames.append(f'{{"type":"tick","tick":{tick},"ack":0,{body[1:]}'.encode())
    return frames


async def _child(game: str) -> float:
    import orjson

    from asgi_mmo.loadtest.player import Player
    from asgi_mmo.loadtest.stats import LoadStats

    rng = random.Random(1)
    if game == "arena":  # a tree from before drivers existed has no arena player
        from asgi_mmo.loadtest.drivers import ArenaDriver

        player = Player(LoadStats(window=True), 0, rng, 0, ArenaDriver(rng))
    else:
        player = Player(LoadStats(window=True), 0, rng, chat_every=0)
    player.socket = _Socket()
    state = ({"ships": [{"id": "abcd0123", "alive": True}]} if game == "arena"
             else {"snakes": [{"id": "abcd0123", "alive": True, "dir": "right", "body": [[5, 5]]}]})
    player.on_message(orjson.dumps({"type": "welcome", "player": "abcd0123", "tick_rate": 20, "tick": 0,
                                    "state": state}), 0.0)
    for timer in player._timers:
        timer.cancel()
    frames = synthetic_frames(game)
    on_message = player.on_message
    best = float("inf")
    for _ in range(PASSES):
        player.last_tick = 0
        player.alive = True
        started = time.perf_counter()
        for number, frame in enumerate(frames):
            on_message(frame, number * 0.05)
        best = min(best, (time.perf_counter() - started) / len(frames))
    return best * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--game", default="snake", choices=("snake", "arena"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.trees[0])
        print(f"{asyncio.run(_child(args.game)):.0f}")
        return
    pin = ["taskset", "-c", "1"] if os.cpu_count() and os.cpu_count() > 1 else []
    times: dict[str, list[float]] = {tree: [] for tree in args.trees}
    for number in range(args.rounds):
        for tree in args.trees:
            done = subprocess.run([*pin, sys.executable, __file__, tree, "--child", "--game", args.game],
                                  capture_output=True, text=True, check=True)
            times[tree].append(float(done.stdout))
            print(f"round {number + 1}  {tree:<24} {times[tree][-1]:6.0f} ns per frame", flush=True)
    for tree, values in times.items():
        print(f"median {tree:<24} {statistics.median(values):6.0f} ns per frame")


if __name__ == "__main__":
    main()
