"""Per-room counters and a window of recent tick durations; the percentile summary
that the room statistics and the load test both print."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

#: ticks kept for the duration percentiles (10 s at 60 Hz, 60 s at 10 Hz)
WINDOW = 600


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


@dataclass(slots=True)
class RoomStats:
    ticks: int = 0
    overruns: int = 0
    slots_skipped: int = 0  # slots an overrun cost (one caught up in its own slot costs none)
    msgs_in: int = 0
    bytes_in: int = 0
    msgs_out: int = 0
    bytes_out: int = 0
    ticks_dropped: int = 0  # tick frames a slow client missed (it got a state instead)
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    lateness: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def record_tick(self, duration: float, lateness: float) -> None:
        self.ticks += 1
        self.durations.append(duration)
        self.lateness.append(lateness)

    def tick_ms(self) -> dict[str, float]:
        """p50, p99 and max of the recent tick durations, in milliseconds."""
        return summary_ms(self.durations)

    def lateness_ms(self) -> dict[str, float]:
        """How late ticks started against their deadline (event loop pressure)."""
        return summary_ms(self.lateness)


def summary_ms(seconds: Iterable[float], digits: int = 3) -> dict[str, float]:
    """p50, p99 and max of durations in seconds, in milliseconds rounded to `digits`."""
    ordered = sorted(seconds)
    return {
        "p50": round(percentile(ordered, 0.50) * 1000, digits),
        "p99": round(percentile(ordered, 0.99) * 1000, digits),
        "max": round((ordered[-1] if ordered else 0.0) * 1000, digits),
    }
