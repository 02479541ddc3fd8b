"""uvicorn's options under the hardened commands, for `asgi-mmo serve` and the gunicorn worker alike."""

from __future__ import annotations

from typing import Any

from asgi_mmo.serving.http import HardenedHttpProtocol
from asgi_mmo.serving.limits import ServingLimits, limits_of
from asgi_mmo.serving.websocket import HardenedWebSocketProtocol
from asgi_mmo.settings import Settings

#: the same classes by import string, for uvicorn's command line (`--http`, `--ws`); their limits are
#: then read from the environment (bench/common.py starts servers so)
HTTP_PROTOCOL = "asgi_mmo.serving.http:HardenedHttpProtocol"
WS_PROTOCOL = "asgi_mmo.serving.websocket:HardenedWebSocketProtocol"


def protocols_for(limits: ServingLimits) -> tuple[type[HardenedHttpProtocol], type[HardenedWebSocketProtocol]]:
    """The HTTP and WebSocket protocol classes bound to `limits` (uvicorn makes one per connection)."""
    http = type("HardenedHttpProtocol", (HardenedHttpProtocol,), {"bound": limits})
    ws = type("HardenedWebSocketProtocol", (HardenedWebSocketProtocol,), {"bound": limits})
    return http, ws


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's fastest settings for many small WebSocket messages (see docs/performance.md), hardened.

    The protocols are httptools and the sans-I/O `websockets` implementation with our limits;
    uvloop when it is installed; no permessage-deflate (compressing every tick frame once per player
    costs about twice the CPU per message and some 50 KB per connection, docs/performance.md).
    `ws_max_size` is the app's own message limit, so a message is cut before it is assembled.
    """
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        loop = "asyncio"
    else:
        loop = "uvloop"
    http, ws = protocols_for(limits_of(settings))
    return {
        "http": http, "ws": ws, "ws_max_size": settings.max_message_bytes, "ws_per_message_deflate": False,
        "loop": loop, "limit_concurrency": settings.max_connections,
        # The app reads forwarded addresses itself, from ASGI_MMO_TRUSTED_PROXIES only (addresses.py)
        "proxy_headers": False,
    }
