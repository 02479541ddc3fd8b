"""Creates, finds, lists and closes rooms; owns the task group their loops run in.

Each room runs in one task of the registry's task group, inside its own error
boundary (`_supervise`): a room that raises is logged with its id and
traceback, its players get `room_closed`, and every other room ticks on.
The registry is started by the app's lifespan (`await task_group.start(registry.run)`).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from anyio.abc import TaskGroup

from asgi_mmo.backends.base import Backend
from asgi_mmo.exceptions import BackendUnavailable, ConnectionRefused
from asgi_mmo.games.base import GameSetup, ScoreEvent
from asgi_mmo.games.catalog import GAMES
from asgi_mmo.protocol import refuse
from asgi_mmo.room import Planner, Room, ScoreSink
from asgi_mmo.seat import Seat
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.settings import Settings

if TYPE_CHECKING:
    from asgi_mmo.cluster.node import Cluster
    from asgi_mmo.cluster.mirror import RoomMirror

logger = logging.getLogger("asgi_mmo.registry")

GOLDEN_FRACTION = 0.6180339887498949  # successive multiples spread phases evenly over a period


def worker_name() -> str:
    """This process in the cluster: `HOST:PID`."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RegistryFull(Exception):
    """This process already runs `max_rooms` rooms."""


class RoomRegistry:
    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        *,
        on_score: ScoreSink | None = None,
        planner: Planner | None = None,
        plan_concurrency: int = 2,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.worker = worker_name()
        self.rooms_created = 0
        self.rooms_crashed = 0
        self.draining = False
        self._rooms: dict[str, Room] = {}
        self._task_group: TaskGroup | None = None
        self._on_score = on_score or _ignore_score
        self._planner = planner
        self._plan_concurrency = plan_concurrency
        #: this process's part in a cluster, when the backend is shared (Redis)
        self.cluster: Cluster | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Own every room's task (and, with a shared backend, the cluster's upkeep) until cancelled."""
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                if self.backend.shared:
                    from asgi_mmo.cluster.node import Cluster

                    self.cluster = Cluster(self, self.backend, self.settings)  # type: ignore[arg-type]
                    await task_group.start(self.cluster.run)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._task_group = None

    # ---- rooms ------------------------------------------------------------------------

    def get(self, room_id: str) -> Room | None:
        room = self._rooms.get(room_id)
        return None if room is None or room.closed else room

    def rooms(self) -> list[Room]:
        return [room for room in self._rooms.values() if not room.closed]

    def relayed(self) -> list[RoomMirror]:
        """Rooms run by other processes that players of this one play in (with Redis)."""
        return [] if self.cluster is None else [m for m in self.cluster.mirrors.values() if not m.closed]

    async def public_rooms(self) -> list[dict[str, Any]]:
        """The public rooms of every process."""
        if self.cluster is None:
            return [room.summary() for room in self.rooms() if not room.config.private]
        entries = await self.cluster.directory()
        return [entry["summary"] for entry in entries.values() if not entry["private"]]

    async def room_statistics(self) -> list[dict[str, Any]]:
        """ROOM_STATS of every room of every process, private ones too."""
        if self.cluster is None:
            return [room.statistics() for room in self.rooms()]
        return [entry["stats"] for entry in (await self.cluster.directory()).values()]

    async def room_details(self, room_id: str) -> dict[str, Any] | None:
        """ROOM_STATS and the players of one room of any process; None if there is none."""
        room = self.get(room_id)
        if room is not None:
            return {**room.statistics(), "players": room.player_list()}
        if self.cluster is None:
            return None
        entry = (await self.cluster.directory()).get(room_id)
        return None if entry is None else {**entry["stats"], "players": entry["players"]}

    async def close_anywhere(self, room_id: str) -> bool:
        """Close a room of any process (admin); False if there is none."""
        if self.close_room(room_id):
            return True
        if self.cluster is None or room_id not in await self.cluster.directory():
            return False
        self.cluster.ask_owner_to_close(room_id)
        return True

    async def open_room(self, config: RoomConfig) -> Room:
        """A new room with an id unique across the cluster (`create_room` for one process)."""
        room = self.create_room(config)
        while self.cluster is not None and not await self.cluster.adopt(room):
            room.close(refuse("room_closed", "room id taken"))  # another process's room has this id
            room = self.create_room(config)
        return room

    def create_room(self, config: RoomConfig, *, seed: int | None = None) -> Room:
        """A new room, its task started; it ticks once a human connects."""
        if len(self._rooms) >= self.settings.max_rooms:
            raise RegistryFull(f"this server runs {self.settings.max_rooms} rooms already")
        room_id = secrets.token_urlsafe(6)
        while room_id in self._rooms:
            room_id = secrets.token_urlsafe(6)
        game = GAMES[config.game].create(GameSetup(config.width, config.height, config.options, seed))
        room = self._new_room(lambda **options: Room(room_id, config, game, self.settings, **options))
        room.add_bots(config.bots)
        logger.info("room created room=%s game=%s private=%s", room.id, config.game, config.private)
        return room

    def _new_room(self, build: Any) -> Room:
        if self._task_group is None:
            raise RuntimeError("the registry is not running: start it with task_group.start(registry.run)")
        self.rooms_created += 1
        room = build(
            phase=self.rooms_created * GOLDEN_FRACTION,
            on_score=self._on_score,
            planner=self._planner,
            plan_concurrency=self._plan_concurrency,
            worker=self.worker,
        )
        self._rooms[room.id] = room
        self._task_group.start_soon(self._supervise, room, name=f"room {room.id}")
        return room

    async def _supervise(self, room: Room) -> None:
        """One room's error boundary: its failure ends it alone."""
        try:
            await room.run()
        except Exception as error:
            self.rooms_crashed += 1
            logger.error("room crashed room=%s error=%r", room.id, _lone(error), exc_info=_lone(error))
            room.close(refuse("room_closed", "the room failed and was closed"))
        finally:
            if not room.closed:
                room.close(refuse("server_shutdown", "the server is going down"))
            self._rooms.pop(room.id, None)
            logger.info("room disposed room=%s ticks=%d", room.id, room.tick)
            if self.cluster is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                    try:
                        await self.cluster.disown(room)
                    except BackendUnavailable as error:
                        logger.warning("room not removed from redis room=%s error=%s", room.id, error)

    def close_room(self, room_id: str) -> bool:
        """Close a room (admin): its players get `room_closed`. False if there is no such room."""
        room = self.get(room_id)
        if room is None:
            return False
        room.close(refuse("room_closed", "an admin closed the room"))
        logger.info("room closed by admin room=%s", room_id)
        return True

    # ---- joining ----------------------------------------------------------------------

    async def join(
        self, *, name: str, room_id: str | None = None, game: str = "snake", token: str | None = None
    ) -> tuple[Room | RoomMirror, Seat]:
        """The room and seat a new connection gets; `ConnectionRefused` with the contract's code."""
        try:
            return await self._join(name=name, room_id=room_id, game=game, token=token)
        except BackendUnavailable:
            raise refuse("unavailable", "the rooms of other servers cannot be reached right now; try again") from None

    async def _join(
        self, *, name: str, room_id: str | None, game: str, token: str | None
    ) -> tuple[Room | RoomMirror, Seat]:
        if self.draining:
            raise refuse("server_shutdown", "the server is going down")
        if room_id:
            room = self.get(room_id)
            if room is None and self.cluster is not None:
                return await self.cluster.join(room_id, name, token)
            if room is None and token:
                room = await self._restore(room_id)
            if room is None:
                raise refuse("room_not_found", f"no room {room_id[:32]!r}")
            return room, (room.seat_for_token(token) if token else room.join(name))
        if token:
            room = self._room_for_token(token)
            if room is None:
                raise refuse("bad_token", "unknown or expired token")
            return room, room.seat_for_token(token)
        if game not in GAMES:
            raise refuse("room_not_found", f"no game {game[:32]!r}")
        return await self._quick_join(game, name)

    async def _quick_join(self, game: str, name: str) -> tuple[Room | RoomMirror, Seat]:
        """The public room of `game` with the most humans and a free seat, else a new one."""
        candidates = [
            (room.players, room.human_seats, -room.created_at, room.id) for room in self.rooms()
            if room.config.game == game and not room.config.private and room.has_free_seat()
        ]  # fmt: skip
        if self.cluster is not None:
            for room_id, entry in (await self.cluster.directory()).items():
                stats = entry["stats"]
                if stats["game"] == game and not stats["private"] and stats["seats"] < stats["max_players"]:
                    candidates.append((stats["players"], stats["seats"], -stats["created_at"], room_id))
        if candidates:
            room_id = max(candidates)[3]
            try:
                return await self._join(name=name, room_id=room_id, game=game, token=None)
            except ConnectionRefused as refused:
                if refused.code != "room_full":  # filled up meanwhile: make a new one
                    raise
        try:
            room = await self.open_room(RoomConfig(game=game))
        except RegistryFull as error:
            raise refuse("room_full", str(error)) from None
        return room, room.join(name)

    def _room_for_token(self, token: str) -> Room | None:
        for room in self.rooms():
            try:
                room.seat_for_token(token)
            except ConnectionRefused:
                continue
            return room
        return None

    # ---- saving and restoring -----------------------------------------------------------

    async def save_rooms(self) -> int:
        """At shutdown: save every room where the next start, or another process, finds it.

        With a shared backend the rooms are handed over (saved under their leases,
        leases given up, relaying processes told); returns how many were saved.
        """
        if self.cluster is not None:
            return await self.cluster.hand_over()
        saved = 0
        for room in self.rooms():
            await self.backend.save_room(room.id, orjson.dumps(room.save()), self.settings.seat_seconds)
            saved += 1
        return saved

    async def _restore(self, room_id: str) -> Room | None:
        """Run a room on from the backend's saved state, if it has one (one process)."""
        raw = await self.backend.load_room(room_id)
        if raw is None or self.get(room_id) is not None:
            return self.get(room_id)
        room = self.restore_room(orjson.loads(raw))
        await self.backend.delete_room(room_id)
        return room

    def restore_room(self, saved: dict[str, Any]) -> Room:
        """A room rebuilt from `Room.save()`, its task started."""
        game = GAMES[saved["config"]["game"]].restore(saved["game"])
        room = self._new_room(lambda **options: Room.restore(saved, game, self.settings, **options))
        logger.info("room restored room=%s tick=%d", room.id, room.tick)
        return room

    # ---- shutdown -----------------------------------------------------------------------

    def drain(self) -> None:
        """Refuse new joins and tell every player the server is going down (close 1012)."""
        self.draining = True
        reason = refuse("server_shutdown", "the server is going down; reconnect with your token")
        relayed = self.cluster.mirrors.values() if self.cluster is not None else ()
        for room in [*self.rooms(), *relayed]:
            for seat in list(room.seats.values()):
                if seat.connection is not None:
                    seat.connection.close_nowait(reason)


def _ignore_score(event: ScoreEvent) -> None:
    pass


def _lone(error: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (task groups wrap what they raise)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
