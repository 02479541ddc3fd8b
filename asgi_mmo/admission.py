"""The event loop's time, shared fairly among the rooms of a process (pure; the caller passes
the time).

Each ticking room tells its `Pace` what its last tick cost; the pace gives back the
time to its next tick. A room needs `cost / period` of the loop's time (a tick of
5 ms at 20 Hz: 10 %). While the rooms together need no more than the budget
(`ASGI_MMO_TICK_BUDGET`, a share of one core), every room ticks at its own rate.
Beyond it, the budget is shared max-min fairly: a room that needs less than an
equal share gets all it needs, and the rest is split evenly among the heavier
ones, which tick slower (their period grows to `cost / share`). So heavy rooms
slow one another down and never starve a light room of its ticks; their players
get fewer ticks (each still a whole step), and `tick_rate` stays what was asked.
A room alone in its process (the only one ticking) is never slowed.

Admission comes first: a new room is refused (`admits`) when one of its ticks,
estimated from its settings (`estimated_cost`), would hold the loop longer than
`max_tick` (every other room's tick would wait that long behind it, and no
budget can split a tick), or when its need at its asked rate fits neither in
what the budget has left nor in an equal share of the budget (which the
max-min split then guarantees it). So a light room is always let in, and a room
too heavy to run on time next to the others is refused rather than slowed to
a crawl. A room counts its estimate until it has ticked, its measured cost after.

The shares are worked out again every `REALLOCATE_SECONDS`, from each room's
recent cost (an exponential average); a room that has not ticked for
`ACTIVE_SECONDS` or three of its periods (an idle room) is out of the sum.
"""

from __future__ import annotations

import math

#: weight of the newest tick in a room's average cost
ALPHA = 0.2
REALLOCATE_SECONDS = 0.5
#: a room that has not ticked for this long, or three of its periods, is out of the sum
ACTIVE_SECONDS = 1.0
#: the estimate of a tick's cost (seconds): a base, per million cells, and per bot, whose plan
#: requests cost more on a bigger field (up to 250,000 cells). Calibrated on snake, the heavier
#: game, under `asgi-mmo serve` on a busy 2-core machine (docs/performance.md, "Admission").
BASE_COST = 0.02e-3
MEGACELL_COST = 0.2e-3
BOT_COST = 0.1e-3
BOT_FIELD_COST = 0.6e-3
BOT_FIELD_CELLS = 250_000


def estimated_cost(bots: int, cells: int) -> float:
    """A tick's cost estimated from a room's settings, in seconds."""
    per_bot = BOT_COST + BOT_FIELD_COST * min(1.0, cells / BOT_FIELD_CELLS)
    return BASE_COST + cells / 1e6 * MEGACELL_COST + bots * per_bot


class Pace:
    """One room's tick period under the budget."""

    __slots__ = ("_budget", "period", "estimate", "cost", "current", "last_tick")

    def __init__(self, budget: TickBudget | None, period: float, estimate: float = 0.0) -> None:
        self._budget = budget
        #: the period the room asked for (1 / tick_rate)
        self.period = period
        #: the cost of a tick estimated from its settings (until it has ticked)
        self.estimate = estimate
        #: the average cost of its recent ticks, in seconds (0 before its first)
        self.cost = 0.0
        #: the period it ticks at now: `period`, or longer while it is slowed
        self.current = period
        self.last_tick = -math.inf

    def next_period(self, cost: float, now: float) -> float:
        """The last tick took `cost` seconds and ended at `now`: the time to the next one."""
        self.cost = cost if self.last_tick == -math.inf else self.cost + ALPHA * (cost - self.cost)
        self.last_tick = now
        if self._budget is not None:
            self._budget.reallocate(now)
        return self.current

    @property
    def slowed(self) -> bool:
        return self.current > self.period

    @property
    def demand(self) -> float:
        """The share of the loop's time this room needs at its own rate (measured once it ticked)."""
        return (self.cost if self.last_tick > -math.inf else self.estimate) / self.period


class TickBudget:
    def __init__(self, budget: float, max_tick: float = 0.025) -> None:
        """`budget`: the share of the loop's time the rooms' ticks may take (0: unlimited);
        `max_tick`: the longest a new room's tick may be estimated to take (seconds, 0: any)."""
        self.budget = budget
        self.max_tick = max_tick
        self._paces: list[Pace] = []
        self._next = -math.inf
        #: rooms slowed at the last reallocation (for metrics and tests)
        self.slowed = 0

    def admits(self, cost: float, period: float) -> bool:
        """A new room whose ticks cost `cost` seconds every `period` fits: its tick is no
        longer than `max_tick`, and its need fits in what the budget has left after every
        room's need, or in an equal share of the budget."""
        if self.max_tick > 0 and cost > self.max_tick:
            return False
        if self.budget <= 0:
            return True
        demand = cost / period
        committed = sum(pace.demand for pace in self._paces)
        return demand <= max(self.budget - committed, self.budget / (len(self._paces) + 1))

    def enroll(self, period: float, estimate: float = 0.0) -> Pace:
        pace = Pace(self if self.budget > 0 else None, period, estimate)
        if self.budget > 0:
            self._paces.append(pace)
        return pace

    def leave(self, pace: Pace) -> None:
        try:
            self._paces.remove(pace)
        except ValueError:
            pass

    def reallocate(self, now: float, *, force: bool = False) -> None:
        """Work out every active room's period again (at most every `REALLOCATE_SECONDS`)."""
        if now < self._next and not force:
            return
        self._next = now + REALLOCATE_SECONDS
        active = [pace for pace in self._paces if now - pace.last_tick < max(ACTIVE_SECONDS, 3 * pace.current)]
        for pace in self._paces:
            pace.current = pace.period
        self.slowed = 0
        if len(active) < 2 or sum(pace.demand for pace in active) <= self.budget:
            return  # a room alone has no one to make room for: it takes what it needs
        remaining, left = self.budget, len(active)
        for pace in sorted(active, key=lambda pace: pace.demand):
            share = remaining / left
            if pace.demand > share:
                pace.current = pace.cost / share
                self.slowed += 1
            remaining -= min(pace.demand, share)
            left -= 1
