"""The leaderboard's scores in one SQLite file, safe for several processes of one machine.

WAL mode lets readers run beside the writer, the busy timeout makes a writer
wait for another's lock instead of failing at once, and the UPSERT only ever
raises a score, so concurrent writers of the same name cannot lose the best
one (see docs/leaderboard-and-bots.md).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing

from asgi_mmo.scores.store import Ranked, Row

__all__ = ["SqliteStore"]

# The leaderboard's logger: a store's warnings belong with the board's own lines.
logger = logging.getLogger("asgi_mmo.scores.leaderboard")

SCHEMA = """
CREATE TABLE IF NOT EXISTS best_scores (
    name  TEXT    NOT NULL,
    bot   INTEGER NOT NULL CHECK (bot IN (0, 1)),
    score INTEGER NOT NULL,
    at    TEXT    NOT NULL,  -- ISO-8601 UTC, when this best score was first reached
    PRIMARY KEY (name, bot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS best_scores_rank ON best_scores (score DESC, at);
"""

# Only a strictly higher score replaces a row, so the order in which
# processes commit does not matter and an equal score keeps the earlier time.
UPSERT = """
INSERT INTO best_scores (name, bot, score, at) VALUES (?, ?, ?, ?)
ON CONFLICT (name, bot) DO UPDATE SET score = excluded.score, at = excluded.at
WHERE excluded.score > best_scores.score
"""

TOP = """
SELECT name, score, at, bot FROM best_scores
WHERE bot = 0 OR ?
ORDER BY score DESC, at ASC, name ASC
LIMIT ?
"""


class SqliteStore:
    """A `ScoreStore` in a SQLite file. Every method blocks (run it in a worker thread).

    One connection per call rather than one shared connection behind a
    threading.Lock: no connection ever crosses threads (no
    `check_same_thread=False`), and a read of `top` runs beside a write that
    is waiting for another process's lock, as WAL allows; a shared locked
    connection would make the leaderboard endpoint wait behind that write.
    Opening a connection costs well under a millisecond, paid once per flush
    and per read.
    """

    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self.description = self.path
        self.busy_timeout = busy_timeout
        self.schema_ready = False

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a
        # writer takes the write lock up front and the busy timeout applies
        # there, instead of failing on a read-to-write upgrade.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            # In WAL, NORMAL syncs at checkpoints only: a crash of the process
            # loses nothing; a power cut may lose the last writes, never
            # corrupt the file.
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        # journal_mode is stored in the file: only the first opener switches,
        # so processes starting together rarely contend for that lock.
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        if mode.lower() != "wal":
            (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode.lower() != "wal":
                logger.warning(
                    "leaderboard %s: WAL mode refused (journal_mode=%s); readers will wait for writers",
                    self.path,
                    mode,
                )
        conn.executescript(SCHEMA)
        self.schema_ready = True

    def create_schema(self) -> None:
        with closing(self._connect()) as conn:
            self._create_schema(conn)

    def write(self, rows: list[Row]) -> None:
        with closing(self._connect()) as conn:
            if not self.schema_ready:
                self._create_schema(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(UPSERT, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def read_top(self, limit: int, include_bots: bool) -> list[Ranked]:
        with closing(self._connect()) as conn:
            rows: list[Ranked] = conn.execute(TOP, (int(include_bots), limit)).fetchall()
            return rows

    def close(self) -> None:
        """Nothing held open: each call opens its own connection."""
