"""Every exception of asgi-mmo, and who raises it.

    AsgiMmoError
    ├── ConfigError          settings.py: a bad ASGI_MMO_* variable; the server refuses to start
    ├── BadRequest           api.py, roomconfig.py: an HTTP request body or field is invalid (422)
    ├── LeaderboardUnavailable  leaderboard.py: the database cannot be read or written now (503)
    ├── BackendUnavailable   backends/: the shared store (Redis) does not answer; rooms keep ticking locally
    └── ProtocolError        protocol.py, websocket.py, registry.py: a client broke the contract;
        │                    carries the wire error code and, when the connection must end,
        │                    the WebSocket close code
        ├── MessageRefused   a single message is dropped, the connection stays
        │                    (bad_message, rate_limited)
        └── ConnectionRefused  the connection ends with `close_code`
                             (bad_name, bad_token, room_not_found, room_full, too_big, flood, ...)

`InvalidInput` (games/base.py) is a game's own ValueError for input data of
the wrong shape; the connection turns it into a `bad_message`.
"""

from __future__ import annotations


class AsgiMmoError(Exception):
    """Base of every asgi-mmo exception."""


class ConfigError(AsgiMmoError):
    """A setting read from the environment is invalid."""


class BackendUnavailable(AsgiMmoError):
    """The shared backend (Redis) cannot be reached right now."""


class BadRequest(AsgiMmoError):
    """An HTTP request is invalid; answered with 422 and nothing changes."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtocolError(AsgiMmoError):
    """A client broke the wire contract."""

    close_code: int | None = None

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MessageRefused(ProtocolError):
    """The message is dropped with an error frame; the connection stays."""


class ConnectionRefused(ProtocolError):
    """The connection ends: an error frame, then a close with `close_code`."""

    def __init__(self, code: str, message: str, close_code: int) -> None:
        super().__init__(code, message)
        self.close_code = close_code
