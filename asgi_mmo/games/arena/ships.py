"""An arena ship: its state, what the snapshot shows of it, and the read-only
view bots get."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from asgi_mmo.games.arena.options import HISTORY

#: Distinct colours, handed out by join order (cycling after the last).
PALETTE: Final = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
)  # fmt: skip


class ShipView(Protocol):
    """A ship as bots and tests may read it (never write it)."""

    @property
    def id(self) -> str: ...
    @property
    def bot(self) -> bool: ...
    @property
    def x(self) -> float: ...
    @property
    def y(self) -> float: ...
    @property
    def vx(self) -> float: ...
    @property
    def vy(self) -> float: ...
    @property
    def alive(self) -> bool: ...
    @property
    def ready_tick(self) -> int: ...


@dataclass(slots=True, eq=False)
class Ship:
    """A ship and its player's pending input; the rules change it, no one else."""

    id: str
    name: str
    color: str
    bot: bool
    x: float = 0.0
    y: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    aim: float = 0.0
    hp: int = 0
    alive: bool = False
    score: int = 0
    move: tuple[float, float] = (0.0, 0.0)  # the player's stick, kept while dead
    steer: bool = False  # `move` changed (or a new ship): recompute the velocity at the next step
    aim_next: float | None = None
    fire: bool = False  # the trigger was pulled since the last step ...
    seen: int | None = None  # ... by a player who saw this tick
    respawn: bool = False  # dead, and its player asked for a new ship
    ready_tick: int = 0  # the first tick at which it may fire
    respawn_tick: int = 0  # dead: the first tick at which it may respawn
    born: int = 0  # the first tick its current life shows in: history holds born .. now
    away: bool = False  # its player's socket dropped and the room keeps the seat (`set_away`)
    hx: list[float] = field(default_factory=lambda: [0.0] * HISTORY)
    hy: list[float] = field(default_factory=lambda: [0.0] * HISTORY)

    def public(self) -> dict[str, Any]:
        shown = {
            "id": self.id, "name": self.name, "color": self.color, "x": self.x, "y": self.y,
            "vx": self.vx, "vy": self.vy, "aim": self.aim, "hp": self.hp, "alive": self.alive,
            "score": self.score, "bot": self.bot,
        }  # fmt: skip
        if self.away:
            shown["away"] = True
        return shown
