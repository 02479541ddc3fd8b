"""What a game gives a room.

A game is pure code: no I/O, no clock, no anyio. The room owns time and the
network; it calls the game between ticks (players joining, leaving, sending
inputs) and once per tick (`step`). Everything a game returns is plain JSON
data (dicts, lists, str, int, float, bool, None) that the room serialises once
per tick for all of its players.

Adding a game means writing one class that satisfies `Game` and listing it in
`asgi_mmo.games.catalog`; the room, registry and network code do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


class InvalidInput(ValueError):
    """Raised by `Game.parse_input` for input data of the wrong shape.

    The connection answers it with the protocol's `bad_message` error; the
    input is neither applied nor acknowledged.
    """


@dataclass(frozen=True, slots=True)
class GameOptions:
    """Settings a room hands to its game when it creates it."""

    width: int
    height: int
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
    #: Field size used when a room does not choose one.
    default_width: ClassVar[int]
    default_height: ClassVar[int]

    @classmethod
    def create(cls, options: GameOptions) -> Game:
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

    def parse_input(self, data: Any) -> Any:
        """Validate an input's `data` from the wire; raise `InvalidInput`.

        What it returns is handed to `apply_input` unchanged.
        """
        ...

    def apply_input(self, player_id: str, parsed: Any) -> None:
        """Record a player's input; it takes effect at the next `step`.

        Inputs that the rules ignore (a turn straight back, a turn while
        dead) are silently ignored here: the room acknowledges them anyway.
        """
        ...

    def step(self) -> list[ScoreEvent]:
        """Advance the game by one tick; return the scores that became final."""
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

    # Optional: a game with bots also defines
    #     def make_bot_driver(self) -> BotDriver
    # and the room steers its bots through it; without it, bots stand still.
