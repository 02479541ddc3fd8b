"""Before the ramp: the game's GAME_INFO, its options as the rooms want them, and the rooms.

The game is described by the server itself (`GET /api/games`), so a load test
drives whatever games the server runs. A server without that endpoint (an
older one, or bench/baseline_server.py) is described by this package's own
catalog, when it knows the game.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from asgi_mmo.loadtest.drivers import GameInfo

#: what `--option NAME=VALUE` may set: JSON scalars
OptionValue = int | float | bool | str


class LoadSetupError(Exception):
    """The load test cannot start: an unknown game or option, a room the server refused."""


def catalog_info(game: str) -> GameInfo | None:
    """GAME_INFO from this package's own catalog (for a server with no `GET /api/games`)."""
    from asgi_mmo.games.catalog import GAMES, game_info

    known = GAMES.get(game)
    return game_info(known) if known is not None else None


async def fetch_game_info(http: httpx.AsyncClient, game: str) -> GameInfo:
    """The game's GAME_INFO as the server lists it; `LoadSetupError` if it runs no such game."""
    answer = await http.get("/api/games")
    if answer.status_code == 404:
        info = catalog_info(game)
        if info is None:
            raise LoadSetupError(f"the server lists no games (GET /api/games: 404) and {game!r} is not built in")
        return info
    answer.raise_for_status()
    games = answer.json().get("games", [])
    for info in games:
        if info.get("name") == game:
            return dict(info)
    names = ", ".join(sorted(str(info.get("name")) for info in games))
    raise LoadSetupError(f"the server runs no game {game!r}; it runs: {names}")


def parse_option(text: str) -> tuple[str, str]:
    """`NAME=VALUE` from the command line; `ValueError` without the `=`."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise ValueError(f"--option wants NAME=VALUE, not {text!r}")
    return name.strip(), value.strip()


def _typed(name: str, value: OptionValue, kind: object) -> OptionValue:
    if not isinstance(value, str) or kind == "string":
        return value
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        raise LoadSetupError(f"option {name!r} wants a{'n integer' if kind == 'integer' else ' number'}, "
                             f"not {value!r}") from None
    if kind == "boolean":
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise LoadSetupError(f"option {name!r} wants true or false, not {value!r}")
    return value


def typed_options(options: Mapping[str, OptionValue], info: GameInfo) -> dict[str, OptionValue]:
    """The options with the types the game's OPTION specs name (strings from the command line
    become numbers or booleans); `LoadSetupError` for a name the game does not have.
    The server checks ranges (422)."""
    specs = info.get("options") or {}
    unknown = [name for name in options if name not in specs]
    if unknown:
        raise LoadSetupError(f"game {info.get('name')!r} has no option {', '.join(map(repr, unknown))}; "
                             f"its options: {', '.join(sorted(specs)) or 'none'}")
    return {name: _typed(name, value, specs[name].get("type")) for name, value in options.items()}


@dataclass(frozen=True, slots=True)
class RoomRequest:
    """The body of `POST /api/rooms` for each room of the test."""

    game: str
    rooms: int
    players: int
    tick_rate: int
    field: tuple[int, int] | None  # None: the game's default
    options: Mapping[str, OptionValue]
    #: view rooms (`"view": true`): each player gets only the part of the field around it
    view: bool = False
    #: the server's bots in each room
    bots: int = 0

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "game": self.game,
            "max_players": max(1, min(1000, math.ceil(self.players / max(1, self.rooms)))),
            "tick_rate": self.tick_rate,
        }
        if self.field is not None:
            body["width"], body["height"] = self.field
        if self.options:
            body["options"] = dict(self.options)
        if self.view:
            body["view"] = True
        if self.bots:
            body["bots"] = self.bots
        return body


@dataclass(frozen=True, slots=True)
class RoomsMade:
    ids: list[str | None]  # `[None]`: quick join
    #: the settings the server answered for the first room (field and options used), when it says
    settings: Mapping[str, object]


async def create_rooms(http: httpx.AsyncClient, request: RoomRequest) -> RoomsMade:
    """The rooms to spread the players over (`[None]`, quick join, when `rooms` is 0)."""
    if request.rooms <= 0:
        return RoomsMade([None], {})
    body = request.body()
    ids: list[str | None] = []
    settings: dict[str, object] = {}
    for _ in range(request.rooms):
        answer = await http.post("/api/rooms", json=body)
        if answer.status_code == 422:
            message = answer.json().get("error", {}).get("message", answer.text)
            raise LoadSetupError(f"the server refused the room: {message}")
        answer.raise_for_status()
        made = answer.json()
        ids.append(made["id"])
        settings = settings or made
    return RoomsMade(ids, settings)
