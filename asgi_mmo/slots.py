"""Where a room's next tick goes after one that ran past its slot.

A room ticks on a grid of slots, one period apart. A tick that ends after the
next slot began has overrun. If the room is less than a period behind, the
next tick starts at once, late but in its own slot: players get a late frame
instead of a frame missing, and the game keeps its clock (tick N still falls
in slot N, which is what clients' interpolation counts on). It keeps
catching up while each late tick ends less late than it started: a room
whose ticks are shorter than its period is soon on time again. A room a whole period behind, or one that catching up
did not bring nearer, skips the slots already gone rather than running ticks
back to back: a room that cannot keep its rate runs at a lower one and leaves
the event loop time for its sockets and the other rooms (docs/games.md,
"Time").
"""

from __future__ import annotations

import math

#: the most a tick may start late, in periods, to keep its slot
CATCH_UP = 1.0


def after_overrun(
    deadline: float, finished: float, period: float, late_by: float | None
) -> tuple[float, float | None, int]:
    """After a tick that ended at `finished`, past the `deadline` of the next slot: the next
    tick's deadline, how late it starts (None: on time, slots skipped), and the slots skipped.
    `late_by`: how late the tick that ended started, when it was catching up (else None)."""
    behind = finished - deadline
    if behind < CATCH_UP * period and (late_by is None or behind < late_by):
        return deadline, behind, 0
    skipped = math.ceil(behind / period)
    return deadline + skipped * period, None, skipped
