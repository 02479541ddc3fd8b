"""The snake field on a grid of buckets, for view rooms (docs/snake.md "Views").

`SnakeBuckets` notes each tick's changes straight into the fragment of the
bucket they fall in, as the rules make them: a move is two list appends (its
head's cell, its tail's cut), so a tick's fragments need no pass of their own.
A bucket's snapshot lists the cells of the snakes that lie in it, each with
its serial (a snake's cells are numbered as its head reaches them, so a
client orders a body it sees only in parts; a cell's number never changes),
and the food and stones it keeps per bucket. A short snake is read off its
body; a long one (over `LONG` cells: the bots' grow to hundreds) has its
cells kept by bucket as it moves (its head's item appended, its tail's, the
oldest there, dropped) and copied, so a snapshot never walks a body of
hundreds of cells for the few it has in the bucket. Short snakes keep
nothing more: in a world of a thousand snakes each object a move touches
is a cache miss. A snapshot never scans the field.

Every cell of a fragment is listed once, as it ended the tick, so a fragment
is safe to apply in any order and twice: a move into the cell its own tail
just left is only the new cell; a snake whose body is replaced outside a
move (spawned, respawned, gone) is listed once more from what clients last
held (`rebuild`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, Protocol

from asgi_mmo.games.snake.directions import DIRECTIONS

Cell = tuple[int, int]
Bucket = tuple[int, int]
#: a fragment's items: a cell set (`cells`) and a cell cut
CellSet = tuple[str, int, int, int]
CellCut = tuple[str, int, int]
#: a snake of more cells has them kept by bucket as it moves (`_long`); a shorter one is read
#: off its body, which costs less than keeping it for the few buckets it lies in
LONG = 48


class Snake(Protocol):
    """What the index reads of a snake of the rules."""

    id: str
    dir: str  # the way it moved last: where its neck lies, for `moved`
    next_dir: str
    serial: int

    @property
    def body(self) -> Sequence[Cell]: ...

    def entry(self) -> dict[str, Any]: ...


class SnakeBuckets:
    def __init__(self, size: int) -> None:
        self.size = size
        #: bucket -> the snakes with a cell in it (ghosts too)
        self.present: dict[Bucket, dict[str, None]] = {}
        #: bucket -> cell -> the food there as a snapshot lists it, `(x, y, value)`: a snapshot
        #: copies the items, never unpacks a cell (in a world, each one read is a cache miss)
        self.food: dict[Bucket, dict[Cell, tuple[int, int, int]]] = {}
        self.stones: dict[Bucket, dict[Cell, None]] = {}
        #: bucket -> how many snake cells (ghosts' too) it holds, kept as they move (the minimap's)
        self.counts: dict[Bucket, int] = {}
        #: snake -> bucket -> how many of its cells lie there: where an entry that changed goes
        self._spans: dict[str, dict[Bucket, int]] = {}
        #: snake -> bucket -> its cells there, oldest (the tail's end) first, as the fragments list
        #: them: kept for a snake of more than LONG cells, for snapshots to copy
        self._long: dict[str, dict[Bucket, deque[CellSet]]] = {}
        #: this tick's fragments' cells and cuts, by bucket, in the order they came
        self._sets: dict[Bucket, list[CellSet]] = {}
        self._cuts: dict[Bucket, list[CellCut]] = {}
        #: this tick's moves, as `moved` had them (their cells are in `_sets` and `_cuts`)
        self._moves: list[Sequence[tuple[Snake, Cell, Cell | None]]] = []
        #: the ids of `_moves`' snakes, once a rebuild asked (`_moved_ids`)
        self._moved: dict[str, None] | None = None
        #: snakes rebuilt this tick -> the cells clients held of them when the tick began
        self._rebuilt: dict[str, set[Cell]] = {}
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
            index.placed(snake)
        for cell, value in food.items():
            index.set_food(cell, value)
        for cell in stones:
            index.set_stone(cell, True)
        index.take({})  # the field as it stands is every client's starting point
        return index

    def bucket(self, cell: Cell) -> Bucket:
        return (cell[0] // self.size, cell[1] // self.size)

    # ---- changes, as the rules make them (every move of every snake: kept lean) ----------

    def moved(self, moves: Sequence[tuple[Snake, Cell, Cell | None]]) -> None:
        """This tick's moves, all at once: each snake's head reached the cell given (its serial
        counted already) and its tail left the other (None: it grew). A snake that turned is
        the rules' to note in `changed_snakes`."""
        self._moves.append(moves)
        self._moved = None  # (a rebuild before these moves listed the others)
        size, rebuilt, present, counts = self.size, self._rebuilt, self.present, self.counts
        cuts_of, sets_of, shown, spans, long = self._cuts, self._sets, self._shown, self._spans, self._long
        directions = DIRECTIONS
        for snake, (hx, hy), tail in moves:
            sid = snake.id
            bx, by = hx // size, hy // size
            b = (bx, by)
            item = (sid, hx, hy, snake.serial)
            if tail is not None:
                tx, ty = tail
                tb = (tx // size, ty // size)
            if (kept := long.get(sid)) is not None:  # a long snake: its cells by bucket too
                if tail is not None:
                    cells = kept[tb]
                    cells.popleft()  # the tail's cell is the snake's oldest, so the oldest kept there
                    if not cells:
                        del kept[tb]
                if (entered := kept.get(b)) is None:
                    kept[b] = deque((item,))
                else:
                    entered.append(item)
            if tail is None or tb != b:
                # a cell more in the head's bucket (most moves stay in one bucket: nothing to count)
                counts[b] = counts.get(b, 0) + 1
                span = spans[sid]
                if (held := span.get(b, 0)) == 0:
                    present.setdefault(b, {})[sid] = None
                span[b] = held + 1
                if tail is not None:  # and one less in the tail's
                    counts[tb] -= 1
                    if span[tb] == 1:
                        del span[tb]
                        del present[tb][sid]
                    else:
                        span[tb] -= 1
                elif kept is None and len(snake.body) > LONG:  # it grew long: kept by bucket from now
                    long[sid] = self._by_bucket(snake)
            if rebuilt and sid in rebuilt:  # its cells are listed from its body in `take`
                if tail is not None:
                    rebuilt[sid].add(tail)
                continue
            if tail is not None and (tx != hx or ty != hy):  # (into its own tail's cell: the set says it all)
                if (cuts := cuts_of.get(tb)) is None:
                    cuts_of[tb] = [(sid, tx, ty)]
                else:
                    cuts.append((sid, tx, ty))
            if (sets := sets_of.get(b)) is None:
                sets_of[b] = [item]
            else:
                sets.append(item)
            # Its neck is where the head was, one step back (read off `dir`: the body's second
            # cell is one more object to fetch per move); a snake of one cell has none.
            dx, dy = directions[snake.dir]
            nx, ny = hx - dx, hy - dy
            if nx // size != bx or ny // size != by or (tail is not None and tx == nx and ty == ny):
                # its head entered a bucket: clients there may not know it
                shown.setdefault(b, {})[sid] = None

    def rebuild(self, snake: Snake) -> None:
        """The rules are about to replace or drop the snake's body outside a move (a spawn,
        a respawn, the player gone; `placed` follows a new body): `take` lists its cells
        from what clients held."""
        sid = snake.id
        held = self._rebuilt.get(sid)
        if held is None:
            held = self._rebuilt[sid] = set()
            if self._moves and sid in self._moved_ids():
                # it moved this tick too: take its move back, keep the cell it left
                for b, cuts in self._cuts.items():
                    held.update((x, y) for cut, x, y in cuts if cut == sid)
                    self._cuts[b] = [cut for cut in cuts if cut[0] != sid]
                for b, sets in self._sets.items():
                    self._sets[b] = [cell for cell in sets if cell[0] != sid]
        # Every cell it had since the tick began (a client may have taken a snapshot since):
        # a superset does, as a cut of a cell a client lacks changes nothing.
        held.update(snake.body)
        self._count(snake, -1)  # (`placed` counts its new body)

    def _moved_ids(self) -> dict[str, None]:
        """The snakes that moved this tick, listed once for all the tick's rebuilds (respawns
        come several a tick: a pass over every move for each cost more than the moves)."""
        if self._moved is None:
            self._moved = {moved.id: None for batch in self._moves for moved, _, _ in batch}
        return self._moved

    def set_food(self, cell: Cell, value: int | None) -> None:
        """A food of `value` at `cell`, or (None) the food there is gone."""
        b = (cell[0] // self.size, cell[1] // self.size)
        if value is None:
            here = self.food.get(b)
            if here is not None:
                here.pop(cell, None)
        else:
            self.food.setdefault(b, {})[cell] = (cell[0], cell[1], value)
        self._food_changed[cell] = value

    def set_stone(self, cell: Cell, present: bool) -> None:
        b = (cell[0] // self.size, cell[1] // self.size)
        if present:
            self.stones.setdefault(b, {})[cell] = None
        elif (here := self.stones.get(b)) is not None:
            here.pop(cell, None)
        self._stones_changed[cell] = present

    def _count(self, snake: Snake, sign: int) -> None:
        """The snake's whole body counted in (1) or out (-1), where it lies and in all."""
        size, counts, sid = self.size, self.counts, snake.id
        span: dict[Bucket, int] = {}
        for x, y in snake.body:
            b = (x // size, y // size)
            counts[b] = counts.get(b, 0) + sign
            span[b] = span.get(b, 0) + 1
        for b in span:
            if sign > 0:
                self.present.setdefault(b, {})[sid] = None
            elif (here := self.present.get(b)) is not None:
                here.pop(sid, None)
        if sign > 0:
            self._spans[sid] = span
            if len(snake.body) > LONG:
                self._long[sid] = self._by_bucket(snake)
        else:
            self._spans.pop(sid, None)
            self._long.pop(sid, None)

    def _by_bucket(self, snake: Snake) -> dict[Bucket, deque[CellSet]]:
        """The snake's cells by bucket, each bucket's oldest first, from its body (once it is long)."""
        size, sid, serial = self.size, snake.id, snake.serial
        kept: dict[Bucket, deque[CellSet]] = {}
        for i, (x, y) in enumerate(snake.body):  # head first: appended on the left, oldest ends first
            b = (x // size, y // size)
            if (cells := kept.get(b)) is None:
                cells = kept[b] = deque()
            cells.appendleft((sid, x, y, serial - i))
        return kept

    def placed(self, snake: Snake) -> None:
        """The snake has a new body (after `rebuild`): a bucket's snapshot reads it from now."""
        self._count(snake, 1)

    # ---- reading ------------------------------------------------------------------------------

    def cells_in(self, b: Bucket, snakes: Mapping[str, Snake]) -> tuple[list[CellSet], list[str]]:
        """Every snake cell in the bucket (ghosts' too), with its serial, and the snakes they are of."""
        found: list[CellSet] = []
        append = found.append
        here = self.present.get(b)
        if not here:
            return found, []
        long, spans = self._long, self._spans
        x0, y0 = b[0] * self.size, b[1] * self.size
        x1, y1 = x0 + self.size, y0 + self.size
        for sid in here:  # each has a cell here: `present` changes with `_spans`
            if (kept := long.get(sid)) is not None:  # its cells here, kept
                found.extend(kept[b])
                continue
            snake = snakes[sid]
            serial = snake.serial
            span = spans[sid]
            if len(span) == 1:  # all of it lies here (most snakes): no cell to test
                for x, y in snake.body:  # (a plain loop: 20-45 % less than a generator for 3-20 cells)
                    append((sid, x, y, serial))
                    serial -= 1
            else:  # a short snake across buckets: its cells here, and no further once all are found
                cells = (
                    (sid, x, y, serial - i) for i, (x, y) in enumerate(snake.body) if x0 <= x < x1 and y0 <= y < y1
                )
                found.extend(islice(cells, span[b]))
        return found, list(here)

    def occupancy(self) -> Iterator[tuple[Bucket, int]]:
        """Snake cells per bucket (ghosts' too), for the buckets holding any."""
        return ((b, count) for b, count in self.counts.items() if count > 0)

    def snapshot(self, b: Bucket, snakes: Mapping[str, Snake]) -> dict[str, Any]:
        """The bucket's whole content (`snakes`: the game's, by id)."""
        cells, owners = self.cells_in(b, snakes)
        return {
            "b": [b[0], b[1]],
            "snakes": [snakes[sid].entry() for sid in owners],
            "cells": cells,
            "food": list(self.food.get(b, {}).values()),
            "stones": list(self.stones.get(b, {})),
        }

    def take(self, snakes: Mapping[str, Snake]) -> dict[Bucket, dict[str, Any]]:
        """Each changed bucket's fragment, and start anew (`snakes`: the game's, by id)."""
        size = self.size
        if self._rebuilt:
            self._list_rebuilt(snakes)
        shown_in, spans = self._shown, self._spans
        for sid in self.changed_snakes:  # its entry goes to every bucket that holds a cell of it
            if sid in snakes:
                for b in spans.get(sid, ()):
                    shown_in.setdefault(b, {})[sid] = None
        # Keys in the order a client applies them (`_KEYS`): cuts before cells, ...
        fragments: dict[Bucket, dict[str, Any]] = {b: {"cut": cuts} for b, cuts in self._cuts.items() if cuts}
        for b, sets in self._sets.items():
            if sets:
                if (fragment := fragments.get(b)) is None:
                    fragments[b] = {"cells": sets}
                else:
                    fragment["cells"] = sets
        unordered: list[Bucket] = []  # fragments whose keys came out of the order of `_KEYS`
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
        self._sets, self._cuts, self._moves, self._rebuilt, self._moved = {}, {}, [], {}, None
        self._food_changed, self._stones_changed, self._shown = {}, {}, {}
        self.changed_snakes = {}
        return fragments

    def _list_rebuilt(self, snakes: Mapping[str, Snake]) -> None:
        """The cells of the snakes rebuilt this tick: cuts of what clients held and the snake
        no longer has, then every cell it has now (serials change with a new body)."""
        size = self.size
        for sid, held in self._rebuilt.items():
            snake = snakes.get(sid)
            now: dict[Cell, int] = {}
            if snake is not None:
                now = {cell: snake.serial - i for i, cell in enumerate(snake.body)}
            for x, y in held:
                if (x, y) not in now:
                    self._cuts.setdefault((x // size, y // size), []).append((sid, x, y))
            for (x, y), serial in now.items():
                self._sets.setdefault((x // size, y // size), []).append((sid, x, y, serial))


#: a fragment's keys in the order a client applies them (docs/snake.md "Views")
_KEYS = ("cut", "cells", "snakes", "eaten", "food", "stones_removed", "stones")


#: a view SNAPSHOT holds no food or stone farther than this outside the view's rectangle
#: (PROTOCOL.md "View rooms"), though the buckets it is built from reach farther (64 cells)
REACH = 32


def view_snapshot(
    width: int, height: int, parts: Sequence[dict[str, Any]], area: tuple[int, int, int, int]
) -> dict[str, Any]:
    """A SNAPSHOT from bucket snapshots: each snake with its cells in them, head first,
    and `serials` (each body cell's serial) beside `body`; food and stones within REACH
    of `area` (x, y, width, height)."""
    entries: dict[str, dict[str, Any]] = {}
    cells: dict[str, list[tuple[int, int, int]]] = {}
    food: list[list[int]] = []
    stones: list[list[int]] = []
    x0, y0 = area[0] - REACH, area[1] - REACH
    x1, y1 = area[0] + area[2] - 1 + REACH, area[1] + area[3] - 1 + REACH
    for part in parts:
        for entry in part["snakes"]:
            entries[entry["id"]] = entry
        for sid, x, y, serial in part["cells"]:
            cells.setdefault(sid, []).append((serial, x, y))
        food += [item for item in part["food"] if x0 <= item[0] <= x1 and y0 <= item[1] <= y1]
        stones += [item for item in part["stones"] if x0 <= item[0] <= x1 and y0 <= item[1] <= y1]
    snakes = []
    for sid, entry in entries.items():
        own = sorted(cells.get(sid, ()), reverse=True)
        snakes.append({**entry, "body": [[x, y] for _, x, y in own], "serials": [n for n, _, _ in own]})
    return {"width": width, "height": height, "snakes": snakes, "food": food, "stones": stones}
