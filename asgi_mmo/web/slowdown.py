"""An optional per-address slow-down of wrong admin tokens (`ASGI_MMO_ADMIN_SLOWDOWN_SECONDS`).

Each wrong token from one address delays its 401 twice as long as the one before (from 0.1 s
up to the setting), and an address's wrong tries wait their turn one after another, so guessing
from one address in parallel gains nothing. The right token from that address, or ten quiet
minutes, forgive it. Off (0) by default: the token is 192 random bits; turn it on where the
admin API is reachable by others.
"""

from __future__ import annotations

from collections import OrderedDict

import anyio
from starlette.requests import Request

from asgi_mmo.web.state import settings_of

FIRST_DELAY_SECONDS = 0.1
FORGET_SECONDS = 600.0
#: addresses remembered at most (the longest quiet is forgotten first)
MAX_ADDRESSES = 10_000


class WrongTokens:
    """Strikes per address; pure but for `pause`, which sleeps."""

    def __init__(self, limit_seconds: float) -> None:
        self.limit = limit_seconds
        self._strikes: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._turns: dict[str, anyio.Lock] = {}

    def strike(self, address: str, now: float) -> float:
        """One more wrong token from `address`: the seconds its answer waits."""
        strikes, last = self._strikes.pop(address, (0, now))
        if now - last > FORGET_SECONDS:
            strikes = 0
        strikes += 1
        self._strikes[address] = (strikes, now)
        while len(self._strikes) > MAX_ADDRESSES:
            forgotten, _ = self._strikes.popitem(last=False)
            self._turns.pop(forgotten, None)
        delay: float = FIRST_DELAY_SECONDS * 2.0 ** min(strikes - 1, 30)
        return min(self.limit, delay)

    def forgive(self, address: str) -> None:
        self._strikes.pop(address, None)

    async def pause(self, address: str) -> None:
        turn = self._turns.setdefault(address, anyio.Lock())
        async with turn:  # one wrong try at a time per address
            await anyio.sleep(self.strike(address, anyio.current_time()))


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _wrong_tokens(request: Request) -> WrongTokens | None:
    limit = settings_of(request).admin_slowdown_seconds
    if limit <= 0:
        return None
    state = request.app.state
    kept = getattr(state, "wrong_admin_tokens", None)
    if not isinstance(kept, WrongTokens):  # made on first use: one per app
        kept = state.wrong_admin_tokens = WrongTokens(limit)
    return kept


async def slow_down(request: Request) -> None:
    """Before answering a wrong admin token: wait this address's turn and its delay (if on)."""
    wrong = _wrong_tokens(request)
    if wrong is not None:
        await wrong.pause(_address(request))


def forgive(request: Request) -> None:
    """The right token: this address starts afresh."""
    wrong = _wrong_tokens(request)
    if wrong is not None:
        wrong.forgive(_address(request))
