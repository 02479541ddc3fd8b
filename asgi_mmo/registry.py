"""Creates, finds, lists and closes rooms; owns the task group their loops run in.

Each room runs in one task of the registry's task group, inside its own error
boundary (`_supervise`): a room that raises is logged with its id and
traceback, its players get `room_closed`, and every other room ticks on.
The registry is started by the app's lifespan (`await task_group.start(registry.run)`).

Rooms beyond this process are its `peers`' business (`peers.py`): one process
has none, a cluster shares rooms through a shared backend (`cluster/node.py`).
The registry lists, joins and closes rooms through them alike, without asking
which kind it has.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from anyio.abc import TaskGroup

from asgi_mmo import roomview
from asgi_mmo.admission import TickBudget, estimated_cost
from asgi_mmo.botplans import Planner
from asgi_mmo.exceptions import BackendUnavailable, ConnectionRefused
from asgi_mmo.fanout import close_all
from asgi_mmo.games.base import GameSetup, ScoreEvent
from asgi_mmo.games.catalog import DEFAULT_GAME, GAMES
from asgi_mmo.peers import PeersFactory
from asgi_mmo.protocol import refuse
from asgi_mmo.room import Room, ScoreSink
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.seat import PlayerRoom, Seat
from asgi_mmo.settings import Settings
from asgi_mmo.views.rect import ViewAsked

logger = logging.getLogger("asgi_mmo.registry")

GOLDEN_FRACTION = 0.6180339887498949  # successive multiples spread phases evenly over a period


class RegistryFull(Exception):
    """This process already runs `max_rooms` rooms."""


class RoomTooHeavy(RegistryFull):
    """This process cannot run a room this heavy on time beside its others (admission.py)."""


class RoomRegistry:
    def __init__(
        self,
        settings: Settings,
        peers: PeersFactory,
        *,
        on_score: ScoreSink | None = None,
        planner: Planner | None = None,
        plan_concurrency: int = 2,
    ) -> None:
        """`peers` makes the rooms beyond this process from this registry's `LocalRooms` view
        (`NoPeers.over(backend, settings)` for one process, or a `Cluster`)."""
        self.settings = settings
        self.rooms_created = 0
        self.rooms_crashed = 0
        self.draining = False
        self._rooms: dict[str, Room] = {}
        self._task_group: TaskGroup | None = None
        self._on_score = on_score or _ignore_score
        self._planner = planner
        self._plan_concurrency = plan_concurrency
        #: the event loop's time shared among the rooms (admission.py)
        self.tick_budget = TickBudget(settings.tick_budget, settings.max_tick_ms / 1000)
        self.peers = peers(self)
        self.worker = self.peers.worker

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Own every room's task until cancelled (the peers' upkeep runs beside: `peers.run`)."""
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
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

    def relayed(self) -> list[PlayerRoom]:
        """Rooms run by other processes that players of this one play in."""
        return self.peers.relayed()

    async def public_rooms(self) -> list[dict[str, Any]]:
        """The public rooms of every process."""
        here = [roomview.summary(room) for room in self.rooms() if not room.config.private]
        elsewhere = await self.peers.rooms_elsewhere()
        return here + [listing.summary for listing in elsewhere.values() if not listing.private]

    async def room_statistics(self) -> list[dict[str, Any]]:
        """ROOM_STATS of every room of every process, private ones too."""
        here = [roomview.statistics(room) for room in self.rooms()]
        return here + [listing.stats for listing in (await self.peers.rooms_elsewhere()).values()]

    async def room_details(self, room_id: str) -> dict[str, Any] | None:
        """ROOM_STATS and the players of one room of any process; None if there is none."""
        room = self.get(room_id)
        if room is not None:
            return {**roomview.statistics(room), "players": roomview.player_list(room)}
        listing = (await self.peers.rooms_elsewhere()).get(room_id)
        return None if listing is None else {**listing.stats, "players": listing.players}

    async def close_anywhere(self, room_id: str) -> bool:
        """Close a room of any process (admin); False if there is none."""
        return self.close_room(room_id) or await self.peers.close_elsewhere(room_id)

    def admit(self, config: RoomConfig) -> None:
        """`RoomTooHeavy` unless this process can run a room of these settings on time beside
        its others (admission.py); asked by the public API before it makes a room."""
        estimate = estimated_cost(config.bots, config.width * config.height)
        if not self.tick_budget.admits(estimate, 1.0 / config.tick_rate):
            raise RoomTooHeavy("this server cannot run a room this heavy on time beside its others; "
                               "fewer bots, a smaller field or a lower tick_rate may fit")

    async def open_room(self, config: RoomConfig) -> Room:
        """A new room, with an id unique among every process's (the peers adopt it)."""
        room = self.create_room(config)
        while not await self.peers.adopt(room):
            room.close(refuse("room_closed", "room id taken"))  # another process's room has this id
            room = self.create_room(config)
        return room

    async def open_named_room(self, room_id: str, config: RoomConfig) -> None:
        """Make sure the room of a well-known id (the lobby's world) runs somewhere: here, in
        another process, or made here now. Only one process gets its lease: one that loses
        the race closes its copy at once, and joins go to the winner's."""
        if self.get(room_id) is not None or room_id in await self.peers.rooms_elsewhere():
            return
        if self.get(room_id) is not None or room_id in self._rooms:
            return  # made meanwhile (or its closed namesake not yet disposed: joins find none)
        room = self.create_room(config, room_id=room_id)
        if not await self.peers.adopt(room):
            room.close(refuse("room_closed", "another process runs this room"))

    def create_room(self, config: RoomConfig, *, seed: int | None = None, room_id: str | None = None) -> Room:
        """A new room (of a random id, unless `room_id` is given), its task started; it ticks
        once a human connects."""
        if len(self._rooms) >= self.settings.max_rooms:
            raise RegistryFull(f"this server runs {self.settings.max_rooms} rooms already")
        estimate = estimated_cost(config.bots, config.width * config.height)
        if room_id is None:
            room_id = secrets.token_urlsafe(6)
            while room_id in self._rooms:
                room_id = secrets.token_urlsafe(6)
        elif room_id in self._rooms:
            raise ValueError(f"this process has a room {room_id!r} already")
        game = GAMES[config.game].create(GameSetup(config.width, config.height, config.options, seed))
        room = self._new_room(lambda **options: Room(room_id, config, game, self.settings, **options), estimate)
        room.add_bots(config.bots)
        logger.info("room created room=%s game=%s private=%s", room.id, config.game, config.private)
        return room

    def _new_room(self, build: Callable[..., Room], estimate: float = 0.0) -> Room:
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
        room.pace = self.tick_budget.enroll(room.period, estimate)
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
            if self._rooms.get(room.id) is room:  # (a named room may have been made anew)
                del self._rooms[room.id]
            self.tick_budget.leave(room.pace)
            logger.info("room disposed room=%s ticks=%d", room.id, room.tick)
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                try:
                    await self.peers.disown(room)
                except BackendUnavailable as error:
                    logger.warning("room not removed from the shared backend room=%s error=%s", room.id, error)

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
        self, *, name: str, room_id: str | None = None, game: str = DEFAULT_GAME, token: str | None = None,
        view: ViewAsked = None,
    ) -> tuple[PlayerRoom, Seat]:
        """The room and seat a new connection gets, with the view size it asked for (`view=WxH`)
        in place; `ConnectionRefused` with the contract's code."""
        try:
            room, seat = await self._join(name=name, room_id=room_id, game=game, token=token, view=view)
        except BackendUnavailable:
            raise refuse("unavailable", "the rooms of other servers cannot be reached right now; try again") from None
        if view is not None and self.get(room.id) is room:  # a relayed join carried it to the owner
            room.ask_view(seat, *view)
        return room, seat

    async def watch(
        self, *, name: str, room_id: str | None, view: ViewAsked = None, record: bool = False
    ) -> tuple[PlayerRoom, Seat]:
        """A spectator's place in a room of any process (`spectate=true`), its view size in place;
        `room_not_found` without a room id. `record`: a recorder's (asgi_mmo/replays/)."""
        if self.draining:
            raise refuse("server_shutdown", "the server is going down")
        if not room_id:
            raise refuse("room_not_found", "a spectator names the room it watches")
        room = self.get(room_id)
        if room is None:
            try:
                return await self.peers.join_elsewhere(room_id, name, None, view, watch="record" if record else "watch")
            except BackendUnavailable:
                raise refuse("unavailable", "the rooms of other servers cannot be reached right now") from None
        seat = room.watch(name, record=record)
        if view is not None:
            room.ask_view(seat, *view)
        return room, seat

    async def _join(
        self, *, name: str, room_id: str | None, game: str, token: str | None, view: ViewAsked
    ) -> tuple[PlayerRoom, Seat]:
        if self.draining:
            raise refuse("server_shutdown", "the server is going down")
        if room_id:
            room = self.get(room_id)
            if room is None:
                return await self.peers.join_elsewhere(room_id, name, token, view)
            return room, (room.seat_for_token(token) if token else room.join(name))
        if token:
            room = self._room_for_token(token)
            if room is None:
                raise refuse("bad_token", "unknown or expired token")
            return room, room.seat_for_token(token)
        if game not in GAMES:
            raise refuse("room_not_found", f"no game {game[:32]!r}")
        return await self._quick_join(game, name, view)

    async def _quick_join(self, game: str, name: str, view: ViewAsked) -> tuple[PlayerRoom, Seat]:
        """The public room of `game` with the most humans and a free seat, else a new one."""
        candidates = [
            (room.players, room.human_seats, -room.created_at, room.id) for room in self.rooms()
            if room.config.game == game and not room.config.private and room.has_free_seat()
        ]  # fmt: skip
        for room_id, listing in (await self.peers.rooms_elsewhere()).items():
            stats = listing.stats
            if stats["game"] == game and not stats["private"] and stats["seats"] < stats["max_players"]:
                candidates.append((stats["players"], stats["seats"], -stats["created_at"], room_id))
        if candidates:
            room_id = max(candidates)[3]
            try:
                return await self._join(name=name, room_id=room_id, game=game, token=None, view=view)
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
        """At shutdown: save every room where the next start, or another process, finds it
        (with peers, hand them over); returns how many were saved."""
        return await self.peers.save_rooms()

    def restore_room(self, saved: bytes, marks: Mapping[str, bytes] | None = None) -> Room:
        """A room rebuilt from `roomview.save` with its newer score `marks` overlaid, its task started."""
        room = self._new_room(lambda **options: roomview.restore(saved, self.settings, marks, **options))
        logger.info("room restored room=%s tick=%d", room.id, room.tick)
        return room

    # ---- shutdown -----------------------------------------------------------------------

    def drain(self) -> None:
        """Refuse new joins and tell every player the server is going down (close 1012)."""
        self.draining = True
        reason = refuse("server_shutdown", "the server is going down; reconnect with your token")
        for room in self.rooms():
            close_all(room.seats.values(), reason)
            close_all(room.watchers(), reason)
        self.peers.drain(reason)


def _ignore_score(event: ScoreEvent) -> None:
    pass


def _lone(error: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (task groups wrap what they raise)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
