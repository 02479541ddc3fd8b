"""A snake view as a client holds it, and applying a view room's frames to it
(docs/snake.md "Views"), for Python clients (tests, the load tester).

The picture keeps each snake's cells with their serials, so a body seen only
in parts is ordered (highest serial: the head); the buckets it holds are those
its `view` rectangle touches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Cell = tuple[int, int]


@dataclass(slots=True)
class ViewPicture:
    width: int
    height: int
    view: dict[str, int]
    snakes: dict[str, dict[str, Any]] = field(default_factory=dict)  # entries, without bodies
    cells: dict[str, dict[Cell, int]] = field(default_factory=dict)  # id -> cell -> serial
    food: dict[Cell, int] = field(default_factory=dict)
    stones: set[Cell] = field(default_factory=set)

    @classmethod
    def of(cls, view: dict[str, int], snapshot: dict[str, Any]) -> ViewPicture:
        """The picture of a `welcome`'s or `state`'s `view` and view SNAPSHOT."""
        picture = cls(snapshot["width"], snapshot["height"], dict(view))
        for snake in snapshot["snakes"]:
            entry = {k: v for k, v in snake.items() if k not in ("body", "serials")}
            picture.snakes[snake["id"]] = entry
            own = picture.cells[snake["id"]] = {}
            for (x, y), serial in zip(snake["body"], snake["serials"], strict=True):
                own[(x, y)] = serial
        picture.food = {(x, y): v for x, y, v in snapshot["food"]}
        picture.stones = {(x, y) for x, y in snapshot["stones"]}
        return picture

    def apply(self, message: dict[str, Any]) -> None:
        """Apply a view room's `tick` (a `state` replaces the picture: use `of`)."""
        if "view" in message:
            self.view = dict(message["view"])
            self._drop_outside()
        for bucket in message.get("enter", ()):
            self._clear_bucket(*bucket["b"])
            self._apply_part(bucket)
        for fragment in message.get("buckets", ()):
            self._apply_part(fragment)
        for sid in [sid for sid, own in self.cells.items() if not own]:
            del self.cells[sid]
            self.snakes.pop(sid, None)
        for sid in [sid for sid in self.snakes if sid not in self.cells]:
            del self.snakes[sid]

    def _apply_part(self, part: dict[str, Any]) -> None:
        for sid, x, y in part.get("cut", ()):
            if (own := self.cells.get(sid)) is not None:
                own.pop((x, y), None)
        for sid, x, y, serial in part.get("cells", ()):
            self.cells.setdefault(sid, {})[(x, y)] = serial
        for entry in part.get("snakes", ()):
            self.snakes[entry["id"]] = dict(entry)
        for x, y in part.get("eaten", ()):
            self.food.pop((x, y), None)
        for x, y, v in part.get("food", ()):
            self.food[(x, y)] = v
        for x, y in part.get("stones_removed", ()):
            self.stones.discard((x, y))
        for x, y in part.get("stones", ()):
            self.stones.add((x, y))

    def _held(self, cell: Cell) -> bool:
        size, view = self.view["bucket"], self.view
        bx, by = cell[0] // size, cell[1] // size
        return (
            view["x"] // size <= bx <= (view["x"] + view["width"] - 1) // size
            and view["y"] // size <= by <= (view["y"] + view["height"] - 1) // size
        )

    def _drop_outside(self) -> None:
        for own in self.cells.values():
            for cell in [cell for cell in own if not self._held(cell)]:
                del own[cell]
        self.food = {cell: v for cell, v in self.food.items() if self._held(cell)}
        self.stones = {cell for cell in self.stones if self._held(cell)}

    def _clear_bucket(self, bx: int, by: int) -> None:
        size = self.view["bucket"]

        def inside(cell: Cell) -> bool:
            return cell[0] // size == bx and cell[1] // size == by

        for own in self.cells.values():
            for cell in [cell for cell in own if inside(cell)]:
                del own[cell]
        self.food = {cell: v for cell, v in self.food.items() if not inside(cell)}
        self.stones = {cell for cell in self.stones if not inside(cell)}

    def snapshot(self) -> dict[str, Any]:
        """The picture as a SNAPSHOT (bodies head first; parts outside the picture missing)."""
        snakes = []
        for sid, entry in self.snakes.items():
            own = sorted(((serial, cell) for cell, serial in self.cells.get(sid, {}).items()), reverse=True)
            snakes.append({**entry, "body": [[x, y] for _, (x, y) in own]})
        return {
            "width": self.width, "height": self.height, "snakes": snakes,
            "food": [[x, y, v] for (x, y), v in self.food.items()], "stones": [[x, y] for x, y in self.stones],
        }  # fmt: skip


def inside(snapshot: dict[str, Any], rect: dict[str, int]) -> dict[str, Any]:
    """What a SNAPSHOT (whole or a view's) holds inside a rectangle, comparable with `==`:
    each snake with a cell inside (its entry and its cells inside, head first), food, stones."""
    x0, y0, x1, y1 = rect["x"], rect["y"], rect["x"] + rect["width"] - 1, rect["y"] + rect["height"] - 1

    def within(x: int, y: int) -> bool:
        return x0 <= x <= x1 and y0 <= y <= y1

    snakes = {}
    for snake in snapshot["snakes"]:
        body = [(x, y) for x, y in snake["body"] if within(x, y)]
        if body:
            entry = {k: v for k, v in snake.items() if k not in ("body", "serials")}
            snakes[snake["id"]] = {**entry, "body": body}
    return {
        "snakes": snakes,
        "food": sorted((x, y, v) for x, y, v in snapshot["food"] if within(x, y)),
        "stones": sorted((x, y) for x, y in snapshot["stones"] if within(x, y)),
    }
