"""The tick budget (pure): who is slowed, by how much, and which rooms are let in."""

from __future__ import annotations

import pytest

from asgi_mmo.admission import ACTIVE_SECONDS, Pace, TickBudget, estimated_cost


def tick(budget: TickBudget, paces: list[Pace], costs: list[float], now: float) -> None:
    for pace, cost in zip(paces, costs, strict=True):
        pace.next_period(cost, now)
    budget.reallocate(now, force=True)


def test_under_budget_every_room_ticks_at_its_rate() -> None:
    budget = TickBudget(0.75)
    paces = [budget.enroll(1 / 20) for _ in range(5)]
    tick(budget, paces, [0.005] * 5, 1.0)  # 5 x 10 %
    assert [pace.current for pace in paces] == [1 / 20] * 5
    assert budget.slowed == 0


def test_over_budget_heavy_rooms_share_what_the_light_ones_leave() -> None:
    budget = TickBudget(0.75)
    light = budget.enroll(1 / 10)
    heavy = [budget.enroll(1 / 60) for _ in range(3)]
    tick(budget, [light, *heavy], [0.001, 0.027, 0.027, 0.027], 1.0)
    assert light.current == pytest.approx(1 / 10) and not light.slowed
    share = (0.75 - 0.001 / 0.1) / 3
    for pace in heavy:
        assert pace.slowed
        assert pace.current == pytest.approx(0.027 / share)
    assert budget.slowed == 3
    needed = sum(pace.cost / pace.current for pace in [light, *heavy])
    assert needed == pytest.approx(0.75)


def test_a_room_alone_is_never_slowed_and_idle_rooms_do_not_count() -> None:
    budget = TickBudget(0.75)
    world, idle = budget.enroll(1 / 20), budget.enroll(1 / 60)
    tick(budget, [world, idle], [0.045, 0.027], 1.0)  # 90 % and 160 %
    assert world.slowed and idle.slowed
    world.next_period(0.045, 1.0 + ACTIVE_SECONDS + 1)
    budget.reallocate(1.0 + ACTIVE_SECONDS + 1, force=True)
    assert not world.slowed


def test_admission_refuses_a_tick_too_long_for_the_others_to_wait() -> None:
    budget = TickBudget(0.75, max_tick=0.025)
    heaviest = estimated_cost(100, 1000 * 1000)  # what the API allows: 100 bots, 1000 x 1000
    assert heaviest > 0.025
    assert not budget.admits(heaviest, 1.0)  # at any rate: no budget splits one tick
    assert budget.admits(estimated_cost(30, 200 * 200), 1 / 10)
    assert TickBudget(0.75, max_tick=0).admits(heaviest, 1.0)


def test_admission_lets_light_rooms_in_and_refuses_one_that_cannot_fit() -> None:
    budget = TickBudget(0.75)
    cost = estimated_cost(15, 1000 * 1000)
    assert 0.5 < cost * 60 < 0.75  # fits an empty process only
    assert budget.admits(cost, 1 / 60)
    budget.enroll(1 / 60, cost)
    assert not budget.admits(cost, 1 / 60)
    light = estimated_cost(0, 40 * 30)
    assert budget.admits(light, 1 / 10)
    for _ in range(999):  # a thousand default rooms still fit
        budget.enroll(1 / 10, light)
    assert budget.admits(light, 1 / 10)
    assert TickBudget(0, max_tick=0).admits(100.0, 1 / 60)
