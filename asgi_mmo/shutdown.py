"""Graceful shutdown: players hear `server_shutdown` before uvicorn cuts their sockets.

uvicorn's own order on SIGTERM or SIGINT is: stop listening, close every
WebSocket with "service restart" (the close code of `server_shutdown`), wait
for the connections, and only then run the lifespan shutdown. A player cut
off that way never gets the contract's `server_shutdown` error frame, so the
app steps in when the signal arrives:

1. `watch()` (a task of the lifespan) takes SIGTERM and SIGINT over from
   uvicorn's handler. When one arrives, `registry.drain()` runs at once:
   `/readyz` answers 503, joins are refused, and every connected player gets
   `server_shutdown` and its close code. Seats stay, so the token resumes them.
2. It waits until every player socket has sent its farewell, at most
   `FLUSH_SECONDS` (and at most half the grace time).
3. It gives uvicorn back its handlers and hands it the signal(s): uvicorn
   stops listening, closes what is left and runs the lifespan shutdown.
4. The lifespan shutdown (`finish()`) hands every room's state to the
   backend within what is left of `ASGI_MMO_SHUTDOWN_GRACE_SECONDS`, counted
   from the signal; the lifespan then closes the rooms, the backend and the
   leaderboard (which flushes).

Signals that arrive during step 2 are handed on after it, in order (a second
Ctrl+C still forces uvicorn to quit, a couple of seconds later). This works
wherever uvicorn's `Server` owns the signals: `uvicorn`, `asgi-mmo serve` and
gunicorn's uvicorn workers. Elsewhere (a TestClient, another server) `watch()`
leaves the signals alone and the drain happens in the lifespan shutdown.

`GracefulShutdown.phase` follows the steps: RUNNING, DRAINING (1-3), SAVING
(4), FINISHED; a lifespan that starts again (`watch`) begins at RUNNING.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.websockets import WebSocket

from asgi_mmo.lifecycle import Lifecycle
from asgi_mmo.registry import RoomRegistry

logger = logging.getLogger("asgi_mmo.shutdown")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: longest wait, after telling the players, for their sockets to close
FLUSH_SECONDS = 2.0
#: saving rooms gets at least this long, even when the grace time is spent already
MIN_SAVE_SECONDS = 0.5

Endpoint = Callable[[WebSocket], Awaitable[None]]


class ShutdownPhase(enum.Enum):
    #: serving; no signal yet
    RUNNING = "running"
    #: joins refused, players told; waiting for their farewells, then for uvicorn
    DRAINING = "draining"
    #: the lifespan shutdown hands the rooms to the backend
    SAVING = "saving"
    #: the rooms are saved (or the grace time ran out)
    FINISHED = "finished"


#: the moves a shutdown may make; any other raises a RuntimeError that names it
_PHASES = Lifecycle("Shutdown", {
    ShutdownPhase.RUNNING: {ShutdownPhase.DRAINING},
    ShutdownPhase.DRAINING: {ShutdownPhase.SAVING},
    ShutdownPhase.SAVING: {ShutdownPhase.FINISHED},
    ShutdownPhase.FINISHED: {ShutdownPhase.RUNNING},
})


def uvicorn_handlers() -> dict[int, Callable[[int, Any], None]] | None:
    """uvicorn's handlers of SIGTERM and SIGINT, if it owns both here (else None)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        from uvicorn.server import Server
    except ImportError:  # pragma: no cover - uvicorn is a dependency
        return None
    handlers = {sig: signal.getsignal(sig) for sig in SIGNALS}
    if all(isinstance(getattr(handler, "__self__", None), Server) for handler in handlers.values()):
        return handlers  # type: ignore[return-value]
    return None


class GracefulShutdown:
    """One app's shutdown: `track` the player endpoint, run `watch` and `finish` in the lifespan."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        #: player sockets whose endpoint has not returned yet (farewell included)
        self.open_sockets = 0
        #: when the first shutdown signal arrived (anyio clock), None before
        self.signal_at: float | None = None
        self.phase = ShutdownPhase.RUNNING

    def _move(self, to: ShutdownPhase) -> None:
        self.phase = _PHASES.move(self.phase, to)

    def track(self, endpoint: Endpoint) -> Endpoint:
        """`endpoint`, counting the sockets it serves in `open_sockets`."""

        async def counted(websocket: WebSocket) -> None:
            self.open_sockets += 1
            try:
                await endpoint(websocket)
            finally:
                self.open_sockets -= 1

        counted.__name__ = getattr(endpoint, "__name__", "endpoint")
        counted.__doc__ = endpoint.__doc__
        return counted

    async def watch(
        self, registry: RoomRegistry, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Drain on SIGTERM/SIGINT before uvicorn acts on it; until cancelled."""
        if self.phase is ShutdownPhase.FINISHED:  # the app's lifespan runs again
            self._move(ShutdownPhase.RUNNING)
            self.signal_at = None
        previous = uvicorn_handlers()
        if previous is None:
            logger.debug("shutdown signals left to the server: uvicorn does not own them here")
            task_status.started()
            return
        loop = asyncio.get_running_loop()
        received: list[int] = []
        arrived = anyio.Event()
        installed: list[int] = []

        def on_signal(sig: int) -> None:
            received.append(sig)
            if arrived.is_set():
                return  # a later signal: handed on after the first, in order
            try:
                if self.phase is ShutdownPhase.RUNNING:  # else the lifespan shutdown drained already
                    self.signal_at = anyio.current_time()
                    self.drain(registry, f"signal={signal.Signals(sig).name}")
            finally:
                arrived.set()  # whatever happened, uvicorn gets the signal

        def hand_back() -> None:
            """uvicorn's handlers back in place, and every signal we took handed to them."""
            while installed:
                sig = installed.pop()
                loop.remove_signal_handler(sig)
                signal.signal(sig, previous[sig])
            for sig in received:
                previous[sig](sig, None)
            received.clear()

        try:
            try:
                for sig in SIGNALS:
                    loop.add_signal_handler(sig, on_signal, sig)
                    installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError) as error:
                logger.warning("shutdown signals left to the server: %s", error)
                task_status.started()
                return
            task_status.started()
            await arrived.wait()
            await self._wait_for_farewells()
            logger.info("shutdown handing over to uvicorn signals=%s", ",".join(
                signal.Signals(sig).name for sig in received))
        finally:
            hand_back()

    def drain(self, registry: RoomRegistry, cause: str) -> None:
        """Refuse joins, flip readiness and tell every player (`server_shutdown`)."""
        self._move(ShutdownPhase.DRAINING)
        rooms = registry.rooms()
        players = sum(room.players for room in rooms)
        logger.info("shutdown draining %s rooms=%d players=%d", cause, len(rooms), players)
        registry.drain()

    async def _wait_for_farewells(self) -> None:
        started = anyio.current_time()
        with anyio.move_on_after(min(FLUSH_SECONDS, self.grace_seconds / 2)):
            while self.open_sockets:
                await anyio.sleep(0.01)
        logger.info(
            "shutdown players told sockets_left=%d waited_ms=%d",
            self.open_sockets, round((anyio.current_time() - started) * 1000),
        )

    async def finish(self, registry: RoomRegistry) -> None:
        """The lifespan shutdown: drain if no signal did, then save every room to the backend."""
        if self.phase is ShutdownPhase.RUNNING:
            self.drain(registry, "cause=lifespan")
        self._move(ShutdownPhase.SAVING)
        now = anyio.current_time()
        deadline = (self.signal_at if self.signal_at is not None else now) + self.grace_seconds
        budget = max(deadline - now, min(MIN_SAVE_SECONDS, self.grace_seconds))
        with anyio.CancelScope(shield=True), anyio.move_on_after(budget) as scope:
            try:
                saved = await registry.save_rooms()
            finally:
                self._move(ShutdownPhase.FINISHED)
        if scope.cancelled_caught:
            logger.warning("shutdown rooms not saved budget_ms=%d: the grace time ran out", round(budget * 1000))
        else:
            logger.info("shutdown rooms saved rooms=%d ms=%d", saved, round((anyio.current_time() - now) * 1000))
