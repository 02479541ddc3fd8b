"""Snake as rooms run it: the rules with the driver that steers their bots.

The rules (`rules.SnakeGame`) know nothing of bots; the bots (`bots.SnakeBots`)
read the rules. This module, above both, joins them, and the catalog lists
the result, so imports in the package point one way: `directions` at the
bottom, `rules` and `pathfinding` on it, `bots` on those, `game` on top.
It also gives a view room's minimap what it reads (`views.minimap.MappedGame`),
and a cluster the score marks that outlive a room's owner (`games.base.ScoredGame`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any, ClassVar

from asgi_mmo.games.base import Bucket
from asgi_mmo.games.snake.bots import SnakeBots
from asgi_mmo.games.snake.rules import SnakeGame

__all__ = ["SnakeWithBots"]


class SnakeWithBots(SnakeGame):
    """`SnakeGame` whose server-driven players move (see `Game.make_bot_driver`)."""

    #: what worker processes run for a bot's plan request (it imports the standard library only)
    plan_function: ClassVar[str | None] = "asgi_mmo.games.snake.pathfinding:run_plan"

    def make_bot_driver(self) -> SnakeBots:
        return SnakeBots(self)

    # -- the minimap of a view room (views.minimap.MappedGame) --

    def occupancy(self, size: int) -> Iterator[tuple[Bucket, int]]:
        """Snake cells (ghosts' too) per bucket, counted by the view index as snakes move."""
        yield from self._buckets(size).occupancy()

    def leaders(self, count: int) -> list[dict[str, Any]]:
        """The best-scoring live snakes and their heads."""
        living = (s for s in self._snakes.values() if s.alive and s.body)
        best = heapq.nlargest(count, living, key=lambda s: s.score)
        return [{"id": s.id, "name": s.name, "x": s.body[0][0], "y": s.body[0][1], "score": s.score} for s in best]

    # -- scores that outlive the room's owner (games.base.ScoredGame) --

    def take_score_changes(self) -> list[str]:
        snakes = self._snakes  # (the rules mark each score, death and new life in `_d_marks`)
        changed = [sid for sid in self._d_marks if sid in snakes]
        self._d_marks = {}
        return changed

    def overlay_score(self, player_id: str, score: int, alive: bool) -> None:
        """The body stays the save's: only the score and the life are brought up to date."""
        snake = self._snakes.get(player_id)
        if snake is None:
            return
        if snake.alive and not alive:
            self._kill(snake)
        elif alive and not snake.alive:
            self._spawn(snake)  # on a full field it stays dead, its player may respawn
        snake.score = score
        self._d_scores[player_id] = None
        if self._spatial is not None:
            self._spatial.changed_snakes[player_id] = None
