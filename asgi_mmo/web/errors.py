"""HTTP error answers: every exception a route may raise, mapped here (and only here) to its
status and the contract's error code.

Routes raise; none of them builds an error answer. `exception_handlers()`,
registered by `create_app`, turns each exception of `ERROR_ANSWERS` into the
contract's body `{"error": {"code": ..., "message": ...}}`. Starlette's own
404 (no such route) and 405 (a method the route does not take) get that body
too under `/api/` and `/admin/api/`, with the code named after the status
(`not_found`, `method_not_allowed`); elsewhere (pages, static files) they stay
Starlette's plain text. Every error answer carries `Cache-Control: no-store`.

The table of statuses and codes for clients is in docs/protocol.md (a test
holds the two together).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, Response

from asgi_mmo.exceptions import (
    BackendUnavailable,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerDraining,
    Unauthorized,
)
from asgi_mmo.registry import RegistryFull
from asgi_mmo.scores.leaderboard import LeaderboardUnavailable
from asgi_mmo.web.headers import NO_STORE

#: paths whose every answer, Starlette's own errors included, is JSON
JSON_PREFIXES = ("/api/", "/admin/api/")

Handler = Callable[[HTTPConnection, Exception], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    status: int
    code: str
    #: what the client reads; None: the exception's own message (when it is written for clients)
    message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


ERROR_ANSWERS: dict[type[Exception], ErrorAnswer] = {
    BadRequest: ErrorAnswer(422, "bad_request"),
    Unauthorized: ErrorAnswer(401, "unauthorized", headers={"WWW-Authenticate": 'Bearer realm="asgi-mmo admin"'}),
    NotFound: ErrorAnswer(404, "not_found"),
    PayloadTooLarge: ErrorAnswer(413, "too_big"),
    RateLimited: ErrorAnswer(429, "rate_limited"),
    RegistryFull: ErrorAnswer(503, "busy"),
    ServerDraining: ErrorAnswer(503, "server_shutdown"),
    # These two say why in words meant for the log (a host, a database error), not for clients.
    BackendUnavailable: ErrorAnswer(503, "unavailable", "the shared backend cannot be reached right now; try again"),
    LeaderboardUnavailable: ErrorAnswer(503, "unavailable", "the leaderboard cannot be read right now"),
}


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The contract's error body: `{"error": {"code", "message"}}`, never stored by a cache."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers={**NO_STORE, **(headers or {})}
    )


def exception_handlers() -> dict[type[Exception], Handler]:
    """For `Starlette(exception_handlers=...)`: one handler per exception of `ERROR_ANSWERS`,
    and Starlette's `HTTPException` as JSON on the API's paths."""
    handlers = {kind: _answering(answer) for kind, answer in ERROR_ANSWERS.items()}
    handlers[HTTPException] = _http_exception
    return handlers


def _answering(answer: ErrorAnswer) -> Handler:
    async def handler(connection: HTTPConnection, error: Exception) -> Response:
        _http_only(connection, error)
        message = answer.message if answer.message is not None else str(error)
        return error_response(answer.status, answer.code, message, answer.headers)

    return handler


async def _http_exception(connection: HTTPConnection, error: Exception) -> Response:
    _http_only(connection, error)
    assert isinstance(error, HTTPException)
    status, headers = error.status_code, error.headers
    if not _speaks_json(connection):  # what Starlette answers by default
        if status in (204, 304):
            return Response(status_code=status, headers=headers)
        return PlainTextResponse(error.detail, status_code=status, headers=headers)
    return error_response(status, _code_of(status), error.detail, headers)


def _http_only(connection: HTTPConnection, error: Exception) -> None:
    """A WebSocket endpoint ends its sockets itself: an exception that escaped it goes on to
    the server (which closes the socket as an internal error), as without these handlers."""
    if connection.scope["type"] != "http":
        raise error


def _speaks_json(connection: HTTPConnection) -> bool:
    scope = connection.scope
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    route_path = path.removeprefix(root_path) if root_path and path.startswith(root_path) else path
    return (route_path + "/").startswith(JSON_PREFIXES)


def _code_of(status: int) -> str:
    """`404` -> `not_found`, `405` -> `method_not_allowed`: the status's name, in the codes' style."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"
