"""The lobby and game pages.

Both pages are static shells rendered from `templates/`; everything live comes
from the HTTP API and the WebSocket, driven by the scripts in `static/`. The
pages load nothing from other hosts, and a Content-Security-Policy keeps it so:
scripts, styles and images come from this origin only, and the page may open
connections only to its own origin (which, for CSP level 3 browsers, includes
`ws:`/`wss:` to the same host; the explicit entries cover older ones).

`/play/quick` is not a room: the game page quick-joins (no `room` parameter on
the WebSocket) and then replaces its address with the room it landed in.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

#: The room id that the game page treats as "quick join".
QUICK_ROOM = "quick"

#: A Host header fit to be repeated in the policy (name or address, optional port).
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def content_security_policy(request: Request) -> str:
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self'{sockets}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


def _ws_path(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/") + "/ws"


def _secure(request: Request, response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-cache"
    return response


def page_routes(templates: Jinja2Templates) -> list[BaseRoute]:
    """`GET /` (the lobby) and `GET /play/{room_id}` (the game page)."""

    async def lobby(request: Request) -> Response:
        response = templates.TemplateResponse(request, "lobby.html", {"ws_path": _ws_path(request)})
        return _secure(request, response)

    async def play(request: Request) -> Response:
        room_id = request.path_params["room_id"]
        context = {
            "room_id": room_id,
            "quick": room_id == QUICK_ROOM,
            "ws_path": _ws_path(request),
        }
        response = templates.TemplateResponse(request, "play.html", context)
        return _secure(request, response)

    return [
        Route("/", lobby, methods=["GET"], name="lobby"),
        Route("/play/{room_id}", play, methods=["GET"], name="play"),
    ]
