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
"""

from __future__ import annotations

import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup

from asgi_mmo.exceptions import ConnectionRefused

#: why a connection ends when a send finds the client gone
CLIENT_GONE = ConnectionRefused("disconnected", "the client went away", 1006)


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
    __slots__ = ("_send", "_limit", "_outbox", "_suspended", "_tasks", "_draining", "_closed", "_scope",
                 "needs_state", "last_progress", "close_reason", "closed_by_client")

    def __init__(self, send: Callable[[str], Awaitable[None]], outbox_frames: int) -> None:
        self._send = send
        self._limit = outbox_frames
        #: frames waiting for the drain task; the one being sent stays first until it is sent
        self._outbox: deque[str] = deque()
        #: a send the room started that suspended; the drain task finishes it first
        self._suspended: tuple[Coroutine[Any, Any, Any], Any] | None = None
        #: the socket's task group, once attached: frames may go straight to the socket
        self._tasks: TaskGroup | None = None
        self._draining = False
        self._closed = False
        self._scope: CancelScope | None = None
        #: the next frame this client gets must be a full `state`
        self.needs_state = False
        #: when the client last took a frame (anyio clock)
        self.last_progress = anyio.current_time()
        #: why the server ends this connection (None: it has not decided to)
        self.close_reason: ConnectionRefused | None = None
        self.closed_by_client = False

    # ---- called by the room, never blocking --------------------------------------

    def deliver_nowait(self, frame: str, now: float | None = None) -> bool:
        """Send or queue a frame; False when the outbox is full (or closed) and the frame is dropped.

        `now` (the anyio clock, when the caller has it) saves reading the clock.
        """
        if self._closed:
            return False
        if self._tasks is None or self._draining:
            return self._enqueue(frame)
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

    def _enqueue(self, frame: str) -> bool:
        if len(self._outbox) >= self._limit:
            return False
        self._outbox.append(frame)
        if self._tasks is not None:
            self._start_drain()
        return True

    def caught_up(self) -> bool:
        """The client has taken every frame handed over for it."""
        return not (self._outbox or self._suspended or self._draining)

    def queue_depth(self) -> int:
        return len(self._outbox) + (1 if self._suspended else 0)

    def stalled_for(self, now: float) -> float:
        """Seconds the client has held frames without taking any (0 when it is caught up)."""
        return 0.0 if self.caught_up() else now - self.last_progress

    def close_nowait(self, reason: ConnectionRefused) -> None:
        """End the connection for `reason`; the first reason given wins."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._scope is not None:
            self._scope.cancel()

    # ---- the socket's side --------------------------------------------------------

    def bind_scope(self, scope: CancelScope) -> None:
        """The scope that `close_nowait` cancels: the socket's reader and its sends."""
        self._scope = scope
        if self.close_reason is not None:
            scope.cancel()

    def attach(self, tasks: TaskGroup) -> None:
        """From now on frames go straight to the socket, and a drain task runs in `tasks`
        whenever frames must wait. Attach after the first frame (the `welcome`) was sent."""
        if self._scope is None:
            self.bind_scope(tasks.cancel_scope)
        self._tasks = tasks
        if self._outbox:
            self._start_drain()

    async def run_writer(self) -> None:
        """Attach to a task group of its own and serve this connection's sends until cancelled
        (for a socket that has no task group to attach to)."""
        async with anyio.create_task_group() as tasks:
            self.attach(tasks)
            await anyio.sleep_forever()

    def _start_drain(self) -> None:
        if not self._draining and self._tasks is not None:
            self._draining = True
            self._tasks.start_soon(self._drain)

    async def _drain(self) -> None:
        """Finish a suspended send, then send the queued frames in order; end when caught up."""
        try:
            if self._suspended is not None:
                sending, suspended_on = self._suspended
                await _finish(sending, suspended_on)
                self._suspended = None
                self.last_progress = anyio.current_time()
            while self._outbox and not self._closed:
                await self._send(self._outbox[0])
                self._outbox.popleft()
                self.last_progress = anyio.current_time()
        except Exception:  # noqa: BLE001 - a send failed: the client is gone
            self._gone()
        finally:
            self._draining = False

    def _gone(self) -> None:
        self.closed_by_client = True
        self._closed = True
        self.close_nowait(CLIENT_GONE)

    def close_outbox(self) -> None:
        """Release the outbox; later deliveries are dropped."""
        self._closed = True
        self._tasks = None
        self._outbox.clear()
        if self._suspended is not None:
            self._suspended[0].close()
            self._suspended = None
