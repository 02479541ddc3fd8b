"""Applying the arena's tick delta to its SNAPSHOT, the way a client does.

For Python clients (tests, the load tester); the browser's view takes the same
steps in the same order (docs/arena.md, "The tick delta").
"""

from __future__ import annotations

from typing import Any


def apply_delta(snapshot: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """Apply one `take_delta()` to a SNAPSHOT, in place, and return it.

    Every change sets a value (none adds to one), so applying a delta twice, or
    to a snapshot taken after some of it happened, changes nothing more.
    `shots` are events to draw, not state: they leave the snapshot alone.
    """
    gone = set(delta.get("removed", ()))
    ships = {s["id"]: s for s in snapshot["ships"] if s["id"] not in gone}
    for ship in delta.get("ships", ()):
        ships[ship["id"]] = dict(ship)
    for sid, x, y, vx, vy in delta.get("moves", ()):
        if (s := ships.get(sid)) is not None:
            s["x"], s["y"], s["vx"], s["vy"] = x, y, vx, vy
    for key, field in (("aims", "aim"), ("hp", "hp"), ("scores", "score")):
        for sid, value in delta.get(key, ()):
            if (s := ships.get(sid)) is not None:
                s[field] = value
    for sid in delta.get("died", ()):
        if (s := ships.get(sid)) is not None:
            s["alive"] = False
    snapshot["ships"] = list(ships.values())
    return snapshot
