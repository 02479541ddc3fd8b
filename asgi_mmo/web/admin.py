"""The admin API, `/metrics` and the dashboard page.

Every route here but the dashboard page needs `Authorization: Bearer <token>`;
a missing or wrong token gets `401 {"error": {"code": "unauthorized"}}` and no
data. The token is `ASGI_MMO_ADMIN_TOKEN`. When that is unset, whoever starts
the server settles one random token before any worker exists and prints it
once: `asgi-mmo serve` (cli.py) and gunicorn's master (gunicorn.conf.py) put
it into the environment the workers inherit; a bare `uvicorn asgi_mmo.app:app`
process makes its own (`with_admin_token`) and prints it at start.

| request | answer |
|---|---|
| `GET /admin` | the dashboard (`templates/admin.html`, `static/admin.js`); it asks for the token |
| `GET /admin/api/rooms` | `{"rooms": [ROOM_STATS, ...]}`, private rooms too |
| `GET /admin/api/rooms/{id}` | ROOM_STATS plus `"players": [...]`, or 404 `not_found` |
| `DELETE /admin/api/rooms/{id}` | 204; the room's players get `room_closed`; or 404 |
| `GET /metrics` | Prometheus text exposition (metrics.py) |

Errors are raised (`Unauthorized`, `NotFound`, `BackendUnavailable`, ...);
web/errors.py answers each with its status and code.
"""

from __future__ import annotations

import hmac
import os
import secrets
import sys
from collections.abc import MutableMapping
from dataclasses import replace
from typing import TYPE_CHECKING

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from asgi_mmo.exceptions import NotFound, Unauthorized
from asgi_mmo.settings import Settings
from asgi_mmo.web.headers import NO_STORE, secure_page
from asgi_mmo.web.slowdown import forgive, slow_down
from asgi_mmo.web.state import registry_of, settings_of

if TYPE_CHECKING:  # importing metrics.py loads prometheus-client, which gunicorn's master must not do early
    from asgi_mmo.metrics import Metrics

TOKEN_VARIABLE = "ASGI_MMO_ADMIN_TOKEN"


# ---- the token ------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(24)


def announce_token(token: str) -> None:
    """Print a generated token, once, where the operator starting the server sees it."""
    print(
        f"asgi-mmo: {TOKEN_VARIABLE} is unset; the admin token of this run is: {token}",
        file=sys.stderr,
        flush=True,
    )


def settle_admin_token(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Before workers start: put a random token into the environment they inherit, unless one is set.

    Returns the token made (already printed), or None when the environment had one.
    """
    environ = os.environ if environ is None else environ
    if environ.get(TOKEN_VARIABLE, "").strip():
        return None
    token = environ[TOKEN_VARIABLE] = new_token()
    announce_token(token)
    return token


def with_admin_token(settings: Settings) -> tuple[Settings, bool]:
    """Settings that hold a token; True when it was made here (the app prints it at start)."""
    if settings.admin_token:
        return settings, False
    return replace(settings, admin_token=new_token()), True


def authorized(request: Request, token: str) -> bool:
    """The request carries `Authorization: Bearer <token>` (compared in constant time)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def require_token(request: Request) -> None:
    """`Unauthorized` unless the request carries the admin token."""
    if not authorized(request, settings_of(request).admin_token or ""):
        raise Unauthorized("send the admin token as 'Authorization: Bearer <token>'")


# ---- the API ----------------------------------------------------------------------------


class AdminEndpoint(HTTPEndpoint):
    """An admin endpoint: the token is checked before any method runs (a wrong method too)."""

    async def dispatch(self) -> None:
        request = Request(self.scope)
        try:
            require_token(request)
        except Unauthorized:
            await slow_down(request)  # ASGI_MMO_ADMIN_SLOWDOWN_SECONDS; off by default
            raise
        forgive(request)
        await super().dispatch()


def _no_room(room_id: str) -> NotFound:
    return NotFound(f"no room {room_id[:32]!r}")


class Rooms(AdminEndpoint):
    async def get(self, request: Request) -> Response:
        """Every room of every process, private ones too, with every ROOM_STATS field."""
        return JSONResponse({"rooms": await registry_of(request).room_statistics()}, headers=NO_STORE)


class OneRoom(AdminEndpoint):
    async def get(self, request: Request) -> Response:
        room_id = request.path_params["room_id"]
        details = await registry_of(request).room_details(room_id)
        if details is None:
            raise _no_room(room_id)
        return JSONResponse(details, headers=NO_STORE)

    async def delete(self, request: Request) -> Response:
        room_id = request.path_params["room_id"]
        if not await registry_of(request).close_anywhere(room_id):
            raise _no_room(room_id)
        return Response(status_code=204, headers=NO_STORE)


class PrometheusMetrics(AdminEndpoint):
    async def get(self, request: Request) -> Response:
        """Prometheus text exposition; this process's rooms are sampled first, so it is up to date."""
        collected: Metrics = request.app.state.metrics
        collected.sample(registry_of(request))
        body, content_type = collected.exposition()
        return Response(body, media_type=content_type, headers=NO_STORE)


def admin_routes(templates: Jinja2Templates) -> list[BaseRoute]:
    async def dashboard(request: Request) -> Response:
        """The dashboard page; it may load without the token, its data calls send it."""
        context = {"outbox_frames": settings_of(request).outbox_frames}
        page = templates.TemplateResponse(request, "admin.html", context)
        return secure_page(request, page, referrer_policy="no-referrer")

    return [
        Route("/admin", dashboard, methods=["GET"], name="admin"),
        Route("/admin/api/rooms", Rooms),
        Route("/admin/api/rooms/{room_id}", OneRoom),
        Route("/metrics", PrometheusMetrics),
    ]
