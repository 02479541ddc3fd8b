"""The games a room can run, by their protocol name.

Adding a game: write a class that satisfies `asgi_mmo.games.base.Game` and
list it here (docs/games.md, "Writing your own game").
"""

from __future__ import annotations

from asgi_mmo.games.arena.game import Arena
from asgi_mmo.games.base import Game
from asgi_mmo.games.snake.game import SnakeWithBots

GAMES: dict[str, type[Game]] = {game.name: game for game in (SnakeWithBots, Arena)}
#: the game of a quick join or a room made without `game`
DEFAULT_GAME = "snake"


def game_info(game: type[Game]) -> dict[str, object]:
    """GAME_INFO of the contract (`GET /api/games`)."""
    return {
        "name": game.name,
        "title": game.title,
        "description": game.description,
        "options": {name: option.to_json() for name, option in game.options.items()},
        "input": dict(game.input_schema),
    }


def get_game(name: str) -> type[Game]:
    """The game class called `name`; `KeyError` if there is none."""
    try:
        return GAMES[name]
    except KeyError:
        raise KeyError(f"unknown game {name!r}; known: {sorted(GAMES)}") from None
