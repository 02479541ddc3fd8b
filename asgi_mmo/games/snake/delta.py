"""Applying snake's tick delta (docs/snake.md "The tick delta"), for Python clients."""

from __future__ import annotations

from typing import Any

from asgi_mmo.games.snake.directions import DIR_OF_STEP


def apply_delta(snapshot: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Apply one `take_delta()` to a SNAPSHOT, in place, and return it.

    For Python clients (tests, the load tester); the same steps a browser
    takes, in the documented order.
    """
    gone = set(delta.get("removed", ()))
    snakes = {s["id"]: s for s in snapshot["snakes"] if s["id"] not in gone}
    for s in delta.get("snakes", ()):
        snakes[s["id"]] = {**s, "body": [list(c) for c in s["body"]]}
    for sid, x, y, grow in delta.get("moves", ()):
        if (s := snakes.get(sid)) is not None:
            body = s["body"]
            s["dir"] = DIR_OF_STEP.get((x - body[0][0], y - body[0][1]), s["dir"])
            body.insert(0, [x, y])
            if not grow:
                body.pop()
    for sid in delta.get("died", ()):
        if sid in snakes:
            snakes[sid]["alive"] = False
    for sid, score in delta.get("scores", ()):
        if sid in snakes:
            snakes[sid]["score"] = score
    snapshot["snakes"] = list(snakes.values())
    eaten = {(x, y) for x, y in delta.get("eaten", ())}
    snapshot["food"] = [f for f in snapshot["food"] if (f[0], f[1]) not in eaten]
    snapshot["food"].extend(list(f) for f in delta.get("food", ()))
    cleared = {(x, y) for x, y in delta.get("stones_removed", ())}
    snapshot["stones"] = [c for c in snapshot["stones"] if (c[0], c[1]) not in cleared]
    snapshot["stones"].extend(list(c) for c in delta.get("stones", ()))
    return snapshot
