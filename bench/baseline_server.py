"""The stack's limit: a thin Starlette + uvicorn server doing the same room work, nothing else.

Each room ticks on a fixed grid; each tick it serialises one JSON frame of
about the size of asgi-mmo's snake tick (a `moves` entry per player, a few
food items) once, splices each player's `ack` into it and awaits
`websocket.send_text` for every player in turn. Players' inputs are parsed
and acknowledged. No game rules, no outboxes, no slow-client isolation, no
statistics: what any Starlette game server pays at least.

It speaks enough of protocol v1 for `asgi-mmo loadtest`: `POST /api/rooms`,
`/ws?room=ID&name=N` with a `welcome`, then `tick` frames; `input` and
`leave`. Run it as uvicorn is run for asgi-mmo:

    python bench/baseline_server.py --port 8100 [--ws-per-message-deflate false]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


class Player:
    __slots__ = ("id", "websocket", "ack", "x", "y")

    def __init__(self, player_id: str, websocket: WebSocket, width: int, height: int) -> None:
        self.id = player_id
        self.websocket = websocket
        self.ack = 0
        self.x = random.randrange(width)
        self.y = random.randrange(height)


class Room:
    def __init__(self, room_id: str, tick_rate: int, width: int, height: int) -> None:
        self.id = room_id
        self.tick_rate = tick_rate
        self.width, self.height = width, height
        self.tick = 0
        self.players: dict[str, Player] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self, phase: float) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.tick_rate
        deadline = (loop.time() // period + 1 + phase) * period
        while True:
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            await self.step()
            deadline += period
            now = loop.time()
            if now > deadline:  # skip the slots already gone
                deadline += ((now - deadline) // period + 1) * period

    async def step(self) -> None:
        self.tick += 1
        moves = []
        for player in self.players.values():
            player.x = (player.x + 1) % self.width
            moves.append([player.id, player.x, player.y, 0])
        body = orjson.dumps({"moves": moves, "food": [[3, 4, 2]], "eaten": [[5, 6]]}).decode()
        head, tail = f'{{"type":"tick","tick":{self.tick},"ack":', "," + body[1:]
        for player in list(self.players.values()):
            try:
                await player.websocket.send_text(f"{head}{player.ack}{tail}")
            except (WebSocketDisconnect, RuntimeError):
                self.players.pop(player.id, None)


ROOMS: dict[str, Room] = {}
PHASES = itertools.count()


async def create_room(request: Request) -> JSONResponse:
    body = orjson.loads(await request.body() or b"{}")
    room = Room(secrets.token_urlsafe(6), int(body.get("tick_rate", 20)), int(body.get("width", 40)),
                int(body.get("height", 30)))
    ROOMS[room.id] = room
    room.task = asyncio.get_running_loop().create_task(room.run((next(PHASES) * 0.618) % 1.0))
    return JSONResponse({"id": room.id, "tick_rate": room.tick_rate}, status_code=201)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def player_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    room = ROOMS.get(websocket.query_params.get("room", ""))
    if room is None:
        await websocket.close(4404)
        return
    player = Player(secrets.token_hex(4), websocket, room.width, room.height)
    await websocket.send_text(orjson.dumps({
        "type": "welcome", "protocol": 1, "room": room.id, "game": "snake", "player": player.id, "token": "-",
        "tick_rate": room.tick_rate, "tick": room.tick, "ack": 0,
        "state": {"width": room.width, "height": room.height, "food": [], "stones": [], "snakes": [
            {"id": player.id, "name": "p", "color": "#000", "body": [[player.x, player.y]], "dir": "right",
             "alive": True, "score": 0, "bot": False}]},
    }).decode())
    room.players[player.id] = player
    try:
        while True:
            message = orjson.loads(await websocket.receive_text())
            kind = message.get("type")
            if kind == "input":
                player.ack = max(player.ack, int(message["seq"]))
            elif kind == "leave":
                room.players.pop(player.id, None)
                await websocket.close(1000)
                return
    except WebSocketDisconnect:
        pass
    finally:
        room.players.pop(player.id, None)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    for room in ROOMS.values():
        if room.task is not None:
            room.task.cancel()


app = Starlette(
    routes=[
        Route("/api/rooms", create_room, methods=["POST"]),
        Route("/healthz", healthz),
        WebSocketRoute("/ws", player_endpoint),
    ],
    lifespan=lifespan,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--ws-per-message-deflate", choices=("true", "false"), default="true",
                        help="uvicorn's permessage-deflate (its default: true)")
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", ws="websockets-sansio", http="httptools",
                loop="uvloop", ws_per_message_deflate=args.ws_per_message_deflate == "true")


if __name__ == "__main__":
    main()
