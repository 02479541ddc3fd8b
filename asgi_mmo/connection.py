"""The room's handle on one player's socket.

The room never awaits a socket: it hands frames over with `deliver_nowait`.
While the client keeps up (nothing queued for it), a frame goes straight to
the socket: the room starts the ASGI send itself, and uvicorn's send finishes
without suspending while the transport takes data, so the frame costs the
send and nothing else. If the send suspends (the transport's buffer is full),
the started send is handed to the socket's writer task (`run_writer`), which
finishes it; frames after it wait in a bounded outbox that the writer sends
in order. A client that stops reading fills its outbox; the room then skips
its ticks and sends it a `state` once it has caught up, or closes it
(`too_slow`) when it has taken nothing for too long. So a slow client never
slows its room, and memory per connection stays bounded.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

import anyio
from anyio import CancelScope

from asgi_mmo.exceptions import ConnectionRefused

#: why a connection ends when a send finds the client gone
CLIENT_GONE = ConnectionRefused("disconnected", "the client went away", 1006)

# Put in the outbox to make the writer finish a send the room started and that suspended.
_RESUME: Any = object()


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
    __slots__ = ("_send", "_outbox_in", "_outbox_out", "_backlog", "_direct", "_suspended", "_scope",
                 "needs_state", "last_progress", "close_reason", "closed_by_client")

    def __init__(self, send: Callable[[str], Awaitable[None]], outbox_frames: int) -> None:
        self._send = send
        self._outbox_in, self._outbox_out = anyio.create_memory_object_stream[str](outbox_frames)
        #: frames handed over and not yet sent: queued, plus one being sent by the writer
        self._backlog = 0
        #: the writer runs, so a frame may go straight to the socket while the backlog is empty
        self._direct = False
        #: a send the room started that suspended; the writer finishes it
        self._suspended: tuple[Coroutine[Any, Any, Any], Any] | None = None
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
        if self._backlog:
            return self._enqueue(frame)
        if not self._direct:
            return self._enqueue(frame)
        sending = self._send(frame)
        try:
            suspended_on = sending.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            self.last_progress = anyio.current_time() if now is None else now
            return True
        except Exception:  # noqa: BLE001 - the send failed: the client is gone
            self._direct = False
            self.closed_by_client = True
            self.close_nowait(CLIENT_GONE)
            return False
        # The transport is full: the writer finishes this send; later frames queue behind it.
        self._suspended = (sending, suspended_on)  # type: ignore[assignment]
        if not self._enqueue(_RESUME):  # pragma: no cover - the outbox is empty here
            sending.close()  # type: ignore[attr-defined]
            self._suspended = None
            return False
        return True

    def _enqueue(self, frame: str) -> bool:
        try:
            self._outbox_in.send_nowait(frame)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        self._backlog += 1
        return True

    def caught_up(self) -> bool:
        """The client has taken every frame handed over for it."""
        return not self._backlog

    def queue_depth(self) -> int:
        return self._backlog

    def stalled_for(self, now: float) -> float:
        """Seconds the client has held frames without taking any (0 when it is caught up)."""
        return 0.0 if not self._backlog else now - self.last_progress

    def close_nowait(self, reason: ConnectionRefused) -> None:
        """End the connection for `reason`; the first reason given wins."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._scope is not None:
            self._scope.cancel()

    # ---- the socket's side --------------------------------------------------------

    def bind_scope(self, scope: CancelScope) -> None:
        """The scope that `close_nowait` cancels: the socket's reader and writer."""
        self._scope = scope
        if self.close_reason is not None:
            scope.cancel()

    async def run_writer(self) -> None:
        """Send what the room could not send at once, in order, until the connection ends.

        From its start, frames go straight to the socket while nothing is queued:
        run it after the first frame (the `welcome`) has been sent.
        """
        self._direct = True
        try:
            async with self._outbox_out:
                async for frame in self._outbox_out:
                    if frame is _RESUME:
                        if self._suspended is not None:
                            sending, suspended_on = self._suspended
                            self._suspended = None
                            await _finish(sending, suspended_on)
                    else:
                        await self._send(frame)
                    self._backlog -= 1
                    self.last_progress = anyio.current_time()
        finally:
            self._direct = False

    def close_outbox(self) -> None:
        """Release the outbox; later deliveries are dropped."""
        self._direct = False
        self._outbox_in.close()
        self._outbox_out.close()
        if self._suspended is not None:
            self._suspended[0].close()
            self._suspended = None
