"""Socket-level helpers: a bounded send buffer, what is still unsent, and a reset that drops it."""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
from collections.abc import Iterable
from typing import Any

from asgi_mmo.serving.limits import SEND_BUFFER_BYTES, WRITE_BUFFER_HIGH, WRITE_BUFFER_LOW


def bound_send_buffers(sockets: Iterable[Any]) -> None:
    """SO_SNDBUF on listening sockets, so that every socket they accept has a fixed, small
    kernel send buffer (Linux autotunes one without it, up to 4 MB, see `tcp_wmem`)."""
    for sock in sockets:
        with contextlib.suppress(OSError):  # a unix socket, or a platform that refuses: the transport bound remains
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


def bound_write_buffer(transport: asyncio.BaseTransport) -> None:
    """The process-side buffer of one connection: its protocol pauses sends above the high mark."""
    if isinstance(transport, asyncio.WriteTransport):
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)


def unsent_bytes(transport: asyncio.WriteTransport) -> int:
    """Bytes the client has not yet acknowledged: the transport's buffer and the kernel's send queue."""
    pending = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is None:
        return pending
    try:
        fd = sock.fileno()
        if fd < 0:
            return pending
        answer = array.array("i", [0])
        fcntl.ioctl(fd, termios.TIOCOUTQ, answer, True)  # SIOCOUTQ: unacknowledged bytes in the send queue
        return pending + answer[0]
    except (OSError, AttributeError):
        return pending


def reset(transport: asyncio.WriteTransport) -> None:
    """Drop the connection and everything queued for it: SO_LINGER 0 makes the close a reset, so no
    socket lingers (FIN-WAIT with a full queue) after the process let go of it."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
