"""The four directions of the snake field, as the protocol names them.

The lowest module of the snake package (standard library only): the rules,
the bots and the pathfinding that runs in worker processes all read these.
"""

from __future__ import annotations

from typing import Final

#: Direction -> (dx, dy). `up` is y-1, `right` is x+1, as in the protocol. The order
#: (up, down, left, right) is the order searches try neighbours in: keep it fixed.
DIRECTIONS: Final[dict[str, tuple[int, int]]] = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
#: The turn straight back, which the rules ignore.
OPPOSITE: Final[dict[str, str]] = {"up": "down", "down": "up", "left": "right", "right": "left"}
#: The direction of a one-cell step `(dx, dy)`.
DIR_OF_STEP: Final[dict[tuple[int, int], str]] = {v: k for k, v in DIRECTIONS.items()}
