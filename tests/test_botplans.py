"""A room's bot plans: a tick's requests go to the planner together, in batches, never waited for."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from anyio.lowlevel import checkpoint

from asgi_mmo.botplans import PLAN_BATCH, BotPlans

pytestmark = pytest.mark.anyio


class Driver:
    """Bots that each ask for a plan every tick; what they were answered."""

    def __init__(self, bots: int) -> None:
        self.bots = [f"b{n}" for n in range(bots)]
        self.accepted: dict[str, Any] = {}
        self.forgotten: list[str] = []

    def act(self, tick: int) -> list[tuple[str, Any]]:
        return [(bot, (bot, tick)) for bot in self.bots]

    def accept(self, bot_id: str, plan: Any) -> None:
        self.accepted[bot_id] = plan

    def forget(self, bot_id: str) -> None:
        self.forgotten.append(bot_id)


async def test_a_tick_s_requests_reach_the_planner_in_batches_and_each_answer_its_bot() -> None:
    driver = Driver(PLAN_BATCH + 5)
    jobs: list[list[Any]] = []

    async def planner(function: str, requests: list[Any]) -> list[Any]:
        assert function == "game:plan"
        jobs.append(requests)
        await checkpoint()
        return [f"plan for {bot} at {tick}" for bot, tick in requests]

    plans = BotPlans("r", driver, "game:plan", planner, concurrency=2)
    async with plans.planning():
        plans.act(7)
        with anyio.fail_after(5):
            while len(driver.accepted) < len(driver.bots):
                await anyio.sleep(0.01)
    assert sorted(len(job) for job in jobs) == [5, PLAN_BATCH]  # two jobs, not 21
    assert driver.accepted == {bot: f"plan for {bot} at 7" for bot in driver.bots}
    assert driver.forgotten == []


async def test_a_failed_batch_answers_its_bots_empty_and_the_room_goes_on() -> None:
    driver = Driver(3)

    async def planner(function: str, requests: list[Any]) -> list[Any]:
        raise RuntimeError("the worker broke")

    plans = BotPlans("r", driver, "game:plan", planner, concurrency=1)
    async with plans.planning():
        plans.act(1)
        with anyio.fail_after(5):
            while len(driver.accepted) < 3:
                await anyio.sleep(0.01)
    assert driver.accepted == {bot: [] for bot in driver.bots}


async def test_without_planning_the_requests_are_forgotten_at_once() -> None:
    driver = Driver(2)
    plans = BotPlans("r", driver, "game:plan", None, concurrency=1)
    plans.act(1)
    assert driver.forgotten == ["b0", "b1"] and driver.accepted == {}
