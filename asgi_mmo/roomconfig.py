"""A room's settings, as asked for by `POST /api/rooms`, validated.

The settings every room has are fields here; a game's own settings are its
`options` (`games/options.py`), checked against the game's spec and filled in
with its defaults, so a saved or listed config always says what the room runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal, TypedDict

from asgi_mmo.exceptions import BadRequest
from asgi_mmo.games.catalog import DEFAULT_GAME, GAMES
from asgi_mmo.games.options import OptionValue, resolve_options


class _Asked(TypedDict, total=False):
    """The fields a request body set, checked; the rest keep `RoomConfig`'s defaults."""

    game: str
    private: bool
    view: bool
    record: bool
    max_players: int
    bots: int
    width: int
    height: int
    tick_rate: int
    options: dict[str, OptionValue]


_IntField = Literal["max_players", "bots", "width", "height", "tick_rate"]

# field -> (type, low, high); booleans have no range
_LIMITS: dict[_IntField, tuple[type, int, int]] = {
    "max_players": (int, 1, 1000),
    "bots": (int, 0, 100),
    "width": (int, 10, 1000),
    "height": (int, 10, 1000),
    "tick_rate": (int, 1, 60),
}


#: what a game class needs for view rooms (`games.base.SpatialGame`)
_VIEW_METHODS = ("bucket_changes", "bucket_snapshot", "view_snapshot", "focus")


@dataclass(frozen=True, slots=True)
class RoomConfig:
    game: str = DEFAULT_GAME
    private: bool = False
    #: a view room: each player gets only the part of the field around it (games with views only)
    view: bool = False
    #: recorded from the start (asgi_mmo/replays/); asking for it takes the admin token (web/api.py)
    record: bool = False
    max_players: int = 32
    bots: int = 0
    width: int = 0  # 0: the game's default
    height: int = 0
    tick_rate: int = 10
    #: the game's own options; every one is filled in (defaults) and checked
    options: Mapping[str, OptionValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        game = GAMES.get(self.game)
        assert game is not None, f"unknown game {self.game!r}"
        # Fill the game's field size in, so the settings used are explicit everywhere.
        if not self.width:
            object.__setattr__(self, "width", game.default_width)
        if not self.height:
            object.__setattr__(self, "height", game.default_height)
        object.__setattr__(self, "options", resolve_options(game.options, dict(self.options)))

    @classmethod
    def from_request(cls, body: object) -> RoomConfig:
        """The config a JSON body asks for; `BadRequest` says what is wrong with it."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        # Unknown fields are ignored, so newer clients can talk to older servers.
        values: _Asked = {}
        if "game" in body:
            game = body["game"]
            if not isinstance(game, str):
                raise BadRequest("'game' must be a string")
            if game not in GAMES:
                raise BadRequest(f"unknown game {game[:32]!r}; known: {', '.join(sorted(GAMES))}")
            values["game"] = game
        if "private" in body:
            if not isinstance(body["private"], bool):
                raise BadRequest("'private' must be true or false")
            values["private"] = body["private"]
        if "record" in body:
            if not isinstance(body["record"], bool):
                raise BadRequest("'record' must be true or false")
            values["record"] = body["record"]
        if "view" in body:
            if not isinstance(body["view"], bool):
                raise BadRequest("'view' must be true or false")
            game_class = GAMES[values.get("game", DEFAULT_GAME)]
            if body["view"] and not all(hasattr(game_class, name) for name in _VIEW_METHODS):
                raise BadRequest(f"{game_class.name!r} offers no views")
            values["view"] = body["view"]
        for name, (_kind, low, high) in _LIMITS.items():
            if name not in body:
                continue
            value = body[name]
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadRequest(f"{name!r} must be an integer")
            if not low <= value <= high:
                raise BadRequest(f"{name!r} must be between {low} and {high}")
            values[name] = value
        # Checked here, where a bad one is the client's mistake (422), not in __post_init__.
        spec = GAMES[values.get("game", DEFAULT_GAME)].options
        values["options"] = resolve_options(spec, body.get("options"))
        return cls(**values)

    def to_dict(self) -> dict[str, object]:
        settings = asdict(self)
        settings["options"] = dict(self.options)
        return settings
