"""The lobby and game pages.

Both pages are static shells rendered from `templates/`; everything live comes
from the HTTP API and the WebSocket, driven by the scripts in `static/`. They
carry the security headers of web/headers.py, which keep them from loading
anything from other hosts.

`/play/quick` is not a room: the game page quick-joins (no `room` parameter on
the WebSocket) and then replaces its address with the room it landed in.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from asgi_mmo.web.headers import secure_page

#: The room id that the game page treats as "quick join".
QUICK_ROOM = "quick"


def _ws_path(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/") + "/ws"


def page_routes(templates: Jinja2Templates) -> list[BaseRoute]:
    """`GET /` (the lobby) and `GET /play/{room_id}` (the game page)."""

    def render(request: Request, template: str, context: dict[str, object]) -> Response:
        page = templates.TemplateResponse(request, template, {"ws_path": _ws_path(request), **context})
        return secure_page(request, page, referrer_policy="same-origin")

    async def lobby(request: Request) -> Response:
        return render(request, "lobby.html", {})

    async def play(request: Request) -> Response:
        room_id = request.path_params["room_id"]
        return render(request, "play.html", {"room_id": room_id, "quick": room_id == QUICK_ROOM})

    return [
        Route("/", lobby, methods=["GET"], name="lobby"),
        Route("/play/{room_id}", play, methods=["GET"], name="play"),
    ]
