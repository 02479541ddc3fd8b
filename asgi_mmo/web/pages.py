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
The page also carries the room's connected players and bots at that moment
(`data-players`, `data-bots`): the name form says who is there already, which
`GET /api/rooms` cannot tell for a private room.

`/play/world` is the lobby's world (`web/api.py` `WORLD_ROOM`): when no process
runs it, the page makes it, so a link to it always leads somewhere. The page
tells a view room (`data-view`) so its field fills the window from the start.
`/watch/{room_id}` shows a room to a spectator, `/replay/{recording_id}` plays
a recording (docs/spectators-and-replays.md).

`/play/quick` is not a room: the game page quick-joins (no `room` parameter on
the WebSocket) the game of its `game` query parameter (default
`DEFAULT_GAME`) and then replaces its address with the room it landed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from asgi_mmo.exceptions import BackendUnavailable
from asgi_mmo.games.catalog import DEFAULT_GAME, GAMES
from asgi_mmo.registry import RegistryFull, RoomRegistry
from asgi_mmo.web.admin import recordings_of
from asgi_mmo.web.api import WORLD_ROOM, world_config
from asgi_mmo.web.headers import NO_STORE, secure_page
from asgi_mmo.web.state import registry_of

#: The room id that the game page treats as "quick join".
QUICK_ROOM = "quick"


def _root(request: Request) -> str:
    root_path: str = request.scope.get("root_path", "")
    return root_path.rstrip("/")


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """What the game page needs of a room before it joins."""

    game: str
    players: int  # connected humans
    bots: int
    view: bool = False


async def room_summary(registry: RoomRegistry, room_id: str) -> RoomSummary | None:
    """The game `room_id` runs and who is in it, wherever it runs; None if there is no such room."""
    room = registry.get(room_id)
    if room is not None:
        bots = sum(1 for seat in room.seats.values() if seat.bot)
        return RoomSummary(room.config.game, room.players, bots, room.config.view)
    details = await registry.room_details(room_id)
    if details is None:
        return None
    game = details.get("game")
    if not isinstance(game, str):
        return None
    listed = details.get("players")
    entries = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    bots = sum(1 for p in entries if p.get("bot"))
    humans = sum(1 for p in entries if not p.get("bot") and p.get("via"))  # "via": connected somewhere
    return RoomSummary(game, humans, bots, details.get("view") is True)


def page_routes(templates: Jinja2Templates) -> list[BaseRoute]:
    """`GET /` (the lobby) and `GET /play/{room_id}` (the game page)."""

    def render(request: Request, template: str, context: dict[str, object], status: int = 200) -> Response:
        page = templates.TemplateResponse(
            request,
            template,
            {"ws_path": _root(request) + "/ws", "rooms_api": _root(request) + "/api/rooms", **context},
            status_code=status,
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
        players = bots = 0
        view = False
        if quick:
            game: str | None = request.query_params.get("game") or DEFAULT_GAME
            if game not in GAMES:
                return missing(request, "No such game", "This server runs no game of that name.")
        else:
            try:
                registry = registry_of(request)
                if room_id == WORLD_ROOM and not registry.draining:
                    await registry.open_named_room(WORLD_ROOM, world_config())
                summary = await room_summary(registry, room_id)
            except (BackendUnavailable, RegistryFull):
                return missing(
                    request, "Can't reach the rooms", "The game servers can't be reached right now. "
                    "Try again in a moment.", status=503,
                )  # fmt: skip
            if summary is None:
                return missing(request, "No such room", f"The room {room_id[:32]!r} does not exist (any more).")
            game, players, bots, view = summary.game, summary.players, summary.bots, summary.view
        context = {"room_id": room_id, "quick": quick, "game": game, "players": players, "bots": bots, "view": view}
        return render(request, "play.html", context)

    async def watch(request: Request) -> Response:
        """A room's live view for a spectator (`spectate=true`): no name, no seat, no input."""
        room_id: str = request.path_params["room_id"]
        try:
            summary = await room_summary(registry_of(request), room_id)
        except BackendUnavailable:
            return missing(request, "Can't reach the rooms", "The game servers can't be reached right now.", 503)
        if summary is None:
            return missing(request, "No such room", f"The room {room_id[:32]!r} does not exist (any more).")
        return render(request, "watch.html", {"room_id": room_id, "game": summary.game})

    async def replay(request: Request) -> Response:
        """A recording played back (asgi_mmo/replays/); its data comes from the admin API, with the token."""
        recording_id: str = request.path_params["recording_id"]
        meta = await recordings_of(request).get(recording_id)
        if meta is None or meta.get("game") not in GAMES:
            return missing(request, "No such recording", f"There is no recording {recording_id[:32]!r}.")
        return render(request, "replay.html", {"recording_id": recording_id, "game": meta["game"]})

    return [
        Route("/", lobby, methods=["GET"], name="lobby"),
        Route("/play/{room_id}", play, methods=["GET"], name="play"),
        Route("/watch/{room_id}", watch, methods=["GET"], name="watch"),
        Route("/replay/{recording_id}", replay, methods=["GET"], name="replay"),
    ]
