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
| `POST /admin/api/rooms/{id}/recording` | 201: starts recording the room (asgi_mmo/replays/); 404, 409, 503 |
| `GET /admin/api/rooms/{id}/recording` | the room's running recording, or 404 |
| `DELETE /admin/api/rooms/{id}/recording` | stops it: 200 and its record, or 404 |
| `GET /admin/api/recordings` | `{"recordings": [RECORDING, ...]}`, newest first |
| `GET /admin/api/recordings/{id}` | the recording's file (gzip JSON lines, docs/replays.md), or 404 |
| `DELETE /admin/api/recordings/{id}` | 204 (a running one is stopped first), or 404 |

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
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from asgi_mmo.exceptions import NotFound, Unauthorized
from asgi_mmo.replays.recorder import RecordingRefused, Recordings
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


def recordings_of(request: Request) -> Recordings:
    recordings: Recordings = request.app.state.recordings
    return recordings


async def start_recording(request: Request, room_id: str) -> str | None:
    """A new room's recording (the `record` option): its id, or None when it cannot start."""
    try:
        meta = await recordings_of(request).start(room_id)
    except RecordingRefused:
        return None
    return str(meta["id"])


def _no_recording(recording_id: str) -> NotFound:
    return NotFound(f"no recording {recording_id[:32]!r}")


class RoomRecording(AdminEndpoint):
    """A room's recording: start it, look at it, stop it."""

    async def post(self, request: Request) -> Response:
        room_id = request.path_params["room_id"]
        try:
            meta = await recordings_of(request).start(room_id)
        except RecordingRefused as refused:
            if refused.status == 404:
                raise _no_room(room_id) from None
            raise HTTPException(refused.status, str(refused)) from None
        return JSONResponse(meta, status_code=201, headers=NO_STORE)

    async def get(self, request: Request) -> Response:
        room_id = request.path_params["room_id"]
        listing = await recordings_of(request).listing()
        running = [meta for meta in listing if meta["room"] == room_id and meta["state"] == "recording"]
        if not running:
            raise NotFound(f"room {room_id[:32]!r} is not being recorded")
        return JSONResponse(running[0], headers=NO_STORE)

    async def delete(self, request: Request) -> Response:
        room_id = request.path_params["room_id"]
        meta = await recordings_of(request).stop_room(room_id)
        if meta is None:
            raise NotFound(f"room {room_id[:32]!r} is not being recorded")
        return JSONResponse(meta, headers=NO_STORE)


class RecordingList(AdminEndpoint):
    async def get(self, request: Request) -> Response:
        return JSONResponse({"recordings": await recordings_of(request).listing()}, headers=NO_STORE)


class OneRecording(AdminEndpoint):
    async def get(self, request: Request) -> Response:
        """The recording's file, as written so far (gzip: the client inflates it)."""
        recording_id = request.path_params["recording_id"]
        recordings = recordings_of(request)
        if await recordings.get(recording_id) is None:
            raise _no_recording(recording_id)
        path = recordings.store.data_path(recording_id)
        return FileResponse(path, media_type="application/gzip", filename=path.name, headers=NO_STORE)

    async def delete(self, request: Request) -> Response:
        recording_id = request.path_params["recording_id"]
        if not await recordings_of(request).delete(recording_id):
            raise _no_recording(recording_id)
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
        Route("/admin/api/rooms/{room_id}/recording", RoomRecording),
        Route("/admin/api/recordings", RecordingList),
        Route("/admin/api/recordings/{recording_id}", OneRecording),
        Route("/metrics", PrometheusMetrics),
    ]
