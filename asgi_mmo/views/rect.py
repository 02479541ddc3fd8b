"""A player's view: its size, asked and clamped, its rectangle, and how it follows the player.

Rectangles move with hysteresis: only once the focus (a snake's head) comes
within `MARGIN` cells of an edge does the rectangle move, and then it centres
on the focus, its corner snapped to a grid (`_snap`), so players in the same
place get the same rectangle and share one frame body. The rectangle always
lies inside the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import orjson

MIN_SIDE = 16
MAX_SIDE = 128
#: the size of a view that asks for none (or for one that cannot be read)
DEFAULT_SIZE = (64, 40)
#: the focus stays at least this many cells from each edge, where the field leaves room
MARGIN = 4


@dataclass(frozen=True, slots=True)
class Rect:
    """Columns `x` .. `x+width-1`, rows `y` .. `y+height-1`."""

    x: int
    y: int
    width: int
    height: int

    def to_json(self) -> str:
        return orjson.dumps({"x": self.x, "y": self.y, "width": self.width, "height": self.height}).decode()

    def keeps(self, focus: tuple[int, int]) -> bool:
        """The focus lies at least MARGIN cells inside every edge: a view following it stays."""
        return (
            self.x + MARGIN <= focus[0] <= self.x + self.width - 1 - MARGIN
            and self.y + MARGIN <= focus[1] <= self.y + self.height - 1 - MARGIN
        )


class BucketRect(NamedTuple):
    """The buckets a rectangle touches: columns `x0` .. `x1`, rows `y0` .. `y1` (inclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def of(cls, rect: Rect, size: int) -> BucketRect:
        x1, y1 = (rect.x + rect.width - 1) // size, (rect.y + rect.height - 1) // size
        return cls(rect.x // size, rect.y // size, x1, y1)

    def holds(self, bucket: tuple[int, int]) -> bool:
        bx, by = bucket
        return self.x0 <= bx <= self.x1 and self.y0 <= by <= self.y1

    def buckets(self) -> list[tuple[int, int]]:
        return [(bx, by) for by in range(self.y0, self.y1 + 1) for bx in range(self.x0, self.x1 + 1)]


#: no bucket at all: what a client is taken to hold whole when every bucket it covers must enter again
NOWHERE = BucketRect(0, 0, -1, -1)


def clamp_size(width: int, height: int, field_width: int, field_height: int) -> tuple[int, int]:
    """Each side within MIN_SIDE..MAX_SIDE and within the field."""
    return (
        min(max(MIN_SIDE, min(width, MAX_SIDE)), field_width),
        min(max(MIN_SIDE, min(height, MAX_SIDE)), field_height),
    )


#: the view size a joining player asked for (`view=WxH`), not clamped yet; None: the default
ViewAsked = tuple[int, int] | None


def parse_size(text: str | None) -> ViewAsked:
    """`"64x40"` as `(64, 40)` (not clamped yet); None when it cannot be read."""
    if not text:
        return None
    width, sep, height = text.lower().partition("x")
    # isascii: "²".isdigit() is True, and int("²") raises
    if not sep or not (width.isascii() and height.isascii() and width.isdigit() and height.isdigit()) \
            or len(width) > 6 or len(height) > 6:
        return None
    return int(width), int(height)


def _snap(side: int) -> int:
    # Centring snapped to this grid leaves the focus at least MARGIN cells from each edge.
    return 8 if side >= 32 else 4


def _start(focus: int, side: int, field_side: int) -> int:
    snap = _snap(side)
    start = (focus - side // 2 + snap // 2) // snap * snap
    return max(0, min(start, field_side - side))


def place(focus: tuple[int, int], width: int, height: int, field_width: int, field_height: int) -> Rect:
    """A rectangle of this size centred (snapped) on `focus`, inside the field."""
    return Rect(_start(focus[0], width, field_width), _start(focus[1], height, field_height), width, height)


def follow(rect: Rect, focus: tuple[int, int] | None, field_width: int, field_height: int) -> Rect:
    """`rect`, moved along each axis where `focus` came within MARGIN of an edge (or left it)."""
    if focus is None:
        return rect
    fx, fy = focus
    x, y = rect.x, rect.y
    if not x + MARGIN <= fx <= x + rect.width - 1 - MARGIN:
        x = _start(fx, rect.width, field_width)
    if not y + MARGIN <= fy <= y + rect.height - 1 - MARGIN:
        y = _start(fy, rect.height, field_height)
    if x == rect.x and y == rect.y:
        return rect
    return Rect(x, y, rect.width, rect.height)
