"""A snake as the rules keep it (`rules.SnakeGame`), and as the protocol shows it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

Cell = tuple[int, int]


@dataclass(slots=True, eq=False)
class Snake:
    id: str
    name: str
    color: str
    bot: bool
    body: deque[Cell] = field(default_factory=deque)  # head first
    dir: str = "right"  # the direction it last moved, or (new snake) will first move
    next_dir: str = "right"  # the direction of the next step
    alive: bool = False
    score: int = 0
    grow: int = 0  # steps to come in which the tail stays put
    respawn: bool = False  # dead, and its player asked for a new snake
    #: seconds the snake still stands (the start grace); None once it moves
    waiting: float | None = None
    turned: bool = False  # a turn came while it stood: it moves at the next step
    #: its player's socket dropped and the room keeps the seat (`SnakeGame.set_away`)
    away: bool = False
    #: the serial of the head cell: body[i] has serial - i (views order a body seen in parts)
    serial: int = 0

    def entry(self) -> dict[str, Any]:
        """The snake as `public()` shows it, without its body (a view's bucket carries its cells)."""
        shown = {
            "id": self.id, "name": self.name, "color": self.color, "dir": self.dir,
            "alive": self.alive, "score": self.score, "bot": self.bot,
        }  # fmt: skip
        if self.waiting is not None and self.alive:
            shown["waiting"] = True
        if self.away:
            shown["away"] = True
        return shown

    def public(self) -> dict[str, Any]:
        return {**self.entry(), "body": [[x, y] for x, y in self.body]}
