"""Every exception of asgi-mmo, and who raises it.

    AsgiMmoError
    ├── ConfigError          settings.py: a bad ASGI_MMO_* variable; the server refuses to start
    ├── BadRequest           web/api.py, roomconfig.py, games/options.py: an HTTP request body or field is invalid (422)
    ├── Unauthorized         web/admin.py: an admin request without the right token (401)
    ├── NotFound             web/admin.py: no such room (404)
    ├── ServerDraining       web/api.py: the server is going down and makes no rooms (503)
    ├── PayloadTooLarge      web/api.py: a request body over the API's limit (413)
    ├── RateLimited          web/api.py: a client address made its share of rooms (429)
    ├── LeaderboardUnavailable  scores/: the score store cannot be read or written now (503)
    ├── BackendUnavailable   backends/: the shared store (Redis) does not answer; rooms keep ticking locally (503)
    └── ProtocolError        protocol.py, websocket.py, registry.py: a client broke the contract;
        │                    carries the wire error code and, when the connection must end,
        │                    the WebSocket close code
        ├── MessageRefused   a single message is dropped, the connection stays
        │                    (bad_message, rate_limited)
        └── ConnectionRefused  the connection ends with `close_code`
                             (bad_name, bad_token, room_not_found, room_full, too_big, flood, ...)

`InvalidInput` (games/base.py) is a game's own ValueError for input data of
the wrong shape; the connection turns it into a `bad_message`. `RegistryFull`
(registry.py) is a plain Exception: the process runs its `max_rooms`, or cannot run
one more room that heavy (its `RoomTooHeavy`, admission.py) (503).

The HTTP status and error code of each one an HTTP route may raise are in
web/errors.py, and only there.
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


class Unauthorized(AsgiMmoError):
    """An admin request without the admin token, or with a wrong one."""


class NotFound(AsgiMmoError):
    """What an HTTP request names does not exist (an admin's room id)."""


class ServerDraining(AsgiMmoError):
    """The server is going down: it makes no new rooms."""


class RateLimited(AsgiMmoError):
    """A client address asks for more than its share (`fairshare.py`): rooms made a minute."""


class PayloadTooLarge(AsgiMmoError):
    """A request body is larger than the API reads (`web/api.py` `MAX_BODY_BYTES`)."""


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
