"""The WebSocket protocol of the hardened commands: uvicorn's sans-I/O `websockets` protocol with
limits that need the transport (docs/operators.md, "Serving, hardened").

- Control frames (pings, pongs) are counted per connection: beyond `CONTROL_FRAMES_PER_SECOND`
  (burst `CONTROL_FRAME_BURST`) the client gets the error `flood` and close 1008. While the
  client reads nothing (the transport is over its high mark) its pings get no pong, so a
  flooder that never reads cannot make the server queue pongs.
- A message is limited as a whole, its fragments added up (`websockets` counts them): one over
  `ASGI_MMO_MAX_MESSAGE_BYTES` gets the error `too_big` and close 1009 as soon as a frame header
  says so, before its payload is read or anything is assembled.
- A connection the server is done with is let go: closed once the client has taken what was
  sent, or reset (its queued data dropped) when it does not take it within `DRAIN_SECONDS`, at
  once when it already stopped reading, so no socket with a full send queue stays behind.
"""

from __future__ import annotations

import asyncio
import time
from asyncio import TimerHandle
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.config import Config
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.exceptions import ProtocolError
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from asgi_mmo.protocol import error_frame
from asgi_mmo.ratelimit import RateLimiter
from asgi_mmo.serving.limits import LimitedProtocol, ServingLimits
from asgi_mmo.serving.sockets import bound_write_buffer, reset, unsent_bytes

#: how often a connection being let go looks whether its client has taken everything
_DRAIN_POLL_SECONDS = 0.05


class GuardedServerProtocol(ServerProtocol):
    """`websockets`' server side with a control-frame budget and the contract's error frames."""

    def __init__(self, limits: ServingLimits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._limits = limits
        self._control = RateLimiter(limits.control_frames_per_second, limits.control_frame_burst, 1.0)
        #: the transport is over its high mark: the client is not reading
        self.congested = False

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PING or frame.opcode is Opcode.PONG:
            if not self._control.allow(time.monotonic()):
                if self.state is State.OPEN:
                    self._error_frame("flood", "too many WebSocket pings and pongs")
                self.fail(CloseCode.POLICY_VIOLATION, "flood")
                raise ProtocolError("control frame flood")  # ends parsing this chunk; the close is sent above
            if frame.opcode is Opcode.PING and self.congested:
                self.events.append(frame)  # no pong: it would only queue for a client that reads nothing
                return
        super().recv_frame(frame)

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        if code == CloseCode.MESSAGE_TOO_BIG and self.state is State.OPEN:
            self._error_frame("too_big", f"messages are at most {self._limits.max_message_bytes} bytes, "
                                         "fragments included")
        super().fail(code, reason)

    def _error_frame(self, code: str, message: str) -> None:
        self.send_frame(Frame(Opcode.TEXT, error_frame(code, message).encode()))


class HardenedWebSocketProtocol(LimitedProtocol, WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol with the limits above."""

    def __init__(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.close_timeout = self.limits.close_timeout_seconds
        self.conn = self.guarded = GuardedServerProtocol(
            self.limits, extensions=self.conn.available_extensions, max_size=self.limits.max_message_bytes,
            logger=self.conn.logger,
        )
        self._letting_go: TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        bound_write_buffer(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._letting_go is not None:
            self._letting_go.cancel()
            self._letting_go = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self.guarded.congested = True

    def resume_writing(self) -> None:
        super().resume_writing()
        self.guarded.congested = False

    def handle_connect(self, event: Request) -> None:
        limit = self.config.limit_concurrency
        if limit is not None and len(self.connections) > limit:  # uvicorn caps HTTP requests, not upgrades
            self.handshake_initiated = self.handshake_complete = self.close_sent = True
            self.conn.send_response(self.conn.reject(503, "Service Unavailable: too many connections\n"))
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
            return
        super().handle_connect(event)

    def handle_parser_exception(self) -> None:
        """A frame broke a limit or the protocol: the close frame goes out, then the client is let go."""
        assert self.conn.close_sent is not None
        close = self.conn.close_sent
        self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code, "reason": close.reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.let_go()

    async def run_asgi(self) -> None:
        """As uvicorn's, but the connection is let go at the end instead of closed (a close waits
        forever for a client that reads nothing)."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.close_timer is None:
            self.let_go()

    async def send(self, message: ASGISendEvent) -> None:
        timer = self.close_timer
        await super().send(message)
        if self.close_timer is not None and self.close_timer is not timer:  # the app's close frame went out
            self.close_timer.cancel()
            self.close_timer = self.loop.call_later(self.close_timeout, self._give_up)

    def let_go(self) -> None:
        """Close once the client has taken what was sent; reset it if it does not within the drain time
        (at once if it is not reading now)."""
        if self.disconnected or self._letting_go is not None:
            return
        if not self.writable.is_set():
            reset(self.transport)
            return
        self._wait_for_drain(self.loop.time() + self.limits.drain_seconds)

    def _wait_for_drain(self, deadline: float) -> None:
        self._letting_go = None
        if self.disconnected:
            return
        if unsent_bytes(self.transport) == 0:
            self.transport.close()
        elif self.loop.time() >= deadline:
            reset(self.transport)
        else:
            self._letting_go = self.loop.call_later(_DRAIN_POLL_SECONDS, self._wait_for_drain, deadline)

    def _give_up(self) -> None:
        """The client did not answer the close frame in time."""
        self.close_timer = None
        if not self.disconnected:
            if unsent_bytes(self.transport):
                reset(self.transport)
            else:
                self.transport.close()
