"""The rooms beyond this process, as the registry sees them.

The registry runs the rooms of its own process. Everything that concerns
other processes goes through its `Peers`: listing and inspecting the rooms
they run, closing or joining one of them, making a new room's id unique
across them, and saving or handing rooms over at shutdown. Two kinds:

- `NoPeers` (here): one process. There is nothing elsewhere; rooms saved at
  shutdown come back from the backend when a player returns with a token.
- `Cluster` (`cluster/node.py`): processes that share rooms through a shared
  backend (Redis).

The app's lifespan picks one (`Cluster` when the backend is shared) and hands
the registry a factory for it; the registry calls it with itself, as the
narrow view `LocalRooms` the peers need of it. The registry never asks which
kind it has.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio
import orjson

from asgi_mmo import roomview
from asgi_mmo.backends.base import Backend
from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.protocol import refuse
from asgi_mmo.room import Room
from asgi_mmo.seat import PlayerRoom, Seat
from asgi_mmo.settings import Settings
from asgi_mmo.views.rect import ViewAsked

logger = logging.getLogger("asgi_mmo.registry")

#: a spectator's join (`Room.watch`): "watch", or "record" for a recorder; None: a player's
Watch = Literal["watch", "record"] | None


def worker_name() -> str:
    """This process in the cluster: `HOST:PID`."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LocalRooms(Protocol):
    """What the peers need of the registry: the rooms of this process."""

    @property
    def draining(self) -> bool:
        """True once the server is going down (joins are refused)."""
        ...

    def get(self, room_id: str) -> Room | None: ...

    def rooms(self) -> list[Room]: ...

    def restore_room(self, saved: bytes, marks: Mapping[str, bytes] | None = None) -> Room:
        """Run a saved room (`roomview.save`) in this process, with its newer score marks overlaid."""
        ...

    def close_room(self, room_id: str) -> bool:
        """Close a room (an admin's request): its players get `room_closed`."""
        ...


@dataclass(frozen=True, slots=True)
class RoomListing:
    """A room run elsewhere, as its owner last listed it in the directory."""

    summary: dict[str, Any]  # `roomview.summary`
    stats: dict[str, Any]  # ROOM_STATS
    players: list[dict[str, Any]]  # `roomview.player_list`
    private: bool
    config: dict[str, Any]  # `RoomConfig.to_dict()`
    at: float  # wall clock (`time.time()`) when the owner wrote it

    @classmethod
    def of(cls, room: Room) -> RoomListing:
        return cls(roomview.summary(room), roomview.statistics(room), roomview.player_list(room),
                   room.config.private, room.config.to_dict(), time.time())  # fmt: skip

    def encode(self) -> bytes:
        return orjson.dumps({"summary": self.summary, "stats": self.stats, "players": self.players,
                             "private": self.private, "config": self.config, "at": self.at})  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> RoomListing:
        raw = orjson.loads(data)
        return cls(raw["summary"], raw["stats"], raw["players"], raw["private"], raw["config"], raw["at"])


class Peers(Protocol):
    """The rooms beyond this process (see the module docstring)."""

    @property
    def worker(self) -> str:
        """This process's name among its peers (`HOST:PID`)."""
        ...

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The peers' upkeep (leases, saves, the directory), until cancelled."""
        ...

    def relayed(self) -> list[PlayerRoom]:
        """Rooms run elsewhere that players of this process play in."""
        ...

    async def rooms_elsewhere(self) -> dict[str, RoomListing]:
        """Every live room that other processes run: id -> its listing."""
        ...

    async def close_elsewhere(self, room_id: str) -> bool:
        """Have another process close its room (admin); False if no process runs it."""
        ...

    async def join_elsewhere(
        self, room_id: str, name: str, token: str | None, view: ViewAsked = None, watch: Watch = None
    ) -> tuple[PlayerRoom, Seat]:
        """A seat in a room this process does not run (a new one, or `token`'s), with the
        view size the player asked for in place before its welcome is made (`watch`: a spectator's
        place instead, "watch" or a recorder's "record");
        `ConnectionRefused` (`room_not_found`, ...) when there is none to be had."""
        ...

    async def adopt(self, room: Room) -> bool:
        """A new room of this process: False if its id is taken elsewhere (make another)."""
        ...

    async def disown(self, room: Room) -> None:
        """A room of this process was disposed of: forget it everywhere."""
        ...

    async def save_rooms(self) -> int:
        """Shutdown: save (or hand over) every room of this process; how many were."""
        ...

    def drain(self, reason: ConnectionRefused) -> None:
        """Shutdown: close the sockets of the players of this process in rooms run elsewhere."""
        ...


PeersFactory = Callable[[LocalRooms], Peers]


class NoPeers:
    """One process: no rooms elsewhere; rooms saved at shutdown come back from `backend`."""

    def __init__(self, rooms: LocalRooms, backend: Backend, settings: Settings) -> None:
        self.worker = worker_name()
        self._rooms = rooms
        self._backend = backend
        self._settings = settings

    @classmethod
    def over(cls, backend: Backend, settings: Settings) -> PeersFactory:
        """The factory a registry takes: `RoomRegistry(settings, NoPeers.over(backend, settings))`."""
        return lambda rooms: cls(rooms, backend, settings)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # nothing to keep up

    def relayed(self) -> list[PlayerRoom]:
        return []

    async def rooms_elsewhere(self) -> dict[str, RoomListing]:
        return {}

    async def close_elsewhere(self, room_id: str) -> bool:
        return False

    async def join_elsewhere(
        self, room_id: str, name: str, token: str | None, view: ViewAsked = None, watch: Watch = None
    ) -> tuple[PlayerRoom, Seat]:
        room = await self._restore(room_id) if token else None
        if room is None or token is None:
            raise refuse("room_not_found", f"no room {room_id[:32]!r}")
        return room, room.seat_for_token(token)

    async def _restore(self, room_id: str) -> Room | None:
        """Run a room on from the backend's saved state, if it has one."""
        saved = await self._backend.load_room(room_id)
        if saved is None or self._rooms.get(room_id) is not None:
            return self._rooms.get(room_id)  # (restored meanwhile by another join)
        room = self._rooms.restore_room(saved)
        await self._backend.delete_room(room_id)
        return room

    async def adopt(self, room: Room) -> bool:
        return True  # ids are unique within the registry already

    async def disown(self, room: Room) -> None:
        pass

    async def save_rooms(self) -> int:
        saved = 0
        for room in self._rooms.rooms():
            await self._backend.save_room(room.id, roomview.save(room), self._settings.seat_seconds)
            saved += 1
        return saved

    def drain(self, reason: ConnectionRefused) -> None:
        pass  # no player here plays in a room run elsewhere
