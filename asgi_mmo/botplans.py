"""A room's bots and the plans they ask for, computed off the event loop.

Each tick the room lets its bots act (`act`): a bot that wants a plan (a path
to food, say) hands a request over, and goes on with safe moves until the
answer comes. While the room ticks (`async with plans.planning():`), a few
worker tasks take the requests from a bounded stream and hand each to the
`Planner` (worker processes, `offload.py`) with the name of the game's
planning function (`Game.plan_function`); each answer reaches its bot when it
comes. A request that finds the stream full, a room without a planner, or a game
that names no planning function, is dropped: that bot makes do with safe moves and asks again later. A tick never
waits for a plan.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asgi_mmo.games.base import BotDriver

logger = logging.getLogger("asgi_mmo.room")

#: Runs a bot driver's plan request with the named planning function (`"module:function"`)
#: somewhere off the event loop (worker processes).
Planner = Callable[[str, Any], Awaitable[Any]]
#: Plan requests a room may have queued; beyond it bots make do with safe moves.
PLAN_QUEUE = 64


class BotPlans:
    def __init__(
        self, room_id: str, driver: BotDriver, plan_function: str | None, planner: Planner | None, concurrency: int
    ) -> None:
        self.room_id = room_id
        self.driver = driver
        self._plan_function = plan_function
        self._planner = planner
        self._concurrency = concurrency
        self._requests: MemoryObjectSendStream[tuple[str, Any]] | None = None

    def act(self, tick: int) -> None:
        """The bots' moves for this tick; their plan requests go to the workers, never waited for."""
        for bot_id, request in self.driver.act(tick):
            try:
                if self._requests is None:
                    raise anyio.WouldBlock
                self._requests.send_nowait((bot_id, request))
            except anyio.WouldBlock:
                self.driver.forget(bot_id)

    @asynccontextmanager
    async def planning(self) -> AsyncIterator[None]:
        """Plan for the bots while the body runs (the room's tick loop)."""
        if self._planner is None or self._plan_function is None:
            yield
            return
        send, receive = anyio.create_memory_object_stream[tuple[str, Any]](PLAN_QUEUE)
        self._requests = send
        try:
            async with anyio.create_task_group() as workers:
                async with receive:
                    for _ in range(self._concurrency):
                        workers.start_soon(self._run, self._planner, self._plan_function, receive.clone())
                try:
                    yield
                finally:
                    workers.cancel_scope.cancel()
        finally:
            send.close()
            self._requests = None

    async def _run(
        self, planner: Planner, function: str, requests: MemoryObjectReceiveStream[tuple[str, Any]]
    ) -> None:
        """Hand plan requests to the planner; each answer reaches its bot when it comes."""
        async with requests:
            async for bot_id, request in requests:
                try:
                    plan = await planner(function, request)
                except Exception:
                    # A failed plan costs one bot one plan, never the room.
                    logger.exception("bot plan failed room=%s bot=%s", self.room_id, bot_id)
                    plan = []
                self.driver.accept(bot_id, plan)
