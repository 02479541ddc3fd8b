"""A room as the rest of the server sees it: listed, inspected, saved, restored.

Pure reads of a `Room` (nothing here runs on the tick path): the record the
lobby lists (`summary`), ROOM_STATS of the contract and the player entries
(admin API, `/metrics`, the cluster's directory), and the saved state another
process, or the next start, runs the room on from. A saved room is JSON: its
settings, tick and age, its game (`Game.save()`), and its seats with their
tokens, so players resume with the token they had; a restored room gives every
human `seat_seconds` to come back. A room restored in a cluster also gets the
score marks newer than its save overlaid (`scoremarks.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio
import orjson

from asgi_mmo.games.base import ScoredGame
from asgi_mmo.games.catalog import GAMES
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.scoremarks import ScoreMark
from asgi_mmo.seat import Seat
from asgi_mmo.settings import Settings

logger = logging.getLogger("asgi_mmo.roomview")


def summary(room: Room) -> dict[str, Any]:
    """The room as listed publicly (`GET /api/rooms`)."""
    return {
        "id": room.id,
        "game": room.config.game,
        "players": room.players,
        "max_players": room.config.max_players,
        "created_at": room.created_at,
        "view": room.config.view,
        "spectators": room.spectators,
    }


def statistics(room: Room) -> dict[str, Any]:
    """ROOM_STATS of the contract."""
    stats, config = room.stats, room.config
    return {
        "id": room.id,
        "game": config.game,
        "private": config.private,
        "view": config.view,
        "players": room.players,
        "spectators": room.spectators,
        "bots": sum(1 for s in room.seats.values() if s.bot),
        "max_players": config.max_players,
        "tick_rate": config.tick_rate,
        "tick": room.tick,
        "created_at": room.created_at,
        "tick_ms": stats.tick_ms(),
        "overruns": stats.overruns,
        "msgs_in": stats.msgs_in,
        "msgs_out": stats.msgs_out,
        "bytes_out": stats.bytes_out,
        "worker": room.worker,
        # extensions
        "bytes_in": stats.bytes_in,
        "ticks_dropped": stats.ticks_dropped,
        "slots_skipped": stats.slots_skipped,
        "lateness_ms": stats.lateness_ms(),
        "width": config.width,
        "height": config.height,
        "seats": room.human_seats,
    }


def player_list(room: Room) -> list[dict[str, Any]]:
    """The admin API's entry of every seat's player."""
    now = anyio.current_time()
    return [seat.public(now, room.game, room.worker) for seat in room.seats.values()]


def save(room: Room) -> bytes:
    """The room as JSON, for `restore` in this process or another."""
    return orjson.dumps({
        "id": room.id,
        "config": room.config.to_dict(),
        "tick": room.tick,
        "created_at": room.created_at,
        "game": room.game.save(),
        "seats": [
            {"player_id": s.player_id, "name": s.name, "token": s.token, "bot": s.bot, "ack": s.ack}
            for s in room.seats.values()
        ],
    })  # fmt: skip


def restore(data: bytes, settings: Settings, marks: Mapping[str, bytes] | None = None, **options: Any) -> Room:
    """The room `save` gave `data` for, its game restored, with the score `marks` newer than
    the save overlaid (`overlay`); `options` as for `Room()`."""
    saved = orjson.loads(data)
    config = RoomConfig(**saved["config"])
    game = GAMES[config.game].restore(saved["game"])
    room = Room(saved["id"], config, game, settings, **options)
    room.tick = saved["tick"]
    room.created_at = saved["created_at"]
    room.reseat([
        Seat(raw["player_id"], raw["name"], raw["token"], bot=raw["bot"], ack=raw["ack"]) for raw in saved["seats"]
    ])  # fmt: skip
    if marks:
        overlay(room, marks)
    return room


def overlay(room: Room, marks: Mapping[str, bytes]) -> None:
    """Bring a room just restored up to the score marks its owner kept after the save: each
    player's score and life as the owner last showed them (a seat left since is freed), and
    the room's tick to the newest mark's, so that it runs on from what its players saw. Every
    mark's last score event goes to the leaderboard again (`scoremarks.py`: counted once)."""
    saved_tick = room.tick
    game = room.game
    scored = game if isinstance(game, ScoredGame) else None
    newer = 0
    for player_id, data in marks.items():
        mark = ScoreMark.decode(player_id, data)
        if mark is None:
            continue
        if mark.final is not None:
            room.report_again(mark.final)
        seat = room.seats.get(player_id)
        if mark.tick <= saved_tick:
            continue  # the save holds it already
        newer += 1
        room.tick = max(room.tick, mark.tick)
        if seat is None:
            continue  # seated after the save: nothing to bring up to date
        if mark.score is None:
            room.forget_seat(seat)
        elif scored is not None:
            scored.overlay_score(player_id, mark.score, mark.alive)
    logger.info("score marks overlaid room=%s newer=%d of=%d saved_tick=%d tick=%d",
                room.id, newer, len(marks), saved_tick, room.tick)  # fmt: skip
