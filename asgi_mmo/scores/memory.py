"""Best scores in a dict: the store of the buffer and flusher tests.

Deterministic and fast, and it can be told to misbehave as a real database
does: fail its next calls (`fail_next`), or hold its writes until released
(`hold_writes`), so a test can look at the leaderboard while a write is in
flight. Scores last as long as the object (or the `best` dict handed to a
second store, which stands for a second process on the same database).
"""

from __future__ import annotations

import threading

from asgi_mmo.scores.store import Ranked, Row

__all__ = ["MemoryStore", "StoreFailure"]

_Key = tuple[str, int]  # (name, bot)
_Best = tuple[int, str]  # (score, at)


class StoreFailure(Exception):
    """What a `MemoryStore` told to fail raises."""


class MemoryStore:
    """A `ScoreStore` in memory. Safe to call from worker threads."""

    errors: tuple[type[BaseException], ...] = (StoreFailure,)

    def __init__(self, best: dict[_Key, _Best] | None = None, *, description: str = "memory") -> None:
        self.description = description
        #: (name, bot) -> (score, at); hand it to another MemoryStore to share the scores
        self.best: dict[_Key, _Best] = {} if best is None else best
        #: set when a write has begun (and, while writes are held, waits)
        self.write_started = threading.Event()
        self.writes = 0  # successful write calls
        self.closed = False
        self._lock = threading.Lock()
        self._fail_next = 0
        self._release: threading.Event | None = None

    # -- misbehaving on purpose ------------------------------------------------

    def fail_next(self, count: int) -> None:
        """The next `count` calls (of any method but `close`) raise `StoreFailure`."""
        with self._lock:
            self._fail_next = count

    def hold_writes(self) -> threading.Event:
        """Writes wait, after `write_started` is set, until the returned event is set."""
        self._release = threading.Event()
        self.write_started.clear()
        return self._release

    def _maybe_fail(self, what: str) -> None:
        with self._lock:
            if self._fail_next > 0:
                self._fail_next -= 1
                raise StoreFailure(f"{self.description}: {what} failed on purpose")

    # -- the ScoreStore interface ----------------------------------------------

    def create_schema(self) -> None:
        self._maybe_fail("create_schema")

    def write(self, rows: list[Row]) -> None:
        self.write_started.set()
        if self._release is not None:
            self._release.wait()
        self._maybe_fail("write")
        with self._lock:
            for name, bot, score, at in rows:
                held = self.best.get((name, bot))
                if held is None or score > held[0]:
                    self.best[(name, bot)] = (score, at)
            self.writes += 1

    def read_top(self, limit: int, include_bots: bool) -> list[Ranked]:
        self._maybe_fail("read_top")
        with self._lock:
            rows = [
                (name, score, at, bot)
                for (name, bot), (score, at) in self.best.items()
                if include_bots or not bot
            ]
        rows.sort(key=lambda row: (-row[1], row[2], row[0]))
        return rows[:limit]

    def close(self) -> None:
        self.closed = True
