"""Score marks: each player's score and life as a room's owner last showed them.

Pure code, no I/O. A room is saved once a second (`roomview.save`), but scores
change between saves: so the owner of a room in a cluster also keeps a mark per
player, written whenever the player's score or life changes (a game that is a
`games.base.ScoredGame` says whose), in the backend, fenced by the room's lease
and before the tick that shows the change is handed on (`Backend.keep_scores_nowait`).
A process that restores the room overlays every mark newer than the save
(`roomview.restore`), so no score a player was shown goes back.

A mark is the JSON text `[tick, score, alive, final]`:

- `tick`: the room's tick that shows it; a mark no newer than the save is the save's already;
- `score`, `alive`: the game's `player_stats`; `score` is null once the player left (its seat is gone);
- `final`: the player's last score event, `[score, name, bot]`, or null. It is reported again at
  every restore: the process that died may have had it in its leaderboard's buffer, not yet
  written, and the leaderboard keeps the best score per name, so a score reported twice counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from asgi_mmo.games.base import ScoreEvent


@dataclass(frozen=True, slots=True)
class ScoreMark:
    tick: int
    score: int | None  # None: the player left
    alive: bool
    final: ScoreEvent | None = None

    def encode(self) -> bytes:
        final = self.final
        last = None if final is None else [final.score, final.name, final.bot]
        return orjson.dumps([self.tick, self.score, self.alive, last])

    @classmethod
    def decode(cls, player_id: str, data: bytes) -> ScoreMark | None:
        """The mark `encode` gave `data` for `player_id`'s; None for anything else."""
        try:
            raw: Any = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if not (isinstance(raw, list) and len(raw) == 4):
            return None
        tick, score, alive, last = raw
        if not (_is_int(tick) and (score is None or _is_int(score)) and isinstance(alive, bool)):
            return None
        final = None
        if last is not None:
            if not (isinstance(last, list) and len(last) == 3 and _is_int(last[0]) and isinstance(last[1], str)
                    and isinstance(last[2], bool)):  # fmt: skip
                return None
            final = ScoreEvent(player_id, last[1], last[0], last[2])
        return cls(tick, score, alive, final)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
