from __future__ import annotations

from asgi_mmo.ratelimit import RateLimiter


def test_burst_then_rate() -> None:
    limiter = RateLimiter(rate=30, burst=60, flood_seconds=5)
    assert all(limiter.allow(0.0) for _ in range(60))
    assert not limiter.allow(0.0)
    # 0.1 s refills 3 tokens
    assert [limiter.allow(0.1) for _ in range(4)] == [True, True, True, False]


def test_flooding_needs_refusals_for_five_seconds_running() -> None:
    limiter = RateLimiter(rate=10, burst=10, flood_seconds=5)
    now = 0.0
    while limiter.allow(now):
        pass
    t = 0.0
    while t < 4.9:
        t += 0.05
        for _ in range(5):
            limiter.allow(t)
        assert not limiter.flooding(t)
    while t < 5.2:
        t += 0.05
        for _ in range(5):
            limiter.allow(t)
    assert limiter.flooding(t)


def test_a_pause_of_a_second_restarts_the_flood_clock() -> None:
    limiter = RateLimiter(rate=10, burst=10, flood_seconds=5)
    t = 0.0
    for step in range(200):  # 4 s of flooding
        t = step * 0.02
        for _ in range(3):
            limiter.allow(t)
    # pause: a full second without refusals (the bucket refills meanwhile)
    t += 1.1
    for _ in range(150):  # 3 s more: only 3 s since the pause
        t += 0.02
        for _ in range(3):
            limiter.allow(t)
    assert not limiter.flooding(t)


def test_a_polite_client_is_never_flooding() -> None:
    limiter = RateLimiter(rate=30, burst=60, flood_seconds=5)
    for step in range(1000):
        assert limiter.allow(step * 0.05)
        assert not limiter.flooding(step * 0.05)
