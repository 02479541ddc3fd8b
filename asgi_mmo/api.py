"""The public HTTP API: rooms, health and readiness."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from asgi_mmo.exceptions import BadRequest
from asgi_mmo.registry import RegistryFull, RoomRegistry
from asgi_mmo.roomconfig import RoomConfig


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _registry(request: Request) -> RoomRegistry:
    return request.app.state.registry


async def list_rooms(request: Request) -> Response:
    return JSONResponse({"rooms": _registry(request).public_rooms()})


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
        room = registry.create_room(config)
    except RegistryFull as error:
        return error_response(503, "busy", str(error))
    return JSONResponse({"id": room.id, **config.to_dict()}, status_code=201)


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
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
