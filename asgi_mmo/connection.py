"""The room's handle on one player's socket.

The room never awaits a socket: it hands frames over with `deliver_nowait`.
While the client keeps up (nothing queued for it), a frame goes straight to
the socket: the room starts the ASGI send itself, and uvicorn's send finishes
without suspending while the transport takes data, so the frame costs the
send and nothing else. If the send suspends (the transport's buffer is full),
a drain task is started in the socket's task group: it finishes that send and
then the frames queued behind it (a bounded outbox), in order, and ends once
the client has caught up. So a client that keeps up costs no task and no
queue; a client that stops reading fills its outbox, and the room then skips
its ticks and sends it a `state` once it has caught up, or closes it
(`too_slow`) when it has taken nothing for too long. A slow client never
slows its room, and memory per connection stays bounded.

Two small lifecycles, each an enum (`OutboxState`, `ConnectionState`): how a
frame handed over travels (queued before the socket is attached, straight to
the socket, behind a drain task, dropped once the outbox is closed), and how
the connection ends (open; the server gave a reason and owes a farewell; the
client went away, so no farewell can reach it).
"""

from __future__ import annotations

import enum
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup

from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.lifecycle import Lifecycle
from asgi_mmo.protocol import ABNORMAL_CLOSURE

#: why a connection ends when a send finds the client gone
CLIENT_GONE = ConnectionRefused("disconnected", "the client went away", ABNORMAL_CLOSURE)


class OutboxState(enum.Enum):
    """How `deliver_nowait` hands a frame on."""

    #: not attached to the socket yet: frames queue (the `welcome` goes first)
    WAITING = "waiting"
    #: attached, nothing waiting: a frame goes straight to the socket
    DIRECT = "direct"
    #: a drain task sends what waits; new frames queue behind it
    DRAINING = "draining"
    #: released (or the client is gone): frames are dropped
    CLOSED = "closed"


#: the moves the outbox may make; any other raises a RuntimeError that names it
_OUTBOX = Lifecycle("Connection outbox", {
    OutboxState.WAITING: {OutboxState.DIRECT, OutboxState.DRAINING, OutboxState.CLOSED},
    OutboxState.DIRECT: {OutboxState.DRAINING, OutboxState.CLOSED},
    OutboxState.DRAINING: {OutboxState.DIRECT, OutboxState.CLOSED},
    OutboxState.CLOSED: {OutboxState.CLOSED},
})
_DIRECT, _DRAINING, _CLOSED = OutboxState.DIRECT, OutboxState.DRAINING, OutboxState.CLOSED


class ConnectionState(enum.Enum):
    """How the connection ends; it only moves down this list."""

    #: nobody has ended it
    OPEN = "open"
    #: the server gave a reason (`close_reason`); the socket owes the client its farewell
    CLOSING = "closing"
    #: the client went away (after a server reason or not): no farewell can reach it
    GONE = "gone"


@types.coroutine
def _finish(coroutine: Coroutine[Any, Any, Any], suspended_on: Any) -> Generator[Any, Any, None]:
    """Run on, in the awaiting task, a coroutine started by hand that suspended on `suspended_on`.

    What `await` does for a coroutine it started itself: pass what it waits on
    up to the event loop, and what the loop answers (a value or an exception,
    such as a cancellation) back down.
    """
    waiting_on = suspended_on
    while True:
        try:
            answer = yield waiting_on
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as error:  # noqa: BLE001 - cancellation included: it belongs to the coroutine
            try:
                waiting_on = coroutine.throw(error)
            except StopIteration:
                return
        else:
            try:
                waiting_on = coroutine.send(answer)
            except StopIteration:
                return


class Connection:
    __slots__ = ("_send", "_limit", "_queue", "_suspended", "_tasks", "_outbox", "_state", "_scope",
                 "needs_state", "last_progress", "close_reason")

    def __init__(self, send: Callable[[str], Awaitable[None]], outbox_frames: int) -> None:
        self._send = send
        self._limit = outbox_frames
        #: frames waiting for the drain task; the one being sent stays first until it is sent
        self._queue: deque[str] = deque()
        #: a send the room started that suspended; the drain task finishes it first
        self._suspended: tuple[Coroutine[Any, Any, Any], Any] | None = None
        #: the socket's task group, while attached (the drain task runs in it)
        self._tasks: TaskGroup | None = None
        self._outbox = OutboxState.WAITING
        self._state = ConnectionState.OPEN
        self._scope: CancelScope | None = None
        #: the next frame this client gets must be a full `state`
        self.needs_state = False
        #: when the client last took a frame (anyio clock)
        self.last_progress = anyio.current_time()
        #: why the server ends this connection (None: it has not decided to)
        self.close_reason: ConnectionRefused | None = None

    @property
    def outbox_state(self) -> OutboxState:
        return self._outbox

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def closed_by_client(self) -> bool:
        """The client went away: nothing more can be sent to it, a farewell included."""
        return self._state is ConnectionState.GONE

    # ---- called by the room, never blocking --------------------------------------

    def deliver_nowait(self, frame: str, now: float | None = None) -> bool:
        """Send or queue a frame; False when the outbox is full (or closed) and the frame is dropped.

        `now` (the anyio clock, when the caller has it) saves reading the clock.
        """
        outbox = self._outbox
        if outbox is not _DIRECT:
            if outbox is _CLOSED or len(self._queue) >= self._limit:
                return False
            self._queue.append(frame)  # WAITING: `attach` starts the drain; DRAINING: it runs already
            return True
        sending = self._send(frame)
        try:
            suspended_on = sending.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            self.last_progress = anyio.current_time() if now is None else now
            return True
        except Exception:  # noqa: BLE001 - the send failed: the client is gone
            self._gone()
            return False
        # The transport is full: a drain task finishes this send; later frames queue behind it.
        self._suspended = (sending, suspended_on)  # type: ignore[assignment]
        self._start_drain()
        return True

    def caught_up(self) -> bool:
        """The client has taken every frame handed over for it."""
        return not (self._queue or self._suspended or self._outbox is _DRAINING)

    def queue_depth(self) -> int:
        return len(self._queue) + (1 if self._suspended else 0)

    def stalled_for(self, now: float) -> float:
        """Seconds the client has held frames without taking any (0 when it is caught up)."""
        return 0.0 if self.caught_up() else now - self.last_progress

    def close_nowait(self, reason: ConnectionRefused) -> None:
        """End the connection for `reason`; the first reason given wins."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._state is ConnectionState.OPEN:
            self._state = ConnectionState.CLOSING
        if self._scope is not None:
            self._scope.cancel()

    # ---- the socket's side --------------------------------------------------------

    def client_gone(self) -> None:
        """The client went away (it closed, or a send failed): no farewell will be sent."""
        self._state = ConnectionState.GONE

    def bind_scope(self, scope: CancelScope) -> None:
        """The scope that `close_nowait` cancels: the socket's reader and its sends."""
        self._scope = scope
        if self.close_reason is not None:
            scope.cancel()

    def attach(self, tasks: TaskGroup) -> None:
        """From now on frames go straight to the socket, and a drain task runs in `tasks`
        whenever frames must wait. Attach once, after the first frame (the `welcome`) was sent."""
        if self._outbox is not OutboxState.WAITING:
            raise RuntimeError(f'Cannot attach a connection whose outbox is "{self._outbox.value}": attach once')
        if self._scope is None:
            self.bind_scope(tasks.cancel_scope)
        self._tasks = tasks
        if self._queue:
            self._start_drain()
        else:
            self._move(_DIRECT)

    async def run_writer(self) -> None:
        """Attach to a task group of its own and serve this connection's sends until cancelled
        (for a socket that has no task group to attach to)."""
        async with anyio.create_task_group() as tasks:
            self.attach(tasks)
            await anyio.sleep_forever()

    def _move(self, to: OutboxState) -> None:
        self._outbox = _OUTBOX.move(self._outbox, to)

    def _start_drain(self) -> None:
        assert self._tasks is not None, "a drain starts only once attached"
        self._move(_DRAINING)
        self._tasks.start_soon(self._drain)

    async def _drain(self) -> None:
        """Finish a suspended send, then send the queued frames in order; end when caught up."""
        try:
            if self._suspended is not None:
                sending, suspended_on = self._suspended
                await _finish(sending, suspended_on)
                self._suspended = None
                self.last_progress = anyio.current_time()
            while self._queue and self._outbox is _DRAINING:
                await self._send(self._queue[0])
                self._queue.popleft()
                self.last_progress = anyio.current_time()
        except Exception:  # noqa: BLE001 - a send failed: the client is gone
            self._gone()
        finally:
            if self._outbox is _DRAINING:  # caught up (or cancelled): frames go straight again
                self._move(_DIRECT)

    def _gone(self) -> None:
        self._move(_CLOSED)
        self.close_nowait(CLIENT_GONE)
        self.client_gone()

    def close_outbox(self) -> None:
        """Release the outbox; later deliveries are dropped."""
        self._move(_CLOSED)
        self._tasks = None
        self._queue.clear()
        if self._suspended is not None:
            self._suspended[0].close()
            self._suspended = None
