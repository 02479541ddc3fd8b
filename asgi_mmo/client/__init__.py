"""`asgi_mmo.client`: a Python client of the asgi-mmo protocol (docs/python-client.md).

    async with connect("ws://127.0.0.1:8000/ws", name="Ada") as player:
        async for update in player:
            ...

`connect.py` joins and owns the player's task, `player.py` is the `Player`, `session.py`
opens one socket, `pictures.py` keeps the picture with the game's delta code,
`updates.py` and `errors.py` are what it yields and raises.
"""

from asgi_mmo.client.connect import connect
from asgi_mmo.client.errors import (
    BadName,
    BadToken,
    ClientError,
    ConnectionLost,
    Flood,
    HandshakeFailed,
    PlayerClosed,
    Replaced,
    RoomClosed,
    RoomFull,
    RoomNotFound,
    ServerError,
    ServerShutdown,
    TooBig,
    TooSlow,
    Unauthorized,
    Unavailable,
)
from asgi_mmo.client.pictures import DeltaApplier
from asgi_mmo.client.player import Player
from asgi_mmo.client.updates import Chat, Died, Error, Respawned, Resumed, Snapshot, Tick, Update

__all__ = [
    "BadName", "BadToken", "Chat", "ClientError", "ConnectionLost", "DeltaApplier", "Died", "Error", "Flood",
    "HandshakeFailed", "Player", "PlayerClosed", "Replaced", "Respawned", "Resumed", "RoomClosed", "RoomFull",
    "RoomNotFound", "ServerError", "ServerShutdown", "Snapshot", "Tick", "TooBig", "TooSlow", "Unauthorized",
    "Unavailable", "Update", "connect",
]
