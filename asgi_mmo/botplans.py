"""A room's bots and the plans they ask for, computed off the event loop.

Each tick the room lets its bots act (`act`): a bot that wants a plan (a path
to food, say) hands a request over, and goes on with safe moves until the
answer comes. A tick's requests go together, in batches of at most
`PLAN_BATCH`: while the room ticks (`async with plans.planning():`), a few
worker tasks take the batches from a bounded stream and hand each to the
`Planner` (worker processes, `offload.py`: one job a batch) with the name of
the game's planning function (`Game.plan_function`); the answers reach their
bots when they come. A batch that finds the stream full, a room without a
planner, or a game that names no planning function, is dropped: those bots
make do with safe moves and ask again later. A tick never waits for a plan.
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

#: Runs a bot driver's plan requests with the named planning function (`"module:function"`)
#: somewhere off the event loop (worker processes): their plans, in the same order.
Planner = Callable[[str, list[Any]], Awaitable[list[Any]]]
#: Batches of plan requests a room may have queued; beyond it bots make do with safe moves.
PLAN_QUEUE = 16
#: Requests in one batch at most: a tick's requests in more than one when there are many,
#: so that several worker processes share them.
PLAN_BATCH = 16

Batch = list[tuple[str, Any]]


class BotPlans:
    def __init__(
        self, room_id: str, driver: BotDriver, plan_function: str | None, planner: Planner | None, concurrency: int
    ) -> None:
        self.room_id = room_id
        self.driver = driver
        self._plan_function = plan_function
        self._planner = planner
        self._concurrency = concurrency
        self._requests: MemoryObjectSendStream[Batch] | None = None

    def act(self, tick: int) -> None:
        """The bots' moves for this tick; their plan requests go to the workers, never waited for."""
        asked = self.driver.act(tick)
        for start in range(0, len(asked), PLAN_BATCH):
            batch = asked[start : start + PLAN_BATCH]
            try:
                if self._requests is None:
                    raise anyio.WouldBlock
                self._requests.send_nowait(batch)
            except anyio.WouldBlock:
                for bot_id, _ in batch:
                    self.driver.forget(bot_id)

    @asynccontextmanager
    async def planning(self) -> AsyncIterator[None]:
        """Plan for the bots while the body runs (the room's tick loop)."""
        if self._planner is None or self._plan_function is None:
            yield
            return
        send, receive = anyio.create_memory_object_stream[Batch](PLAN_QUEUE)
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

    async def _run(self, planner: Planner, function: str, batches: MemoryObjectReceiveStream[Batch]) -> None:
        """Hand batches of plan requests to the planner; the answers reach their bots when they come."""
        async with batches:
            async for batch in batches:
                try:
                    plans = await planner(function, [request for _, request in batch])
                except Exception:
                    # A failed batch costs its bots one plan each, never the room.
                    logger.exception("bot plans failed room=%s bots=%s", self.room_id, [b for b, _ in batch])
                    plans = [[] for _ in batch]
                for (bot_id, _), plan in zip(batch, plans, strict=True):
                    self.driver.accept(bot_id, plan)
