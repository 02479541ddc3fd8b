"""The room's handle on one player's socket.

The room never awaits a socket: it drops frames into a bounded outbox with
`deliver_nowait`, and the socket's writer task (`run_writer`) sends them. A
client that stops reading fills its outbox; the room then skips its ticks and
sends it a `state` once it has caught up, or closes it (`too_slow`) when it
has taken nothing for too long. So a slow client never slows its room, and
memory per connection stays bounded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from anyio import CancelScope

from asgi_mmo.exceptions import ConnectionRefused


class Connection:
    __slots__ = ("_send", "_outbox_in", "_outbox_out", "_sending", "_scope", "needs_state",
                 "last_progress", "close_reason", "closed_by_client")

    def __init__(self, send: Callable[[str], Awaitable[None]], outbox_frames: int) -> None:
        self._send = send
        self._outbox_in, self._outbox_out = anyio.create_memory_object_stream[str](outbox_frames)
        self._sending = False
        self._scope: CancelScope | None = None
        #: the next frame this client gets must be a full `state`
        self.needs_state = False
        #: when the client last took a frame (anyio clock)
        self.last_progress = anyio.current_time()
        #: why the server ends this connection (None: it has not decided to)
        self.close_reason: ConnectionRefused | None = None
        self.closed_by_client = False

    # ---- called by the room, never blocking --------------------------------------

    def deliver_nowait(self, frame: str) -> bool:
        """Queue a frame; False when the outbox is full (or closed) and the frame is dropped."""
        try:
            self._outbox_in.send_nowait(frame)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def caught_up(self) -> bool:
        """The client has taken every frame queued for it."""
        return not self._sending and self._outbox_in.statistics().current_buffer_used == 0

    def queue_depth(self) -> int:
        return self._outbox_in.statistics().current_buffer_used + (1 if self._sending else 0)

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
        """The scope that `close_nowait` cancels: the socket's reader and writer."""
        self._scope = scope
        if self.close_reason is not None:
            scope.cancel()

    async def run_writer(self) -> None:
        """Send queued frames until the connection ends; returns if the client is gone."""
        async with self._outbox_out:
            async for frame in self._outbox_out:
                self._sending = True
                await self._send(frame)
                self._sending = False
                self.last_progress = anyio.current_time()

    def close_outbox(self) -> None:
        """Release the outbox; later deliveries are dropped."""
        self._outbox_in.close()
        self._outbox_out.close()

