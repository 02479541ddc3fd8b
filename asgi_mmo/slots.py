"""Where a room's next tick goes after one that ran past its slot.

A room ticks on a grid of slots, one period apart. A tick that ends after the
next slot began has overrun. If it overran by a little (less than `CATCH_UP`
of a period), the next tick starts at once, late but in its own slot: players
get one late frame instead of a frame missing, and the game keeps its clock
(tick N still falls in slot N, which is what clients' interpolation counts on).
A room further behind, or one whose late tick overran again, skips the slots
already gone rather than running ticks back to back: a room that cannot keep
its rate runs at a lower one and leaves the event loop time for its sockets
and the other rooms (docs/games.md, "Time").
"""

from __future__ import annotations

import math

#: the most a tick may start late, as a share of its period, to keep its slot
CATCH_UP = 0.5


def after_overrun(deadline: float, finished: float, period: float, was_late: bool) -> tuple[float, bool, int]:
    """The next tick's deadline, whether it starts late, and the slots skipped (none when it
    starts late), after a tick that ended at `finished`, past the `deadline` of the next slot
    (`was_late`: that tick itself started late, catching up)."""
    behind = finished - deadline
    if not was_late and behind < CATCH_UP * period:
        return deadline, True, 0
    skipped = math.ceil(behind / period)
    return deadline + skipped * period, False, skipped
