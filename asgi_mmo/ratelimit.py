"""Per-connection message rate limit and flood detection (pure; the caller passes the time)."""

from __future__ import annotations


class RateLimiter:
    """A token bucket of `burst` tokens refilled at `rate` per second.

    `allow(now)` is False for a message over the limit. `flooding(now)` turns
    True once messages have been refused for `flood_seconds` running with no
    pause of `pause_seconds` or more between two refusals.
    """

    __slots__ = ("rate", "burst", "flood_seconds", "pause_seconds", "_tokens", "_updated",
                 "_refusing_since", "_last_refusal")

    def __init__(self, rate: float, burst: int, flood_seconds: float, pause_seconds: float = 1.0) -> None:
        self.rate = rate
        self.burst = burst
        self.flood_seconds = flood_seconds
        self.pause_seconds = pause_seconds
        self._tokens = float(burst)
        self._updated: float | None = None
        self._refusing_since: float | None = None
        self._last_refusal: float | None = None

    def allow(self, now: float) -> bool:
        if self._updated is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        if self._last_refusal is None or now - self._last_refusal >= self.pause_seconds:
            self._refusing_since = now
        self._last_refusal = now
        return False

    def flooding(self, now: float) -> bool:
        return (
            self._refusing_since is not None
            and self._last_refusal is not None
            and now - self._last_refusal < self.pause_seconds
            and self._last_refusal - self._refusing_since >= self.flood_seconds
        )
