"""The lobby and game pages.

Both pages are static shells rendered from `templates/`; everything live comes
from the HTTP API and the WebSocket, driven by the scripts in `static/`. They
carry the security headers of web/headers.py, which keep them from loading
anything from other hosts.

The game page names its room's game (`data-game`) and the browser module that
draws it (`static/games/<game>.js`, docs/client.md "Game modules"), so the
page loads the right view before it connects. The game comes from the room
itself (this process's, or another's through the registry's directory); a
room that does not exist answers a 404 page at once, before a name is asked.

`/play/quick` is not a room: the game page quick-joins (no `room` parameter on
the WebSocket) the game of its `game` query parameter (default
`DEFAULT_GAME`) and then replaces its address with the room it landed in.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from asgi_mmo.exceptions import BackendUnavailable
from asgi_mmo.games.catalog import DEFAULT_GAME, GAMES
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.web.headers import NO_STORE, secure_page
from asgi_mmo.web.state import registry_of

#: The room id that the game page treats as "quick join".
QUICK_ROOM = "quick"


def _ws_path(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/") + "/ws"


async def room_game(registry: RoomRegistry, room_id: str) -> str | None:
    """The game `room_id` runs, wherever it runs; None if there is no such room."""
    room = registry.get(room_id)
    if room is not None:
        return room.config.game
    details = await registry.room_details(room_id)
    if details is None:
        return None
    game = details.get("game")
    return game if isinstance(game, str) else None


def page_routes(templates: Jinja2Templates) -> list[BaseRoute]:
    """`GET /` (the lobby) and `GET /play/{room_id}` (the game page)."""

    def render(request: Request, template: str, context: dict[str, object], status: int = 200) -> Response:
        page = templates.TemplateResponse(
            request, template, {"ws_path": _ws_path(request), **context}, status_code=status
        )
        secured = secure_page(request, page, referrer_policy="same-origin")
        if status != 200:
            secured.headers.update(NO_STORE)  # "no such room" may not stay true: never reuse it
        return secured

    def missing(request: Request, title: str, text: str, status: int = 404) -> Response:
        return render(request, "missing.html", {"title": title, "text": text, "status": status}, status)

    async def lobby(request: Request) -> Response:
        return render(request, "lobby.html", {"default_game": DEFAULT_GAME})

    async def play(request: Request) -> Response:
        room_id: str = request.path_params["room_id"]
        quick = room_id == QUICK_ROOM
        if quick:
            game: str | None = request.query_params.get("game") or DEFAULT_GAME
            if game not in GAMES:
                return missing(request, "No such game", "This server runs no game of that name.")
        else:
            try:
                game = await room_game(registry_of(request), room_id)
            except BackendUnavailable:
                return missing(
                    request, "Can't reach the rooms", "The game servers can't be reached right now. "
                    "Try again in a moment.", status=503,
                )  # fmt: skip
            if game is None:
                return missing(request, "No such room", f"The room {room_id[:32]!r} does not exist (any more).")
        return render(request, "play.html", {"room_id": room_id, "quick": quick, "game": game})

    return [
        Route("/", lobby, methods=["GET"], name="lobby"),
        Route("/play/{room_id}", play, methods=["GET"], name="play"),
    ]
