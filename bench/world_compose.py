"""View composition in one process: ms per tick and bytes per player-tick for a world.

A view room of 1000 x 1000 snake cells, 1,000 human players with 64x40 views
(steered at random, away from walls, respawned when dead) and 100 bots, stepped
at 20 Hz in simulated time, without sockets: each player's connection takes
its frame at once. Reported: the game's step and the views' composition
(`Viewers.fan_out`: following, joining, splicing, handing over) in ms of
process CPU time per tick (median and p99; CPU time, not wall time, so other
processes on a shared machine do not count), and the bytes a player gets per
tick. The bots' plans are answered between ticks by an inline planner, as the
server's worker processes answer them, and their CPU is reported apart
(`--no-plans`: never answered, every bot falls back on safe moves and asks
again each tick). Not the server benchmark: no network, no event loop
contention; it measures the view code.

    python bench/world_compose.py [--players 1000] [--bots 100] [--ticks 200] [--view 64x40]
                                  [--plain | --nine-grid | --parts]

`--plain` runs the same world as a plain room (every player gets every change),
timing `fanout.fan_out` instead, for comparison. `--nine-grid` runs the view
room with the textbook interest management of Mirror, KBEngine or OgarII in
place of the views' composer: each player's frame is built from the 3 x 3
buckets around its head (the changes of the buckets it saw last tick, the
snapshots of the ones it enters) and JSON-encoded for that player alone.
`--profile` prints the 15 costliest functions (cProfile, cumulative) of the
measured ticks. `--parts` times three parts of the views' composition each
tick and prints their medians: the frames of the views that moved (the
snapshots of the buckets they enter included), the bucket snapshots alone,
and the tails shared by views of the same buckets. It times them in wall
time (`perf_counter`, cheap enough for some 1,500 calls a tick), and its
calls add to the composition it prints beside them. Two trees compare best
as pairs: each tree's own `bench/world_compose.py --parts` at once, one on
each core (`taskset`), then swapped.

The garbage collector runs as the server runs it (`gcpolicy.py`): start-up
frozen, the youngest pass after `ASGI_MMO_GC_YOUNG_OBJECTS` new objects, a
freeze every `ASGI_MMO_GC_FREEZE_SECONDS` of simulated time; `--python-gc`
leaves Python's own collector as it is, for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asgi_mmo.room as room_module  # noqa: E402
from asgi_mmo.botplans import BotPlans  # noqa: E402
from asgi_mmo.connection import Connection  # noqa: E402
from asgi_mmo.games.base import GameSetup  # noqa: E402
from asgi_mmo.games.snake.game import SnakeWithBots  # noqa: E402
from asgi_mmo.games.snake.pathfinding import PlanRequest, run_plan  # noqa: E402
from asgi_mmo.games.snake.spatial import SnakeBuckets  # noqa: E402
from asgi_mmo.room import Room  # noqa: E402
from asgi_mmo.roomconfig import RoomConfig  # noqa: E402
from asgi_mmo.seat import Seat  # noqa: E402
from asgi_mmo.settings import Settings  # noqa: E402
from asgi_mmo.stats import RoomStats  # noqa: E402
from asgi_mmo.views.compose import ViewComposer  # noqa: E402
from asgi_mmo.views.deliver import ViewFrames  # noqa: E402
from asgi_mmo.views.rect import parse_size  # noqa: E402

TURNS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


async def _take(frame: str) -> None:
    pass


class NineGrid:
    """A nine-grid fan-out: per player, the 3 x 3 buckets around its head, encoded for it alone."""

    def __init__(self, game: SnakeWithBots, bucket: int) -> None:
        self.game = game
        self.bucket = bucket
        self.grids: dict[str, frozenset[tuple[int, int]]] = {}

    def fan_out(self, seats: Iterable[Seat], tick: int, changes: Mapping[tuple[int, int], dict[str, Any]],
                stats: RoomStats, *, now: float, slow_after: float, room_id: str) -> None:
        game, size, grids = self.game, self.bucket, self.grids
        for seat in seats:
            connection = seat.connection
            if connection is None:
                continue
            focus = game.focus(seat.player_id)
            old = grids.get(seat.player_id, frozenset())
            if focus is None:
                grid = old
            else:
                bx, by = focus[0] // size, focus[1] // size
                grid = frozenset((bx + dx, by + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1))
            grids[seat.player_id] = grid
            frame: dict[str, Any] = {"type": "tick", "tick": tick, "ack": seat.ack}
            entered = [game.bucket_snapshot(bx, by, size) for bx, by in grid - old]
            changed = [change for bucket in grid & old if (change := changes.get(bucket)) is not None]
            if entered:
                frame["enter"] = entered
            if changed:
                frame["buckets"] = changed
            text = orjson.dumps(frame).decode()
            if connection.deliver_nowait(text, now):
                stats.msgs_out += 1
                stats.bytes_out += len(text)


async def _plan_inline(function: str, requests: list[PlanRequest]) -> list[list[str]]:
    return [run_plan(request) for request in requests]  # what a worker process runs (`Game.plan_function`)


#: `--parts`: what each part of the composition is, and the method that does it
PARTS: dict[str, tuple[type, str]] = {
    "moved views' frames (their entered snapshots included)": (ViewFrames, "hand"),
    "bucket snapshots": (SnakeBuckets, "snapshot"),
    "shared tails": (ViewComposer, "same"),
}


@contextlib.contextmanager
def timing_parts(spent: dict[str, float]) -> Iterator[None]:
    """Every call of each of `PARTS` adds its wall time to `spent[part]`, until the block ends."""
    originals = [(owner, method, getattr(owner, method)) for owner, method in PARTS.values()]

    def timed_as(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed_part(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - started

        return timed_part

    for part, (owner, method, function) in zip(PARTS, originals, strict=True):
        setattr(owner, method, timed_as(part, function))
    try:
        yield
    finally:
        for owner, method, function in originals:
            setattr(owner, method, function)


async def main(players: int, bots: int, ticks: int, view: tuple[int, int], size: int, plain: bool,
               nine_grid: bool = False, profile: bool = False, plans: bool = True, server_gc: bool = True,
               parts: bool = False) -> None:
    config = RoomConfig(view=not plain, width=size, height=size, bots=bots, tick_rate=20, max_players=players)
    game = SnakeWithBots.create(GameSetup(size, size, {}, 1))
    room = Room("world", config, game, Settings(bot_processes=0, outbox_frames=64),
                planner=_plan_inline if plans else None)
    room.add_bots(bots)
    spent: list[float] = []
    clock = time.process_time
    part_spent = dict.fromkeys(PARTS, 0.0)  # this tick's, with `--parts`
    part_ticks: list[dict[str, float]] = []

    def timed(fan_out: Callable[..., object]) -> Callable[..., None]:
        def timed_fan_out(*args: object, **kwargs: object) -> None:
            started = clock()
            fan_out(*args, **kwargs)
            spent.append(clock() - started)
            if parts:
                part_ticks.append(dict(part_spent))
                part_spent.update(dict.fromkeys(PARTS, 0.0))

        return timed_fan_out

    if room.viewers is not None and nine_grid:
        vars(room.viewers)["fan_out"] = timed(NineGrid(game, room.viewers.bucket).fan_out)
    elif room.viewers is not None:
        vars(room.viewers)["fan_out"] = timed(room.viewers.fan_out)
    else:
        room_module.__dict__["fan_out"] = timed(room_module.__dict__["fan_out"])
    rng = random.Random(2)
    bot_plans = room._bots  # (the room's; its planning runs in the room's tick loop, here below)
    async with anyio.create_task_group() as tasks, (
            bot_plans.planning() if bot_plans is not None else contextlib.nullcontext()):
        seats = []
        for number in range(players):
            seat = room.join(f"p{number}")
            room.ask_view(seat, *view)
            connection = Connection(_take, 64)
            room.connect(seat, connection)  # (a plain room's welcome holds the whole field)
            connection.attach(tasks)
            seats.append(seat)
        steps: list[float] = []
        planned: list[float] = []
        now = 0.0
        settings = Settings()
        freeze_every = max(1, round(settings.gc_freeze_seconds * 20))  # in ticks of 50 ms
        if server_gc:  # as the app's lifespan does (freeze_start_up, GcPolicy)
            gc.collect()
            gc.freeze()
            gc.set_threshold(settings.gc_young_objects, *gc.get_threshold()[1:])
        profiler = cProfile.Profile() if profile else None
        with timing_parts(part_spent) if parts else contextlib.nullcontext():
            for tick in range(ticks + 20):
                if tick == 20:  # warmed up: every snake moves, views have settled
                    spent.clear()
                    part_ticks.clear()
                    steps.clear()
                    planned.clear()
                    room.stats.msgs_out = room.stats.bytes_out = 0
                    if profiler is not None:
                        profiler.enable()
                for seat in seats:
                    head, direction, alive = game.head_of(seat.player_id)
                    seat_seq = seat.ack + 1
                    if not alive:
                        room.handle_input(seat, seat_seq, {"respawn": True})
                        continue
                    dx, dy = TURNS[direction]
                    ahead = (head[0] + 3 * dx, head[1] + 3 * dy)
                    if rng.random() < 0.1 or not (0 <= ahead[0] < size and 0 <= ahead[1] < size):
                        room.handle_input(seat, seat_seq, {"dir": rng.choice(list(TURNS))})
                now += 0.05
                started = clock()
                room.step(now)
                steps.append(clock() - started)
                started = clock()
                await _plans_answered(bot_plans)
                planned.append(clock() - started)
                if server_gc and settings.gc_freeze_seconds and tick % freeze_every == 0:
                    gc.freeze()
        tasks.cancel_scope.cancel()
    compose = sorted(spent)
    whole = sorted(steps)
    what = ("a plain room" if plain else f"a nine-grid of {room.viewers.bucket if room.viewers else 0}-cell buckets"
            if nine_grid else f"views of {view[0]}x{view[1]}")
    print(f"world {size}x{size}, {players} players ({what}), {bots} bots, {ticks} ticks")
    print(f"{'fan-out' if plain else 'nine-grid fan-out' if nine_grid else 'view composition'}: {_ms(compose)} a tick")
    print(f"whole step (game, bots' plan requests, views): {_ms(whole)}")
    print(f"bots' plans (worker processes in the server): {_ms(sorted(planned))}" if plans else
          "bots' plans: never answered (--no-plans)")
    print(f"bytes per player-tick: {room.stats.bytes_out / max(1, room.stats.msgs_out):.0f}")
    if parts:
        medians = ", ".join(f"{part} {statistics.median(t[part] for t in part_ticks) * 1000:.2f} ms" for part in PARTS)
        print(f"parts of the composition (wall time, median a tick): {medians}")
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)


async def _plans_answered(bot_plans: BotPlans | None) -> None:
    """Until the plans this tick asked for are answered. The inline planner never suspends, so
    a batch the planning task took is answered and accepted before the task yields again.
    (Not `anyio.wait_all_tasks_blocked`: on asyncio it sleeps 0.1 s of wall time whenever a task
    is ready, so every tick that asked for a plan came after an idle tenth of a second, on caches
    gone cold, and the bots looked as if they slowed every line of the step.)"""
    waiting = bot_plans._requests if bot_plans is not None else None  # (the room's queue of batches)
    await anyio.lowlevel.checkpoint()
    while waiting is not None and waiting.statistics().current_buffer_used:
        await anyio.lowlevel.checkpoint()


def _ms(values: list[float]) -> str:
    """Median and p99 of sorted durations, in ms."""
    p99 = values[max(0, int(len(values) * 0.99) - 1)]
    return f"median {statistics.median(values) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--view", default="64x40")
    parser.add_argument("--size", type=int, default=1000)
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--plain", action="store_true", help="a plain room: every change to every player")
    kind.add_argument("--nine-grid", action="store_true", help="the 3 x 3 buckets around each head, JSON per player")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured ticks")
    parser.add_argument("--parts", action="store_true", help="time three parts of the views' composition")
    parser.add_argument("--no-plans", action="store_true", help="never answer the bots' plan requests")
    parser.add_argument("--python-gc", action="store_true", help="Python's own garbage collector, not the server's policy")
    args = parser.parse_args()
    if args.parts and (args.plain or args.nine_grid):
        parser.error("--parts times the views' composer: not with --plain or --nine-grid")
    size = parse_size(args.view) or (64, 40)
    anyio.run(main, args.players, args.bots, args.ticks, size, args.size, args.plain, args.nine_grid, args.profile,
              not args.no_plans, not args.python_gc, args.parts)
