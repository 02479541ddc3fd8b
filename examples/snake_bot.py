"""A small snake bot on `asgi_mmo.client`: it turns toward the nearest food and away from walls.

    python examples/snake_bot.py --url ws://127.0.0.1:8000/ws --name Bot [--room ID] [--seconds 30]

Every tick it looks at the picture the library keeps, picks among the three directions
that are not straight back the one whose next cell is free (no wall, stone or body), with
the most room behind it, and then the nearest food; it plays again after dying. At the end
(`--seconds`) it prints what it did as one JSON line and leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections import deque
from typing import Any

from asgi_mmo.client import Died, Player, Tick, connect

STEPS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
BACK = {"up": "down", "down": "up", "left": "right", "right": "left"}
Cell = tuple[int, int]


def room_behind(start: Cell, blocked: set[Cell], width: int, height: int, enough: int) -> int:
    """Free cells reachable from `start` (counted up to `enough`): a dead end scores low."""
    seen, todo = {start}, deque([start])
    while todo and len(seen) < enough:
        x, y = todo.popleft()
        for dx, dy in STEPS.values():
            cell = (x + dx, y + dy)
            if 0 <= cell[0] < width and 0 <= cell[1] < height and cell not in blocked and cell not in seen:
                seen.add(cell)
                todo.append(cell)
    return len(seen)


def choose_direction(state: dict[str, Any], me: dict[str, Any]) -> str:
    """The direction to take next (pure: the picture in, a direction out)."""
    width, height = state["width"], state["height"]
    head = (me["body"][0][0], me["body"][0][1])
    blocked = {(x, y) for x, y in state["stones"]}
    for snake in state["snakes"]:
        body = snake["body"][:-1] if snake["alive"] else snake["body"]  # a live tail moves on
        blocked.update((x, y) for x, y in body)
    food = [(x, y) for x, y, _ in state["food"]]
    enough = len(me["body"]) * 2 + 8
    best: tuple[tuple[int, int], str] | None = None
    for name, (dx, dy) in STEPS.items():
        if name == BACK.get(me["dir"]) and not me.get("waiting"):
            continue
        cell = (head[0] + dx, head[1] + dy)
        if not (0 <= cell[0] < width and 0 <= cell[1] < height) or cell in blocked:
            continue
        space = min(room_behind(cell, blocked, width, height, enough), enough)
        distance = min((abs(cell[0] - fx) + abs(cell[1] - fy) for fx, fy in food), default=0)
        rank = (space, -distance)
        if best is None or rank > best[0]:
            best = (rank, name)
    return best[1] if best is not None else me["dir"]


async def play(player: Player, seconds: float | None) -> dict[str, Any]:
    counts = {"ticks": 0, "turns": 0, "deaths": 0, "respawns": 0, "moves": 0, "best_score": 0}
    asked = ""  # the direction last sent while this snake lives
    respawn_sent = False
    last_head: list[int] | None = None
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for update in player:
                if isinstance(update, Died) and update.me:
                    counts["deaths"] += 1
                if not isinstance(update, Tick) or update.tick != player.tick:
                    continue  # only the newest picture is worth a decision
                counts["ticks"] += 1
                me = player.me
                if me is None or not me["alive"]:
                    if not respawn_sent:
                        await player.send({"respawn": True})
                        counts["respawns"] += 1
                        respawn_sent, asked, last_head = True, "", None
                    continue
                respawn_sent = False
                counts["best_score"] = max(counts["best_score"], me["score"])
                if last_head is not None and me["body"][0] != last_head:
                    counts["moves"] += 1
                last_head = me["body"][0]
                direction = choose_direction(player.state, me)
                if direction != asked or me.get("waiting"):
                    await player.send({"dir": direction})
                    counts["turns"] += direction != me["dir"]
                    asked = direction
    me = player.me
    return {"player": player.id, "room": player.room, "score": me["score"] if me else 0,
            "alive": bool(me and me["alive"]), "length": len(me["body"]) if me else 0, **counts}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws", help="the server's /ws address")
    parser.add_argument("--name", default="Bot", help="the bot's name (1 to 16 letters, digits, ' _-.')")
    parser.add_argument("--room", help="the room to join; without it, a quick join of snake")
    parser.add_argument("--seconds", type=float, help="play this long, then print the summary and leave")
    args = parser.parse_args()
    async with connect(args.url, name=args.name, room=args.room, game="snake") as player:
        try:
            summary = await play(player, args.seconds)
        finally:
            await player.leave()
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
