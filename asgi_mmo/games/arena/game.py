"""The arena as the catalog lists it: the rules, with their bots.

rules.py stays below bots.py (the bots read the game; the game does not know
them), so the one place that knows both is this small subclass.
"""

from __future__ import annotations

from asgi_mmo.games.arena.bots import ArenaBots
from asgi_mmo.games.arena.rules import ArenaGame


class Arena(ArenaGame):
    """`ArenaGame` whose `make_bot_driver` steers its bots."""

    def make_bot_driver(self) -> ArenaBots:
        return ArenaBots(self)
