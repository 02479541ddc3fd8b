"""A player's place in a room: who they are, their token, and the socket that plays it.

Shared by a room of this process and by a mirror of a room that runs in another
(`cluster/mirror.py`), and by the fan-out both use, so it lives below all three;
so does `PlayerRoom`, what a socket plays in: either of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from asgi_mmo.connection import Connection
    from asgi_mmo.games.base import Game
    from asgi_mmo.stats import RoomStats


@dataclass(slots=True, eq=False)
class Seat:
    """A player's place in a room, kept while they are away for `seat_seconds`."""

    player_id: str
    name: str
    token: str
    bot: bool = False
    ack: int = 0
    connection: Connection | None = None
    connected_at: float = 0.0  # anyio clock
    away_since: float | None = None  # anyio clock; None while connected (and for bots)
    latency_ms: float | None = None
    remote: str | None = None  # the process whose socket this player uses, when not this one
    #: a spectator's place: no snake, no token, never in a room's `seats` (`Room.watch`)
    spectator: bool = False

    def public(self, now: float, game: Game, worker: str = "") -> dict[str, Any]:
        connection = self.connection
        connected = connection is not None or self.remote is not None
        return {
            "id": self.player_id,
            "name": self.name,
            "bot": self.bot,
            **game.player_stats(self.player_id),
            "connected_s": round(now - self.connected_at, 1) if connected else 0.0,
            "latency_ms": self.latency_ms,
            "queue": connection.queue_depth() if connection else 0,
            # extension: the process whose socket the player uses (None while away)
            "via": self.remote or (worker if connection else None),
            # extension: the seat is kept while its player is away (never for bots)
            "away": not connected and not self.bot,
        }


class PlayerRoom(Protocol):
    """What the socket endpoint plays in: a `Room` of this process, or a `RoomMirror`
    of a room that runs in another (the registry's `join` gives either)."""

    @property
    def id(self) -> str: ...

    @property
    def stats(self) -> RoomStats: ...

    @property
    def players(self) -> int:
        """Connected human players (a mirror: those connected through this process)."""
        ...

    def connect(self, seat: Seat, connection: Connection) -> str:
        """Attach a socket to a seat; returns the `welcome` frame to send first."""
        ...

    def disconnect(self, seat: Seat, connection: Connection, *, leave: bool) -> None:
        """A socket ended; `leave` frees the seat at once, otherwise it is kept."""
        ...

    def handle_input(self, seat: Seat, seq: int, data: Any) -> None:
        """Apply (or pass on) an input; `MessageRefused` for bad data."""
        ...

    def chat(self, seat: Seat, text: str) -> None: ...

    @property
    def audience(self) -> int:
        """How many connections a chat line in the room reaches, room-wide (players and spectators,
        through every process; a mirror: as the room's owner last told it)."""
        ...

    def ask_view(
        self, seat: Seat, width: int | None, height: int | None, x: int | None = None, y: int | None = None
    ) -> None:
        """The player asks for a view of this size (None: keep that side); ignored without views.
        `x`, `y`: a spectator's new top left corner (ignored for players)."""
        ...

    def note_latency(self, seat: Seat, latency_ms: float) -> None: ...

    def send_to(self, seat: Seat, frame: str) -> None:
        """A frame for one player (pong, error); dropped if that client is behind."""
        ...
