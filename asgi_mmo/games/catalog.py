"""The games a room can run, by their protocol name.

Adding a game: write a class that satisfies `asgi_mmo.games.base.Game` and
list it here (see docs/snake.md, "Writing your own game").
"""

from __future__ import annotations

from asgi_mmo.games.base import Game
from asgi_mmo.games.snake.game import SnakeWithBots

GAMES: dict[str, type[Game]] = {"snake": SnakeWithBots}


def get_game(name: str) -> type[Game]:
    """The game class called `name`; `KeyError` if there is none."""
    try:
        return GAMES[name]
    except KeyError:
        raise KeyError(f"unknown game {name!r}; known: {sorted(GAMES)}") from None
