"""How often one client's `sync` is answered (pure; the caller passes the time).

A `state` of a big room costs the server a whole snapshot, so a client's `sync`
is answered at most once every `interval` seconds. A sooner one is not dropped:
it is answered when the interval is up, and any more that come meanwhile share
that one answer.
"""

from __future__ import annotations


class SyncPacer:
    __slots__ = ("interval", "_answered", "_pending")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._answered: float | None = None
        self._pending = False

    def ask(self, now: float) -> float | None:
        """A `sync` came: 0.0 means answer it now; a positive delay, answer it after that
        long (then call `answered`); None, an answer is already on its way."""
        if self._pending:
            return None
        if self._answered is None or now - self._answered >= self.interval:
            self._answered = now
            return 0.0
        self._pending = True
        return self._answered + self.interval - now

    def answered(self, now: float) -> None:
        """The delayed answer went out (its state is due at the next tick)."""
        self._pending = False
        self._answered = now
