"""The snake field on a grid of buckets, for view rooms (docs/snake.md "Views").

`SnakeBuckets` keeps, per bucket of `size` x `size` cells, the snake cells
(each with its serial: a snake's cells are numbered as its head reaches them,
so a client orders a body it sees only in parts), the food and the stones in
it, always current: the rules tell it every change as they make it, and it
notes the change in the bucket's pending fragment as well. So a bucket's
snapshot never scans the field, and a tick's fragments are one pass over the
tick's changes. Changes net out per cell: the last write of a tick wins, so a
fragment holds final states, safe to apply in any order and twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

Cell = tuple[int, int]
Bucket = tuple[int, int]


class Snake(Protocol):
    """What the index reads of a snake of the rules."""

    id: str
    dir: str
    next_dir: str
    serial: int

    @property
    def body(self) -> Sequence[Cell]: ...

    def entry(self) -> dict[str, Any]: ...


class SnakeBuckets:
    def __init__(self, size: int) -> None:
        self.size = size
        #: bucket -> (snake id, cell) -> serial: flat keys, one dict level per change
        self.cells: dict[Bucket, dict[tuple[str, Cell], int]] = {}
        self.food: dict[Bucket, dict[Cell, int]] = {}
        self.stones: dict[Bucket, dict[Cell, None]] = {}
        #: this tick's cell changes, all buckets in one dict (grouped by bucket in `take`)
        self._cells_changed: dict[tuple[str, Cell], int | None] = {}
        self._food_changed: dict[Cell, int | None] = {}
        self._stones_changed: dict[Cell, bool] = {}
        #: bucket -> snakes whose whole entry its fragment carries
        self._shown: dict[Bucket, dict[str, None]] = {}
        #: snakes whose entry (alive, score, dir, ...) changed: shown in every bucket they touch
        self.changed_snakes: dict[str, None] = {}

    @classmethod
    def of_field(
        cls, size: int, snakes: Iterable[Snake], food: Mapping[Cell, int], stones: Iterable[Cell]
    ) -> SnakeBuckets:
        """The index of a field as it stands (one scan, once)."""
        index = cls(size)
        for snake in snakes:
            for i, cell in enumerate(snake.body):
                index.add_cell(snake.id, cell, snake.serial - i)
        for cell, value in food.items():
            index.set_food(cell, value)
        for cell in stones:
            index.set_stone(cell, True)
        index.take({})  # the field as it stands is every client's starting point
        return index

    def bucket(self, cell: Cell) -> Bucket:
        return (cell[0] // self.size, cell[1] // self.size)

    # ---- changes, as the rules make them (every move of every snake: kept lean) ----------

    def add_cell(self, sid: str, cell: Cell, serial: int) -> None:
        key = (sid, cell)
        b = (cell[0] // self.size, cell[1] // self.size)
        here = self.cells.get(b)
        if here is None:
            here = self.cells[b] = {}
        here[key] = serial
        self._cells_changed[key] = serial

    def cut_cell(self, sid: str, cell: Cell) -> None:
        key = (sid, cell)
        here = self.cells.get((cell[0] // self.size, cell[1] // self.size))
        if here is not None:
            here.pop(key, None)
        self._cells_changed[key] = None

    def set_food(self, cell: Cell, value: int | None) -> None:
        """A food of `value` at `cell`, or (None) the food there is gone."""
        b = (cell[0] // self.size, cell[1] // self.size)
        if value is None:
            here = self.food.get(b)
            if here is not None:
                here.pop(cell, None)
        else:
            self.food.setdefault(b, {})[cell] = value
        self._food_changed[cell] = value

    def set_stone(self, cell: Cell, present: bool) -> None:
        b = (cell[0] // self.size, cell[1] // self.size)
        if present:
            self.stones.setdefault(b, {})[cell] = None
        elif (here := self.stones.get(b)) is not None:
            here.pop(cell, None)
        self._stones_changed[cell] = present

    def moved(self, snake: Snake, head: Cell) -> None:
        """The snake's head reached `head` (its serial counted already)."""
        sid, size = snake.id, self.size
        key = (sid, head)
        bx, by = head[0] // size, head[1] // size
        here = self.cells.get((bx, by))
        if here is None:
            here = self.cells[(bx, by)] = {}
        here[key] = self._cells_changed[key] = snake.serial
        body = snake.body
        if len(body) < 2 or body[1][0] // size != bx or body[1][1] // size != by:
            self.show(sid, (bx, by))  # its head entered a bucket: clients there may not know it
        if snake.next_dir != snake.dir:
            self.changed_snakes[sid] = None

    def show(self, sid: str, b: Bucket) -> None:
        """The bucket's fragment carries the snake's entry (its head entered the bucket)."""
        self._shown.setdefault(b, {})[sid] = None

    # ---- reading ------------------------------------------------------------------------------

    def snapshot(self, b: Bucket, snakes: Mapping[str, Snake]) -> dict[str, Any]:
        """The bucket's whole content (`snakes`: the game's, by id)."""
        here = self.cells.get(b, {})
        return {
            "b": [b[0], b[1]],
            "snakes": [snakes[sid].entry() for sid in dict.fromkeys(sid for sid, _ in here)],
            "cells": [(sid, x, y, serial) for (sid, (x, y)), serial in here.items()],
            "food": [(x, y, v) for (x, y), v in self.food.get(b, {}).items()],
            "stones": list(self.stones.get(b, {})),
        }

    def take(self, snakes: Mapping[str, Snake]) -> dict[Bucket, dict[str, Any]]:
        """Each changed bucket's fragment, and start anew (`snakes`: the game's, by id)."""
        size = self.size
        for sid in self.changed_snakes:  # its entry goes to every bucket that holds a cell of it
            if (changed := snakes.get(sid)) is not None:
                for b in {(x // size, y // size) for x, y in changed.body}:
                    self.show(sid, b)
        fragments: dict[Bucket, dict[str, Any]] = {}
        unordered: list[Bucket] = []  # fragments whose keys came out of the order of `_KEYS`
        for (sid, (x, y)), serial in self._cells_changed.items():
            b = (x // size, y // size)
            fragment = fragments.get(b)
            if fragment is None:
                fragment = fragments[b] = {}
            if serial is None:
                cut = fragment.get("cut")
                if cut is None:
                    cut = fragment["cut"] = []
                    if "cells" in fragment:
                        unordered.append(b)
                cut.append((sid, x, y))
            else:
                added = fragment.get("cells")
                if added is None:
                    added = fragment["cells"] = []
                added.append((sid, x, y, serial))
        memo: dict[str, dict[str, Any]] = {}
        for b, shown in self._shown.items():
            entries = []
            for sid in shown:
                if (snake := snakes.get(sid)) is not None:
                    if sid not in memo:
                        memo[sid] = snake.entry()
                    entries.append(memo[sid])
            if entries:
                fragments.setdefault(b, {})["snakes"] = entries
        for (x, y), value in self._food_changed.items():
            b = (x // size, y // size)
            fragment = fragments.setdefault(b, {})
            if value is None:
                if "eaten" not in fragment and "food" in fragment:
                    unordered.append(b)
                fragment.setdefault("eaten", []).append((x, y))
            else:
                fragment.setdefault("food", []).append((x, y, value))
        for (x, y), present in self._stones_changed.items():
            b = (x // size, y // size)
            fragment = fragments.setdefault(b, {})
            if not present and "stones_removed" not in fragment and "stones" in fragment:
                unordered.append(b)
            fragment.setdefault("stones" if present else "stones_removed", []).append((x, y))
        for b in unordered:
            fragment = fragments[b]
            fragments[b] = {key: fragment[key] for key in _KEYS if key in fragment}
        self._cells_changed, self._food_changed, self._stones_changed, self._shown = {}, {}, {}, {}
        self.changed_snakes = {}
        return fragments


#: a fragment's keys in the order a client applies them (docs/snake.md "Views")
_KEYS = ("cut", "cells", "snakes", "eaten", "food", "stones_removed", "stones")


def view_snapshot(width: int, height: int, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A SNAPSHOT from bucket snapshots: each snake with its cells in them, head first,
    and `serials` (each body cell's serial) beside `body`."""
    entries: dict[str, dict[str, Any]] = {}
    cells: dict[str, list[tuple[int, int, int]]] = {}
    food: list[list[int]] = []
    stones: list[list[int]] = []
    for part in parts:
        for entry in part["snakes"]:
            entries[entry["id"]] = entry
        for sid, x, y, serial in part["cells"]:
            cells.setdefault(sid, []).append((serial, x, y))
        food.extend(part["food"])
        stones.extend(part["stones"])
    snakes = []
    for sid, entry in entries.items():
        own = sorted(cells.get(sid, ()), reverse=True)
        snakes.append({**entry, "body": [[x, y] for _, x, y in own], "serials": [n for n, _, _ in own]})
    return {"width": width, "height": height, "snakes": snakes, "food": food, "stones": stones}
