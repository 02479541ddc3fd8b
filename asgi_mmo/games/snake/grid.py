"""The snake field as flat byte arrays, kept current by the rules: what bots plan on.

`blocked` holds 1 on every cell of a live snake and 2 on every stone (index
`y*W + x`, the layout `pathfinding` reads); `food` holds each food's value.
The rules write a byte at every change they make (a head, a tail, a death, a
stone, a food), so nothing rebuilds the field per tick, and a bot's planning
window is a few slices of rows: its food found by a C-speed scan of the
window, not by a walk over every food of the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Cell = tuple[int, int]

SNAKE = 1
STONE = 2
_ONE = bytes([0] + [1] * 255)  # a translation table: every food value to 1


class FieldGrid:
    __slots__ = ("width", "height", "blocked", "food")

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.blocked = bytearray(width * height)
        self.food = bytearray(width * height)

    @classmethod
    def of(
        cls, width: int, height: int, occupied: Iterable[Cell], stones: Iterable[Cell], food: Mapping[Cell, int]
    ) -> FieldGrid:
        """The grid of a field as it stands (one scan, for a restored game)."""
        grid = cls(width, height)
        grid.mark(occupied, SNAKE)
        grid.mark(stones, STONE)
        for (x, y), value in food.items():
            grid.food[y * width + x] = value
        return grid

    def mark(self, cells: Iterable[Cell], value: int) -> None:
        """`blocked` of these cells set to `value` (0: free)."""
        blocked, width = self.blocked, self.width
        for x, y in cells:
            blocked[y * width + x] = value

    def window(self, x0: int, y0: int, x1: int, y1: int) -> tuple[bytes, list[Cell]]:
        """Columns x0..x1-1, rows y0..y1-1: their `blocked` bytes (row by row) and
        the food cells in them, in the window's coordinates."""
        width = self.width
        rows = range(y0 * width, y1 * width, width)
        blocked = b"".join([self.blocked[row + x0 : row + x1] for row in rows])
        food = b"".join([self.food[row + x0 : row + x1] for row in rows])
        side = x1 - x0
        # Food is sparse: every value made 1, then `find` hops from one to the next in C
        # (3x faster than a regex scan of each byte).
        marked = food.translate(_ONE)
        found: list[Cell] = []
        i = marked.find(1)
        while i >= 0:
            found.append((i % side, i // side))
            i = marked.find(1, i + 1)
        return blocked, found
