"""A lean WebSocket client for the load tester: one `asyncio.Protocol` per socket.

It does only what a load client needs, with as little Python per frame as it
can: the opening handshake, unmasked server frames in (text, close, ping,
continuation; permessage-deflate when the server agrees to it), masked text
frames out (never compressed: RFC 7692 lets a client send uncompressed
messages on a compressed connection). Every frame that arrives in one
`data_received` call is stamped with one clock reading.

`open_websockets` is the same surface over the `websockets` library's asyncio
client, for comparison (`--client websockets`).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import zlib
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection


class Handler(Protocol):
    def on_message(self, data: bytes, now: float) -> None: ...
    def on_close(self, code: int, reason: str) -> None: ...


class ClientSocket(Protocol):
    """What the load tester uses of a socket: `RawWebSocket` or `LibraryWebSocket`."""

    @property
    def deflate(self) -> bool:
        """permessage-deflate was negotiated."""
        ...

    @property
    def bytes_in(self) -> int:
        """Bytes received so far (compressed, as they came off the wire)."""
        ...

    def send_text(self, text: str) -> None: ...
    def close(self, code: int = 1000) -> None: ...
    def abort(self) -> None: ...


class Opener(Protocol):
    """`open_raw` or `open_websockets`: connect, finish the handshake, hand the socket back."""

    async def __call__(self, url: str, handler: Handler, *, deflate: bool, timeout: float) -> ClientSocket: ...


class HandshakeFailed(Exception):
    """The server did not switch protocols."""


_FIN_TEXT = 0x81
_CLOSE = 0x8
_PING = 0x9
_PONG = 0xA
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


def _masked_frame(opcode_byte: int, payload: bytes) -> bytes:
    """A client frame: FIN + opcode, the mask bit, the length, a random key, the masked payload."""
    length = len(payload)
    if length < 126:
        header = bytes((opcode_byte, 0x80 | length))
    elif length < 65536:
        header = bytes((opcode_byte, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((opcode_byte, 0x80 | 127)) + length.to_bytes(8, "big")
    key = os.urandom(4)
    if not length:
        return header + key
    repeated = (key * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    return header + key + masked


class RawWebSocket(asyncio.Protocol):
    """One client socket; `handler.on_message(payload, now)` for every text message."""

    def __init__(self, host: str, target: str, handler: Handler, *, deflate: bool) -> None:
        self.handler = handler
        self.host = host
        self.target = target
        self.offer_deflate = deflate
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.open = False
        self.closed = False
        self.deflate = False
        self.bytes_in = 0
        self._buffer = b""
        self._inflater: zlib._Decompress | None = None
        self._fresh_inflater_per_message = False
        self._fragments: list[bytes] | None = None
        self._fragments_compressed = False

    # ---- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # `create_connection` makes a stream, so its transport is a full `Transport`.
        self.transport = stream = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.target} HTTP/1.1",
            f"Host: {self.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.offer_deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        stream.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed:
            self.closed = True
            self.handler.on_close(1006, "connection lost")

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.bytes_in += len(data)
        buffer = self._buffer + data if self._buffer else data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buffer
                return
            if not self._handshake(buffer[:end]):
                return
            buffer = buffer[end + 4:]
        pos = 0
        size = len(buffer)
        on_message = self.handler.on_message
        while size - pos >= 2:
            first = buffer[pos]
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[start:start + 2], "big")
                start += 2
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[start:start + 8], "big")
                start += 8
            end = start + length
            if end > size:
                break
            pos = end
            if first == _FIN_TEXT:  # the common case: a whole, uncompressed text message
                on_message(buffer[start:end], now)
                continue
            self._other_frame(first, buffer[start:end], now)
            if self.closed:
                return
        self._buffer = buffer[pos:] if pos < size else b""

    # ---- the rest -------------------------------------------------------------------

    def _handshake(self, head: bytes) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            error = HandshakeFailed(f"HTTP {status[1] if len(status) > 1 else '?'} instead of 101")
            self.opened.set_exception(error)
            self.closed = True
            assert self.transport is not None
            self.transport.close()
            return False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-extensions" and "permessage-deflate" in value:
                self.deflate = True
                self._fresh_inflater_per_message = "server_no_context_takeover" in value
                self._inflater = zlib.decompressobj(-15)
        self.open = True
        self.opened.set_result(None)
        return True

    def _inflate(self, payload: bytes) -> bytes:
        if self._fresh_inflater_per_message:
            return zlib.decompressobj(-15).decompress(payload + _DEFLATE_TAIL)
        assert self._inflater is not None
        return self._inflater.decompress(payload + _DEFLATE_TAIL)

    def _other_frame(self, first: int, payload: bytes, now: float) -> None:
        fin = first & 0x80
        compressed = first & 0x40
        opcode = first & 0x0F
        if opcode in (1, 2):  # a text or binary message, compressed or the start of fragments
            if not fin:
                self._fragments = [payload]
                self._fragments_compressed = bool(compressed)
                return
            self.handler.on_message(self._inflate(payload) if compressed else payload, now)
        elif opcode == 0 and self._fragments is not None:
            self._fragments.append(payload)
            if fin:
                whole = b"".join(self._fragments)
                self._fragments = None
                self.handler.on_message(self._inflate(whole) if self._fragments_compressed else whole, now)
        elif opcode == _CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            reason = payload[2:].decode(errors="replace")
            self.closed = True
            self.handler.on_close(code, reason)
            assert self.transport is not None
            if not self.transport.is_closing():
                self.transport.write(_masked_frame(0x80 | _CLOSE, payload[:2]))
                self.transport.close()
        elif opcode == _PING:
            assert self.transport is not None
            self.transport.write(_masked_frame(0x80 | _PONG, payload))

    # ---- sending --------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        if self.transport is not None and not self.closed and not self.transport.is_closing():
            self.transport.write(_masked_frame(_FIN_TEXT, text.encode()))

    def close(self, code: int = 1000) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if not self.closed:
            self.transport.write(_masked_frame(0x80 | _CLOSE, code.to_bytes(2, "big")))
        self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_raw(url: str, handler: Handler, *, deflate: bool, timeout: float) -> RawWebSocket:
    """Connect and finish the handshake; raises on failure (HandshakeFailed, OSError, timeout)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    protocol: RawWebSocket | None = None

    def build() -> RawWebSocket:
        nonlocal protocol
        protocol = RawWebSocket(f"{host}:{port}", target, handler, deflate=deflate)
        return protocol

    async with asyncio.timeout(timeout):
        await loop.create_connection(build, host, port)
        assert protocol is not None
        try:
            await protocol.opened
        except BaseException:
            protocol.abort()
            raise
    return protocol


class LibraryWebSocket:
    """The same surface as `RawWebSocket` over a `websockets` asyncio client connection."""

    def __init__(self, connection: ClientConnection, handler: Handler) -> None:
        self.connection = connection
        self.handler = handler
        self.closed = False
        self.bytes_in = 0
        self.deflate = bool(connection.protocol.extensions)
        self._task = asyncio.get_running_loop().create_task(self._read())
        #: sends and the close in flight: held here (the loop keeps only weak references)
        #: and cancelled with the reader by `abort`
        self._pending: set[asyncio.Task[None]] = set()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        connection = self.connection
        on_message = self.handler.on_message
        try:
            while True:
                data = await connection.recv(decode=False)
                self.bytes_in += len(data)
                on_message(data, time.monotonic())
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            self.closed = True
            self.handler.on_close(rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "connection lost")

    def send_text(self, text: str) -> None:
        if not self.closed:
            self._spawn(self._send(text))

    async def _send(self, text: str) -> None:
        try:
            await self.connection.send(text)
        except Exception:  # noqa: BLE001 - a send on a closing socket: the reader reports the close
            pass

    def close(self, code: int = 1000) -> None:
        self._spawn(self.connection.close(code))

    def abort(self) -> None:
        transport = getattr(self.connection, "transport", None)
        if transport is not None:
            transport.abort()
        self._task.cancel()
        for task in self._pending:
            task.cancel()


async def open_websockets(url: str, handler: Handler, *, deflate: bool, timeout: float) -> LibraryWebSocket:
    from websockets.asyncio.client import connect

    connection = await connect(
        url, compression="deflate" if deflate else None, open_timeout=timeout, ping_interval=None,
        max_queue=None, proxy=None,
    )
    return LibraryWebSocket(connection, handler)
