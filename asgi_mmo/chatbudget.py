"""A player's chat lines, limited by what they cost the room (pure; the caller passes the time).

A chat line goes to everyone in the room, so in a room of N it costs N frames
to send. The message rate limit (`ratelimit.py`) counts a client's lines, not
their cost: at its 30 a second, one client would make a world of 1,000 players
send 30,000 chat frames a second, more than all its ticks (20,000). A
`ChatBudget` is a token bucket of frames: a line takes one token per reader,
so one player's chat costs the room at most `sends` frames a second (bursts
of `burst_seconds` of it), whatever the room's size. In a room of up to
`sends / rate limit` readers (66 at the defaults) the message rate limit
binds first and the budget never refuses a line.
"""

from __future__ import annotations

#: seconds of the budget a player may spend at once (a few lines typed quickly)
BURST_SECONDS = 2.0


class ChatBudget:
    """A token bucket of `sends` frames a second, `sends * burst_seconds` deep (`sends` 0: no limit)."""

    __slots__ = ("sends", "depth", "_tokens", "_updated")

    def __init__(self, sends: float, burst_seconds: float = BURST_SECONDS) -> None:
        self.sends = sends
        self.depth = sends * burst_seconds
        self._tokens = self.depth
        self._updated: float | None = None

    def allow(self, now: float, readers: int) -> bool:
        """Whether a line read by `readers` may go now (it is paid for if so). A line costs at
        most the whole bucket: in a room larger than that, one line per `burst_seconds`."""
        if self.sends <= 0:
            return True
        if self._updated is not None:
            self._tokens = min(self.depth, self._tokens + (now - self._updated) * self.sends)
        self._updated = now
        cost = min(max(1, readers), self.depth)
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def lines_per_second(self, readers: int) -> float:
        """The lines a second it lets through in a room of `readers`, in the long run."""
        if self.sends <= 0:
            return float("inf")
        return self.sends / min(max(1, readers), self.depth)
