"""The serving limits of the hardened commands, in one place (docs/operators.md, "Serving, hardened").

Most are fixed here on purpose: they protect the process from one client and need no tuning
for a game; the two that depend on the deployment are settings (`ASGI_MMO_REQUEST_TIMEOUT_SECONDS`,
`ASGI_MMO_MAX_CONNECTIONS`), and the message limit is the app's own `ASGI_MMO_MAX_MESSAGE_BYTES`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

from asgi_mmo.settings import Settings

#: WebSocket control frames (pings and pongs) a client may send: a steady rate and a burst.
#: Browsers send none and libraries one every few seconds; beyond this the client is closed 1008 `flood`.
CONTROL_FRAMES_PER_SECOND = 20.0
CONTROL_FRAME_BURST = 40
#: SO_SNDBUF asked for on the listening sockets (accepted sockets inherit it on Linux, which
#: doubles it for its bookkeeping and stops autotuning it): about 512 KiB in the kernel per socket
SEND_BUFFER_BYTES = 256 * 1024
#: the transport's own buffer in the process: sends wait above HIGH, resume below LOW
WRITE_BUFFER_HIGH = 64 * 1024
WRITE_BUFFER_LOW = 16 * 1024
#: how long a closed connection may take to hand its last bytes to a client that reads; after that,
#: or at once when the client already stopped reading, the socket is reset and its data dropped
DRAIN_SECONDS = 1.0
#: a client that does not answer the server's close frame within this long is reset
CLOSE_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class ServingLimits:
    """What the protocol classes enforce; made from the settings by `limits_of`."""

    max_message_bytes: int = 4096
    control_frames_per_second: float = CONTROL_FRAMES_PER_SECOND
    control_frame_burst: int = CONTROL_FRAME_BURST
    request_timeout_seconds: float = 10.0
    drain_seconds: float = DRAIN_SECONDS
    close_timeout_seconds: float = CLOSE_TIMEOUT_SECONDS


def limits_of(settings: Settings) -> ServingLimits:
    return ServingLimits(
        max_message_bytes=settings.max_message_bytes,
        request_timeout_seconds=settings.request_timeout_seconds,
    )


@functools.cache
def limits_from_env() -> ServingLimits:
    """The limits of this process's `ASGI_MMO_*` settings: for protocol classes named by import
    string on uvicorn's command line, which no one binds to limits."""
    return limits_of(Settings.from_env())


class LimitedProtocol:
    """What the hardened protocol classes share (a mixin, first in their bases): the limits they
    enforce, bound to the class by `protocols_for`, or read from this process's `ASGI_MMO_*`
    settings when the class was named by import string and no one bound it."""

    #: set by `protocols_for`; unbound (named by import string), the limits come from the environment
    bound: ClassVar[ServingLimits | None] = None

    @property
    def limits(self) -> ServingLimits:
        return type(self).bound or limits_from_env()
