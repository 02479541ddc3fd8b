"""The client's exceptions: one class per closing error code of the contract.

    ClientError
    ├── HandshakeFailed      the server answered the upgrade with an HTTP status (403: a refused origin)
    ├── ConnectionLost       the connection ended without a usable error and could not be resumed
    ├── PlayerClosed         the player left or was closed; nothing more can be sent
    └── ServerError          the server sent a closing error code (`code`, `message`, `close_code`)
        ├── BadName, BadToken, RoomNotFound, RoomFull, RoomClosed, Replaced, Unauthorized
        └── Flood, TooBig, TooSlow, ServerShutdown, Unavailable

The codes and their close codes come from `asgi_mmo.protocol.CLOSE_CODES`, the one table of
them; an error code the table does not know (a newer server) is a plain `ServerError`.
Error codes that do not close (`bad_message`, `rate_limited`) are not raised: they arrive
as `updates.Error` in the player's updates.
"""

from __future__ import annotations

from asgi_mmo.exceptions import AsgiMmoError
from asgi_mmo.protocol import ABNORMAL_CLOSURE, CLOSE_CODES, NORMAL_CLOSURE

#: after these the seat is kept and a reconnect with the token resumes it (docs/protocol.md)
RESUMABLE_CODES = frozenset({"too_slow", "server_shutdown", "unavailable"})
#: close codes without an error frame after which the seat is kept: going away, a lost
#: connection, a server error
RESUMABLE_CLOSES = frozenset({1001, ABNORMAL_CLOSURE, 1011})


class ClientError(AsgiMmoError):
    """Base of every exception of `asgi_mmo.client`."""


class HandshakeFailed(ClientError):
    """The server refused the WebSocket upgrade with an HTTP status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered HTTP {status} instead of switching to WebSocket")
        self.status = status


class ConnectionLost(ClientError):
    """The connection ended (no error code, or one that resuming did not get past)."""

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code


class PlayerClosed(ClientError):
    """The player has left (or its `connect` block ended): it sends nothing more."""


class ServerError(ClientError):
    """The server ended the connection with an error code of the contract."""

    #: the contract's error code this class stands for ("" for the base class)
    code: str = ""

    def __init__(self, code: str, message: str, close_code: int | None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.close_code = close_code

    @property
    def resumable(self) -> bool:
        """The seat is kept: a reconnect with the token resumes it."""
        return self.code in RESUMABLE_CODES


class BadName(ServerError):
    code = "bad_name"


class BadToken(ServerError):
    code = "bad_token"


class RoomNotFound(ServerError):
    code = "room_not_found"


class RoomFull(ServerError):
    code = "room_full"


class RoomClosed(ServerError):
    code = "room_closed"


class Replaced(ServerError):
    code = "replaced"


class Unauthorized(ServerError):
    code = "unauthorized"


class Flood(ServerError):
    code = "flood"


class TooBig(ServerError):
    code = "too_big"


class TooSlow(ServerError):
    code = "too_slow"


class ServerShutdown(ServerError):
    code = "server_shutdown"


class Unavailable(ServerError):
    code = "unavailable"


#: error code -> its exception class; tests/test_python_client.py holds its keys equal to the
#: closing codes of `CLOSE_CODES`
ERROR_CLASSES: dict[str, type[ServerError]] = {
    cls.code: cls
    for cls in (BadName, BadToken, RoomNotFound, RoomFull, RoomClosed, Replaced, Unauthorized, Flood, TooBig,
                TooSlow, ServerShutdown, Unavailable)
}
#: close code -> error code, for a close that came without an error frame (1008 is two codes: left out)
_CODE_OF_CLOSE: dict[int, str] = {
    close: code for code, close in CLOSE_CODES.items()
    if close is not None and list(CLOSE_CODES.values()).count(close) == 1
}


def server_error(code: str, message: str) -> ServerError:
    """The exception for an error frame's code (the close code from the contract's table)."""
    return ERROR_CLASSES.get(code, ServerError)(code, message, CLOSE_CODES.get(code))


def closing_error(close_code: int | None, reason: str, last_error: tuple[str, str] | None) -> ClientError | None:
    """Why a connection ended: the last closing error frame, else what the close code names.

    None for a normal close (1000, after `leave`).
    """
    if last_error is not None and CLOSE_CODES.get(last_error[0]) is not None:
        return server_error(*last_error)
    if close_code == NORMAL_CLOSURE:
        return None
    if close_code is not None and (code := _CODE_OF_CLOSE.get(close_code)) is not None:
        return server_error(code, reason)
    return ConnectionLost(f"the connection ended (close code {close_code}) {reason}".strip(), close_code)


def is_resumable(error: ClientError | None) -> bool:
    """A reconnect with the token may resume the seat after this end of a connection."""
    if isinstance(error, ServerError):
        return error.resumable
    if isinstance(error, ConnectionLost):
        return error.close_code is None or error.close_code in RESUMABLE_CLOSES
    return False
