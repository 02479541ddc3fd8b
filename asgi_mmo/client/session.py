"""Opening one WebSocket to `/ws` and joining: the address, the handshake, the `welcome`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as open_websocket
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from asgi_mmo import __version__
from asgi_mmo.client.errors import ConnectionLost, HandshakeFailed, closing_error
from asgi_mmo.protocol import ABNORMAL_CLOSURE


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """The query of `/ws` (docs/protocol.md "Connecting"); None leaves a parameter out."""

    name: str
    room: str | None = None
    game: str | None = None
    token: str | None = None
    view: tuple[int, int] | None = None
    auth: str | None = None
    spectate: bool = False

    def url(self, base: str) -> str:
        """`base` (`ws(s)://HOST:PORT/ws`; `http(s)://` works too; no path means `/ws`) with this query."""
        parts = urlsplit(base)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        if scheme not in ("ws", "wss"):
            raise ValueError(f"not a ws://, wss://, http:// or https:// address: {base!r}")
        path = parts.path if parts.path not in ("", "/") else "/ws"
        query = dict(parse_qsl(parts.query))
        given = {
            "name": self.name, "room": self.room, "game": self.game, "token": self.token, "auth": self.auth,
            "view": f"{self.view[0]}x{self.view[1]}" if self.view is not None else None,
            "spectate": "true" if self.spectate else None,
        }
        query.update({key: value for key, value in given.items() if value is not None})
        return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


async def join(url: str, *, timeout: float) -> tuple[ClientConnection, dict[str, Any]]:
    """Open the socket and read up to the `welcome`; the refusal as a `ClientError` otherwise."""
    try:
        websocket = await open_websocket(
            url, open_timeout=timeout, max_size=None, proxy=None, compression=None,
            user_agent_header=f"asgi-mmo-client/{__version__}",
        )
    except InvalidStatus as refused:
        raise HandshakeFailed(refused.response.status_code) from refused
    except (OSError, TimeoutError, InvalidHandshake) as failed:
        raise ConnectionLost(f"could not open {urlsplit(url).netloc}: {failed!r}") from failed
    last_error: tuple[str, str] | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = orjson.loads(await websocket.recv())
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "welcome":
                    return websocket, message
                if kind == "error":
                    last_error = (str(message.get("code")), str(message.get("message", "")))
    except ConnectionClosed as closed:
        error = closing_error(closed.rcvd.code if closed.rcvd else ABNORMAL_CLOSURE,
                              closed.rcvd.reason if closed.rcvd else "", last_error)
        raise error or ConnectionLost("the server closed before its welcome", 1000) from None
    except (TimeoutError, orjson.JSONDecodeError) as failed:
        await websocket.close()
        raise ConnectionLost(f"no welcome from {urlsplit(url).netloc}: {failed!r}") from None
