"""The public HTTP API: games, rooms, the world, the leaderboard, health and readiness.

Errors are raised, never answered here: web/errors.py maps each to its status and code.
"""

from __future__ import annotations

from typing import Any

import anyio
import orjson
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from asgi_mmo.exceptions import BadRequest, PayloadTooLarge, RateLimited, ServerDraining
from asgi_mmo.games.catalog import GAMES, game_info
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.scores.leaderboard import Leaderboard
from asgi_mmo.web.admin import require_token, start_recording
from asgi_mmo.web.state import client_of, registry_of, shares_of

LEADERBOARD_MAX = 100


#: the largest request body the API reads (a room's settings are a few hundred bytes)
MAX_BODY_BYTES = 16 * 1024


async def json_body(request: Request) -> Any:
    """The request's JSON body (an empty one is `{}`), `BadRequest`, or `PayloadTooLarge`
    as soon as more than `MAX_BODY_BYTES` arrive (never read whole first)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"a request body is at most {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"a request body is at most {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("the body must be JSON") from None


async def games(request: Request) -> Response:
    """Every game this server runs: title, description, options and input schema."""
    return JSONResponse({"games": [game_info(game) for game in GAMES.values()]})


class Rooms(HTTPEndpoint):
    """`/api/rooms`: one endpoint for both methods, so a 405 names them both in `Allow`."""

    async def get(self, request: Request) -> Response:
        return JSONResponse({"rooms": await registry_of(request).public_rooms()})

    async def post(self, request: Request) -> Response:
        config = RoomConfig.from_request(await json_body(request))
        registry = registry_of(request)
        if registry.draining:
            raise ServerDraining("the server is going down")
        if config.record:
            require_token(request)  # a recording is written to the server's disk: admins only
        registry.admit(config)  # 503 busy: too heavy to run on time here
        shares, address = shares_of(request), client_of(request)
        if not shares.allow_room(address, anyio.current_time()):  # counts only rooms that would be made
            raise RateLimited(f"{shares.rooms_per_minute} rooms a minute from one address at most; "
                              f"try again in {shares.room_wait(address):.0f} s")
        room = await registry.open_room(config)
        answer: dict[str, Any] = {"id": room.id, **config.to_dict()}
        if config.record:
            answer["recording"] = await start_recording(request, room.id)
        return JSONResponse(answer, status_code=201)


#: THE world: one big public view room of a well-known id, made on demand (by whichever
#: process is asked first; the registry's lease keeps it to one) and kept while anyone plays
WORLD_ROOM = "world"
WORLD_SETTINGS: dict[str, Any] = {"view": True, "width": 1000, "height": 1000, "bots": 50, "max_players": 1000}


def world_config() -> RoomConfig:
    return RoomConfig.from_request(WORLD_SETTINGS)


async def world(request: Request) -> Response:
    """`POST /api/world`: the world room, made now if no process runs it."""
    registry = registry_of(request)
    if registry.draining:
        raise ServerDraining("the server is going down")
    config = world_config()
    await registry.open_named_room(WORLD_ROOM, config)
    return JSONResponse({"id": WORLD_ROOM, **config.to_dict()})


async def leaderboard(request: Request) -> Response:
    """Best score per name, highest first; bots' only with `bots=true`."""
    query = request.query_params
    raw_limit, raw_bots = query.get("limit", "10"), query.get("bots", "false").lower()
    # isascii: "²".isdigit() is True, and int("²") raises
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= LEADERBOARD_MAX:
        raise BadRequest(f"'limit' must be an integer from 1 to {LEADERBOARD_MAX}")
    if raw_bots not in ("true", "false"):
        raise BadRequest("'bots' must be true or false")
    board: Leaderboard = request.app.state.leaderboard
    entries = await board.top(int(raw_limit), include_bots=raw_bots == "true")
    return JSONResponse({"entries": entries})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    if registry_of(request).draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    return JSONResponse({"status": "ready"})


def api_routes() -> list[BaseRoute]:
    return [
        Route("/api/games", games, methods=["GET"]),
        Route("/api/rooms", Rooms),
        Route("/api/world", world, methods=["POST"]),
        Route("/api/leaderboard", leaderboard, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
