"""Snake as rooms run it: the rules with the driver that steers their bots.

The rules (`rules.SnakeGame`) know nothing of bots; the bots (`bots.SnakeBots`)
read the rules. This module, above both, joins them, and the catalog lists
the result, so imports in the package point one way: `directions` at the
bottom, `rules` and `pathfinding` on it, `bots` on those, `game` on top.
"""

from __future__ import annotations

from typing import ClassVar

from asgi_mmo.games.snake.bots import SnakeBots
from asgi_mmo.games.snake.rules import SnakeGame

__all__ = ["SnakeWithBots"]


class SnakeWithBots(SnakeGame):
    """`SnakeGame` whose server-driven players move (see `Game.make_bot_driver`)."""

    #: what worker processes run for a bot's plan request (it imports the standard library only)
    plan_function: ClassVar[str | None] = "asgi_mmo.games.snake.pathfinding:run_plan"

    def make_bot_driver(self) -> SnakeBots:
        return SnakeBots(self)
