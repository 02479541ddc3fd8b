"""Where a room's next tick goes after an overrun (`slots.after_overrun`), as a pure rule."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi_mmo.slots import CATCH_UP, after_overrun

PERIOD = 0.05


def test_behind_by_less_than_a_period_the_next_tick_starts_at_once_in_its_own_slot() -> None:
    for behind in (0.2, 0.9):
        deadline, late, skipped = after_overrun(1.0, 1.0 + behind * PERIOD, PERIOD, late_by=None)
        assert (deadline, skipped) == (1.0, 0) and late == pytest.approx(behind * PERIOD)


def test_a_late_tick_that_brought_the_room_nearer_its_slot_lets_the_next_catch_up_too() -> None:
    deadline, late, skipped = after_overrun(1.0, 1.0 + 0.3 * PERIOD, PERIOD, late_by=0.6 * PERIOD)
    assert (deadline, skipped) == (1.0, 0) and late == pytest.approx(0.3 * PERIOD)


def test_a_late_tick_that_did_not_bring_the_room_nearer_skips_the_slot_it_ran_into() -> None:
    assert after_overrun(1.0, 1.0 + 0.3 * PERIOD, PERIOD, late_by=0.2 * PERIOD) == (1.0 + PERIOD, None, 1)


def test_a_whole_period_behind_skips_every_slot_gone() -> None:
    deadline, late, skipped = after_overrun(1.0, 1.0 + 2.3 * PERIOD, PERIOD, late_by=None)
    assert (round((deadline - 1.0) / PERIOD, 9), late, skipped) == (3, None, 3)


@given(st.lists(st.floats(0.0, 3.0), min_size=1, max_size=60))
def test_ticks_stay_on_the_grid_and_start_late_only_while_that_catches_up(costs: list[float]) -> None:
    """A room's loop, simulated: each tick costs `cost` periods and starts at its deadline or, when
    that has passed, at once."""
    deadline, late, now, started_late_by = 0.0, None, 0.0, None
    for cost in costs:
        started = max(now, deadline)
        lateness = started - deadline
        assert lateness < CATCH_UP * PERIOD + 1e-12  # never a period late
        if late is not None:
            assert math.isclose(lateness, late, abs_tol=1e-12)  # as late as the rule said
        if late is not None and started_late_by is not None:
            assert late < started_late_by  # two late starts in a row: each later one less late
        started_late_by = late
        now = started + cost * PERIOD
        deadline += PERIOD
        if now > deadline:
            before = deadline
            deadline, late, skipped = after_overrun(deadline, now, PERIOD, late)
            assert math.isclose(deadline - before, skipped * PERIOD, abs_tol=1e-9)  # the count is the slots
        else:
            late = None
        slot = deadline / PERIOD
        assert math.isclose(slot, round(slot), abs_tol=1e-6)  # on the grid
        assert deadline >= now - CATCH_UP * PERIOD - 1e-9  # the slots wholly gone were skipped
