"""What recording a room costs its tick, and how big a recording grows.

In one process: a snake room with bots and one player is stepped by hand
(`Room.step`, as its loop would), first without a recorder, then with one
(asgi_mmo/replays/), alternating in pairs. Between steps the event loop runs
the recorder's writer task, whose file writes go to a worker thread. Prints
the median step time of each, the ratio, and the recording's bytes per 1,000
ticks. The machine's load average is printed too: other work on the machine
moves these figures.

    .venv/bin/python bench/recording.py [--ticks 1000] [--bots 20] [--pairs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from asgi_mmo.backends.memory import MemoryBackend
from asgi_mmo.connection import Connection
from asgi_mmo.peers import NoPeers
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.replays import Recordings
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.settings import Settings


async def run(ticks: int, bots: int, record: bool, directory: Path) -> tuple[float, int]:
    """Median seconds per step, and the recording's size in bytes (0 without one)."""
    settings = Settings(recordings_dir=str(directory), bot_processes=0, outbox_frames=4096,
                        recording_max_seconds=3600.0)  # fmt: skip
    async with anyio.create_task_group() as tasks:
        registry = RoomRegistry(settings, NoPeers.over(MemoryBackend(), settings))
        await tasks.start(registry.run)
        recordings = Recordings(registry, settings)
        await tasks.start(recordings.run)
        room = registry.create_room(RoomConfig(bots=bots, width=100, height=80, tick_rate=20), seed=7)
        async def take(frame: str) -> None:
            pass  # a client that keeps up: every frame goes straight through

        player = Connection(take, settings.outbox_frames)
        room.connect(room.join("alice"), player)
        tasks.start_soon(player.run_writer)
        meta = await recordings.start(room.id) if record else None
        await anyio.sleep(0.05)
        steps = []
        for _ in range(ticks):
            started = time.perf_counter()
            room.step(time.monotonic())
            steps.append(time.perf_counter() - started)
            await anyio.sleep(0)
        size = 0
        if meta is not None:
            stopped = await recordings.stop(meta["id"])
            size = int((stopped or {}).get("bytes", 0))
        tasks.cancel_scope.cancel()
    return statistics.median(steps), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--bots", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    plain: list[float] = []
    recorded: list[float] = []
    sizes: list[int] = []
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(args.pairs):
            plain.append(anyio.run(run, args.ticks, args.bots, False, Path(directory))[0])
            step, size = anyio.run(run, args.ticks, args.bots, True, Path(directory))
            recorded.append(step)
            sizes.append(size)
    a, b = statistics.median(plain), statistics.median(recorded)
    print(f"room: 100x80 snake, {args.bots} bots, 1 player, {args.ticks} ticks x {args.pairs} pairs; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"step median without a recorder: {a * 1e6:.1f} us")
    print(f"step median with a recorder:    {b * 1e6:.1f} us ({b / a:.2f}x)")
    print(f"recording size: {statistics.median(sizes) / args.ticks * 1000 / 1024:.1f} KiB per 1,000 ticks "
          f"(keyframe every {Settings().recording_keyframe_seconds:g} s at 20 Hz)")


if __name__ == "__main__":
    main()
