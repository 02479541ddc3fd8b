"""Where a room's next tick goes after an overrun (`slots.after_overrun`), as a pure rule."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from asgi_mmo.slots import CATCH_UP, after_overrun

PERIOD = 0.05


def test_a_little_behind_the_next_tick_starts_at_once_in_its_own_slot() -> None:
    assert after_overrun(1.0, 1.0 + 0.2 * PERIOD, PERIOD, was_late=False) == (1.0, True, 0)


def test_a_tick_that_caught_up_and_overran_again_skips_the_slot_it_ran_into() -> None:
    assert after_overrun(1.0, 1.0 + 0.2 * PERIOD, PERIOD, was_late=True) == (1.0 + PERIOD, False, 1)


def test_half_a_period_behind_or_more_skips_every_slot_gone() -> None:
    assert after_overrun(1.0, 1.0 + 0.6 * PERIOD, PERIOD, was_late=False) == (1.0 + PERIOD, False, 1)
    deadline, late, skipped = after_overrun(1.0, 1.0 + 2.3 * PERIOD, PERIOD, was_late=False)
    assert (round((deadline - 1.0) / PERIOD, 9), late, skipped) == (3, False, 3)


@given(st.lists(st.floats(0.0, 3.0), min_size=1, max_size=60))
def test_ticks_stay_on_the_grid_never_start_half_a_period_late_nor_twice_in_a_row(costs: list[float]) -> None:
    """A room's loop, simulated: each tick costs `cost` periods and starts at its deadline or, when
    that has passed, at once."""
    deadline, late, now, was_late_before = 0.0, False, 0.0, False
    for cost in costs:
        started = max(now, deadline)
        assert started - deadline < CATCH_UP * PERIOD + 1e-12  # never more than half a period late
        assert not (late and was_late_before)  # two late starts in a row: back to back twice
        was_late_before = late
        now = started + cost * PERIOD
        deadline += PERIOD
        if now > deadline:
            before = deadline
            deadline, late, skipped = after_overrun(deadline, now, PERIOD, late)
            assert math.isclose(deadline - before, skipped * PERIOD, abs_tol=1e-9)  # the count is the slots
        else:
            late = False
        slot = deadline / PERIOD
        assert math.isclose(slot, round(slot), abs_tol=1e-6)  # on the grid
        assert deadline >= now - CATCH_UP * PERIOD - 1e-9  # the slots wholly gone were skipped
