"""The HTTP protocol of the hardened commands: uvicorn's httptools protocol with a request read timeout.

uvicorn times out an idle keep-alive connection but not one that is sending its request: a
client that trickles headers (slowloris) or never finishes its body would hold the connection
for ever. Here each request must have arrived whole (headers and body) within
`ASGI_MMO_REQUEST_TIMEOUT_SECONDS` of its first byte, and a new connection must start one
within that time; otherwise the connection is closed.
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from asgi_mmo.serving.limits import LimitedProtocol


class HardenedHttpProtocol(LimitedProtocol, HttpToolsProtocol):
    #: the timer of the request being read, if one is
    _reading: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's own
        super().connection_made(transport)
        self._start_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_reading()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_reading()  # the next request on a kept-alive connection

    def on_message_complete(self) -> None:
        self._stop_reading()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop_reading()  # from here the WebSocket protocol owns the connection
        super().handle_websocket_upgrade()

    def _start_reading(self) -> None:
        if self._reading is None:
            self._reading = self.loop.call_later(self.limits.request_timeout_seconds, self._too_slow)

    def _stop_reading(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None

    def _too_slow(self) -> None:
        self._reading = None
        if not self.transport.is_closing():
            self.logger.debug("request not read within %g s: connection closed", self.limits.request_timeout_seconds)
            self.transport.close()
