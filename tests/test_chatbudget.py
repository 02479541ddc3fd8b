"""A player's chat lines limited by what they cost the room (`asgi_mmo/chatbudget.py`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from asgi_mmo.chatbudget import ChatBudget
from asgi_mmo.settings import Settings


def lines_let_through(budget: ChatBudget, readers: int, per_second: float, seconds: float) -> int:
    """Lines allowed of `per_second` tried for `seconds`, evenly spaced."""
    tries = round(per_second * seconds)
    return sum(budget.allow(i / per_second, readers) for i in range(tries))


def test_in_a_room_of_fifty_the_message_limit_binds_first() -> None:
    settings = Settings()
    budget = ChatBudget(settings.chat_sends)
    assert lines_let_through(budget, 50, settings.rate_limit, 60.0) == round(settings.rate_limit * 60)


def test_in_a_world_one_players_chat_costs_the_room_its_budget_and_no_more() -> None:
    budget = ChatBudget(2000.0)
    # 30 lines a second for a minute, read by 1,000: 4 at once, then 2 a second.
    allowed = lines_let_through(budget, 1000, 30.0, 60.0)
    assert 4 + 2 * 59 <= allowed <= 4 + 2 * 60
    assert allowed * 1000 <= 2000.0 * 60 + budget.depth
    assert budget.lines_per_second(1000) == 2.0


def test_a_line_a_room_too_large_for_the_bucket_still_goes_now_and_then() -> None:
    budget = ChatBudget(10.0)  # 20 deep: a room of 100 pays 20 a line
    assert budget.allow(0.0, 100)
    assert not budget.allow(1.9, 100)
    assert budget.allow(2.0, 100)
    assert budget.lines_per_second(100) == 0.5


def test_a_quiet_player_saves_up_only_a_burst() -> None:
    budget = ChatBudget(2000.0)  # in a room of 1,000: two seconds' worth is 4 lines
    assert sum(budget.allow(i * 1e-6, 1000) for i in range(10)) == 4
    allowed = sum(budget.allow(3600.0 + i * 1e-6, 1000) for i in range(10))  # an hour of silence, then ten at once
    assert allowed == 4
    assert budget.allow(3600.5, 1000), "half a second later: one more"
    assert not budget.allow(3600.5, 1000)


def test_no_budget_lets_everything_through() -> None:
    budget = ChatBudget(0.0)
    assert all(budget.allow(0.0, 10**6) for _ in range(1000))


@given(
    readers=st.integers(min_value=0, max_value=5000),
    gaps=st.lists(st.floats(min_value=0.0, max_value=3.0, allow_nan=False), min_size=1, max_size=200),
)
def test_what_it_lets_through_never_costs_more_than_its_budget(readers: int, gaps: list[float]) -> None:
    budget = ChatBudget(500.0)
    now, sent = 0.0, 0
    for gap in gaps:
        now += gap
        if budget.allow(now, readers):
            sent += 1
    cost = min(max(1, readers), budget.depth)
    assert sent * cost <= budget.depth + 500.0 * now + 1e-6
