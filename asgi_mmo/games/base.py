"""What a game gives a room: Game API v2 (docs/games.md is the author's guide).

A game is pure code: no I/O, no clock, no anyio. The room owns time and the
network; it calls the game between ticks (players joining, leaving, sending
inputs) and once per tick (`step`, with the tick's number and duration).
Everything a game returns is plain JSON data (dicts, lists, str, int, float,
bool, None) that the room serialises once per tick for all of its players.

A game declares what the rest of the server and its clients need to know
about it as class attributes: a title and description for people, its own
options (`games/options.py` validates them before a room is made), the JSON
Schema of its inputs (`games/inputs.py` checks every input against it before
`parse_input` sees it), and, when its bots plan off the event loop, the name
of the planning function worker processes run.

Adding a game means writing one class that satisfies `Game` and listing it in
`asgi_mmo.games.catalog`; the room, registry and network code do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from asgi_mmo.games.options import Option, OptionValue


class InvalidInput(ValueError):
    """Raised by `Game.parse_input` for input data of the wrong shape.

    The connection answers it with the protocol's `bad_message` error; the
    input is neither applied nor acknowledged.
    """


@dataclass(frozen=True, slots=True)
class GameSetup:
    """What a room hands its game when it creates it."""

    #: the field's size: cells for a game on a grid, world units for a game on a plane
    width: int
    height: int
    #: the game's own options, checked against `Game.options`, every default filled in
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    seed: int | None = None



@dataclass(frozen=True, slots=True)
class ScoreEvent:
    """A player's score is final for now (their snake died, or they left).

    The room forwards these to the leaderboard; a game emits one per score
    worth keeping (score above 0).
    """

    player_id: str
    name: str
    score: int
    bot: bool


class BotDriver(Protocol):
    """Steers a game's server-driven players (optional: see `Game.make_bot_driver`).

    Pure like the game: the room calls `act` before each step, runs the
    plan requests it returns somewhere else (worker processes), and hands each
    answer back through `accept` some ticks later. A bot never waits for a
    plan: without a fresh one it takes a cheap safe move.
    """

    def act(self, tick: int) -> list[tuple[str, Any]]:
        """Give every bot its input for the coming step; return `(bot_id, request)`
        for the bots that want a fresh plan."""
        ...

    def accept(self, bot_id: str, plan: Any) -> None:
        """The answer to the bot's last request (an empty plan when planning failed)."""
        ...

    def forget(self, bot_id: str) -> None:
        """The bot's last request was not run (no planner, or its queue was full): it may ask again."""
        ...


class Game(Protocol):
    """The interface between a room and its game rules."""

    #: The name used in the protocol (`game` query parameter, room lists).
    name: ClassVar[str]
    #: For people: the lobby shows them (`GET /api/games`).
    title: ClassVar[str]
    description: ClassVar[str]
    #: Field size used when a room does not choose one.
    default_width: ClassVar[int]
    default_height: ClassVar[int]
    #: The game's own settings, beyond those every room has (`POST /api/rooms` `"options"`).
    options: ClassVar[Mapping[str, Option]]
    #: JSON Schema (draft 2020-12) of an input's `data`, with `examples`; checked before `parse_input`.
    input_schema: ClassVar[Mapping[str, Any]]
    #: `"module:function"` that worker processes call with a bot's plan request (None: bots
    #: plan on the loop or not at all). The module should import little: every worker loads it.
    plan_function: ClassVar[str | None]

    @classmethod
    def create(cls, setup: GameSetup) -> Game:
        """A new game with an empty field."""
        ...

    @classmethod
    def restore(cls, saved: dict[str, Any]) -> Game:
        """A game rebuilt from `save()`'s output, ready to step on."""
        ...

    def save(self) -> dict[str, Any]:
        """The whole state, JSON-able, including what `snapshot` leaves out
        (random generator state, pending growth), so `restore` continues
        exactly where this game stood."""
        ...

    def add_player(self, player_id: str, name: str, *, bot: bool = False) -> None:
        """Give a new player a place in the game at once (it shows in the
        next `snapshot`)."""
        ...

    def remove_player(self, player_id: str) -> ScoreEvent | None:
        """Take a player out of the game; unknown ids are ignored.

        Returns the player's score if it is worth keeping (a live snake with
        a score above 0 that leaves takes its score to the leaderboard)."""
        ...

    @classmethod
    def parse_input(cls, data: Any) -> Any:
        """An input's `data`, already checked against `input_schema`, as the game's own value.

        Raise `InvalidInput` for what a schema cannot say. A class method, so a
        process that only relays a room checks inputs without building a game.
        What it returns is handed to `apply_input` unchanged.
        """
        ...

    def apply_input(self, player_id: str, parsed: Any) -> None:
        """Record a player's input; it takes effect at the next `step`.

        Inputs that the rules ignore (a turn straight back, a turn while
        dead) are silently ignored here: the room acknowledges them anyway.
        """
        ...

    def step(self, tick: int, dt: float) -> list[ScoreEvent]:
        """Advance the game by one tick, the room's tick `tick` (the one this step makes),
        which lasts `dt` seconds; return the scores that became final."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The whole visible state, as the protocol's SNAPSHOT."""
        ...

    def take_delta(self) -> dict[str, Any]:
        """The change since the previous call (or since creation/restore),
        as the fields of a `tick` message, and start a new change.

        A client holding the snapshot taken at tick N-1 and applying this
        delta holds the snapshot of tick N. Applying it must also be safe to
        a client whose snapshot was taken between two ticks (after a join):
        changes are written so that applying one twice changes nothing.
        """
        ...

    def player_stats(self, player_id: str) -> dict[str, Any]:
        """`{"score": int, "alive": bool}` for the admin API."""
        ...

    def make_bot_driver(self) -> BotDriver | None:
        """The driver that steers this game's bots; None: bots stand still."""
        ...


@runtime_checkable
class MarksAway(Protocol):
    """A game that shows which players are away (optional; docs/games.md "Away players").

    The room knows who is connected, the game does not: the room tells it when a
    human's socket drops and the seat is kept for `seat_seconds`, and when the player
    is back (resumed with the seat's token, here or through another process). The
    game marks the player's entry `"away": true` meanwhile, and sends the changed
    entry in its next delta (and bucket changes). A game without this method shows
    no mark; its players' entries look the same connected or away.
    """

    def set_away(self, player_id: str, away: bool) -> None:
        """The player's seat is kept while they are away (True), or they are back (False);
        unknown ids and repeats are ignored."""
        ...


@runtime_checkable
class ScoredGame(Protocol):
    """A game whose scores outlive its room's owner in a cluster (optional; docs/games.md "Scores").

    The room's owner saves the room once a second, but writes each player's score
    and life (`player_stats`) as they change, before the tick that shows them is
    handed on; a process that restores the room from that older save overlays
    the newer ones, so no player sees its score go back (`roomview.restore`).
    """

    def take_score_changes(self) -> list[str]:
        """The players whose `player_stats` changed since the previous call (a score, a death,
        a new life), and start anew. One entry per changed player, never a pass over all."""
        ...

    def overlay_score(self, player_id: str, score: int, alive: bool) -> None:
        """A restored game: the player's score and life as its owner last showed them, newer
        than the save. A death the save does not hold happens here, without a `ScoreEvent`
        (it was reported when it happened); a new life it does not hold begins here."""
        ...


#: a bucket of the spatial grid: `(bx, by)` covers cells `bx*size .. bx*size+size-1` (and rows alike)
Bucket = tuple[int, int]
#: a view's rectangle: `(x, y, width, height)`, columns `x .. x+width-1` and rows alike
Area = tuple[int, int, int, int]


@runtime_checkable
class SpatialGame(Protocol):
    """A game on a plane that offers per-player views (optional; docs/games.md "Views").

    The room of a view room (`RoomConfig.view`) calls `bucket_changes` instead of
    `take_delta` once per tick, and composes each player's frame from the
    fragments of the buckets its view covers (`asgi_mmo.views`); the game
    never learns who looks where. Every bucket's data is plain JSON data that
    the room serialises once per tick, whoever sees it.
    """

    def bucket_changes(self, size: int) -> Mapping[Bucket, dict[str, Any]]:
        """What changed since the previous call, grouped by bucket (only buckets where
        something changed), and start a new change, for `take_delta` too.

        One pass over the tick's changes, never over the field. A client holding a
        bucket's content that applies the bucket's fragment holds its new content;
        applying a fragment twice changes nothing (a join between ticks).
        """
        ...

    def bucket_snapshot(self, bx: int, by: int, size: int) -> dict[str, Any]:
        """A bucket's whole content now; it replaces a client's copy of that bucket."""
        ...

    def view_snapshot(self, parts: Sequence[dict[str, Any]], area: Area) -> dict[str, Any]:
        """The protocol's SNAPSHOT of the view of `area`, from the `bucket_snapshot`s of the
        buckets it covers; it may leave out what lies far enough outside `area` (snake: food
        and stones more than 32 cells out, PROTOCOL.md "View rooms"). The room sends every
        bucket whole again once the view moves after it (`views/deliver.py`)."""
        ...

    def focus(self, player_id: str) -> tuple[int, int] | None:
        """Where the player's view centres (snake: its live head); None: it stays where it is."""
        ...
