"""The public HTTP API: rooms, health and readiness."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from asgi_mmo.exceptions import BackendUnavailable, BadRequest
from asgi_mmo.scores.leaderboard import Leaderboard, LeaderboardUnavailable
from asgi_mmo.registry import RegistryFull, RoomRegistry
from asgi_mmo.roomconfig import RoomConfig


LEADERBOARD_MAX = 100


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The contract's error body: `{"error": {"code", "message"}}`."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _registry(request: Request) -> RoomRegistry:
    return request.app.state.registry


async def list_rooms(request: Request) -> Response:
    try:
        rooms = await _registry(request).public_rooms()
    except BackendUnavailable:
        return error_response(503, "unavailable", "the room directory cannot be read right now")
    return JSONResponse({"rooms": rooms})


async def create_room(request: Request) -> Response:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
        config = RoomConfig.from_request(body)
    except orjson.JSONDecodeError:
        return error_response(422, "bad_request", "the body must be JSON")
    except BadRequest as error:
        return error_response(422, "bad_request", error.message)
    registry = _registry(request)
    if registry.draining:
        return error_response(503, "server_shutdown", "the server is going down")
    try:
        room = await registry.open_room(config)
    except RegistryFull as error:
        return error_response(503, "busy", str(error))
    except BackendUnavailable:
        return error_response(503, "unavailable", "rooms cannot be made right now")
    return JSONResponse({"id": room.id, **config.to_dict()}, status_code=201)


async def leaderboard(request: Request) -> Response:
    """Best score per name, highest first; bots' only with `bots=true`."""
    query = request.query_params
    raw_limit, raw_bots = query.get("limit", "10"), query.get("bots", "false").lower()
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LEADERBOARD_MAX:
        return error_response(422, "bad_request", f"'limit' must be an integer from 1 to {LEADERBOARD_MAX}")
    if raw_bots not in ("true", "false"):
        return error_response(422, "bad_request", "'bots' must be true or false")
    board: Leaderboard = request.app.state.leaderboard
    try:
        entries = await board.top(int(raw_limit), include_bots=raw_bots == "true")
    except LeaderboardUnavailable:
        return error_response(503, "unavailable", "the leaderboard cannot be read right now")
    return JSONResponse({"entries": entries})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    if _registry(request).draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    return JSONResponse({"status": "ready"})


def api_routes() -> list[BaseRoute]:
    return [
        Route("/api/rooms", list_rooms, methods=["GET"]),
        Route("/api/rooms", create_room, methods=["POST"]),
        Route("/api/leaderboard", leaderboard, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
