"""The player endpoint, `/ws`: accept, join, then read the client's frames.

The reader hands the client's frames to the room; the room sends to the
socket through a `Connection`, which starts a drain task in the socket's task
group only while frames must wait (a slow client). The room, the registry or
the reader cancel that group's scope to end the connection; the reason they
give decides the error frame and close code.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from asgi_mmo.auth.base import Authorizer, Offer
from asgi_mmo.chatbudget import ChatBudget
from asgi_mmo.connection import Connection
from asgi_mmo.exceptions import ConnectionRefused, MessageRefused
from asgi_mmo.fairshare import AddressShares, Hold, SeatHeld
from asgi_mmo.games.catalog import DEFAULT_GAME
from asgi_mmo.protocol import (
    NORMAL_CLOSURE,
    Chat,
    Input,
    Leave,
    Ping,
    Sync,
    View,
    encode,
    error_frame,
    parse_client_message,
    refuse,
    validate_name,
)
from asgi_mmo.ratelimit import RateLimiter
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.seat import PlayerRoom, Seat
from asgi_mmo.settings import Settings
from asgi_mmo.syncpace import SyncPacer
from asgi_mmo.views.rect import parse_size
from asgi_mmo.web.state import client_of

logger = logging.getLogger("asgi_mmo.web.websocket")

#: time allowed for the last error frame and close of an ending connection
FAREWELL_SECONDS = 1.0
LEAVE = ConnectionRefused("leave", "the player left", NORMAL_CLOSURE)


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """A browser may connect from the page's own host and port, or a listed origin.

    A client that sends no Origin is not a browser and is let in.
    """
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in allowed:
        return True
    if host is None:
        return False
    scheme, _, authority = origin.partition("://")
    default_port = {"http": 80, "https": 443}.get(scheme.lower())
    origin_host = _host_and_port(authority, default_port)
    return origin_host is not None and origin_host == _host_and_port(host, default_port)


def _host_and_port(netloc: str, default_port: int | None) -> str | None:
    """`host:port` of a URL's authority, lower case; None when it is not one (a port that
    is no number, or beyond 65535: `http://127.0.0.1:8000.evil.com`; an open `[`)."""
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{port or default_port}".lower()


async def player_endpoint(websocket: WebSocket) -> None:
    registry: RoomRegistry = websocket.app.state.registry
    settings: Settings = websocket.app.state.settings
    authorizer: Authorizer = websocket.app.state.authorizer
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), settings.allowed_origins):
        await websocket.close()  # before accept: the server answers HTTP 403
        return
    await websocket.accept()
    query = websocket.query_params
    shares: AddressShares = websocket.app.state.shares
    token = query.get("token")
    hold: Hold | None = None
    try:
        identity = await authorizer.authorize(Offer.of(websocket))  # None: authorization is off
        name = identity.name if identity and identity.name else validate_name(query.get("name"))
        if query.get("spectate", "").lower() in ("true", "1"):  # a spectator: no seat (Room.watch)
            room, seat = await registry.watch(name=name, room_id=query.get("room"), view=parse_size(query.get("view")))
        else:
            if not token:  # a new seat: within this address's share (a resume holds its seat already)
                hold = _take_seat(shares, client_of(websocket), registry)
            room, seat = await registry.join(
                name=name, room_id=query.get("room"), game=query.get("game") or DEFAULT_GAME, token=token,
                view=parse_size(query.get("view")),
            )
    except ConnectionRefused as refused:
        shares.cancel(hold)
        logger.info("player refused room=%r code=%s", (query.get("room") or "")[:32], refused.code)
        await _farewell(websocket, refused)
        return
    except BaseException:
        shares.cancel(hold)
        raise
    if hold is not None:
        shares.seated(hold, room.id, seat.player_id)
    else:
        shares.connected(room.id, seat.player_id)

    async def send(frame: str) -> None:
        await websocket.send({"type": "websocket.send", "text": frame})

    connection = Connection(send, settings.outbox_frames)
    welcome = room.connect(seat, connection)
    logger.info("player joined room=%s player=%s name=%r", room.id, seat.player_id, seat.name)
    try:
        await send(welcome)
        async with anyio.create_task_group() as task_group:
            connection.attach(task_group)  # sends that must wait run as tasks of this group
            await _read(websocket, connection, room, seat, settings, task_group)
            task_group.cancel_scope.cancel()
    except WebSocketDisconnect:
        connection.client_gone()
    finally:
        connection.close_outbox()
        leave = connection.close_reason is LEAVE
        room.disconnect(seat, connection, leave=leave)
        reason = connection.close_reason
        if reason is None or reason.code != "replaced":  # (a newer connection holds the seat)
            shares.away(room.id, seat.player_id, anyio.current_time(), leave=leave)
        logger.info(
            "player left room=%s player=%s reason=%s", room.id, seat.player_id,
            reason.code if reason else "disconnected",
        )
    if reason is not None and not connection.closed_by_client:
        await _farewell(websocket, reason)


def _take_seat(shares: AddressShares, address: str, registry: RoomRegistry) -> Hold:
    """A hold on one more seat for `address`; `busy` when it holds its share already."""
    hold = shares.take_seat(address, anyio.current_time(), _seat_held(registry))
    if hold is None:
        raise refuse("busy", f"one address holds at most {shares.seats_per_address} seats; "
                             "leave one, or wait for those kept for a reconnect to expire")
    return hold


def _seat_held(registry: RoomRegistry) -> SeatHeld:
    """Whether a seat of a room of this process is still held (None: the room is not here)."""

    def held(room_id: str, player_id: str) -> bool | None:
        room = registry.get(room_id)
        return None if room is None else player_id in room.seats

    return held


async def _read(
    websocket: WebSocket, connection: Connection, room: PlayerRoom, seat: Seat, settings: Settings,
    tasks: anyio.abc.TaskGroup,
) -> None:
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst, settings.flood_seconds)
    chat_budget = ChatBudget(settings.chat_sends)
    syncs = SyncPacer(settings.sync_seconds)
    max_bytes = settings.max_message_bytes
    stats = room.stats
    metrics = websocket.app.state.metrics
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            connection.client_gone()
            return
        text = message.get("text")
        size = len(text) if text is not None else len(message.get("bytes") or b"")
        if size > max_bytes // 4 and text is not None:
            size = len(text.encode())
        if size > max_bytes:
            connection.close_nowait(refuse("too_big", f"frames are at most {max_bytes} bytes"))
            return
        now = anyio.current_time()
        if not limiter.allow(now):
            if limiter.flooding(now):
                connection.close_nowait(refuse("flood", "too many messages for too long"))
                return
            metrics.error("rate_limited")
            room.send_to(seat, error_frame("rate_limited", "too many messages; this one was dropped"))
            continue
        stats.msgs_in += 1
        stats.bytes_in += size
        try:
            if text is None:
                raise MessageRefused("bad_message", "frames must be text")
            parsed = parse_client_message(text)
            if isinstance(parsed, Input):
                room.handle_input(seat, parsed.seq, parsed.data)
            elif isinstance(parsed, Ping):
                if parsed.rtt is not None:
                    room.note_latency(seat, round(float(parsed.rtt), 1))
                room.send_to(seat, encode({"type": "pong", "t": parsed.t}))
            elif isinstance(parsed, Sync):
                delay = syncs.ask(now)
                if delay == 0.0:
                    connection.needs_state = True  # the state comes at the room's next tick
                elif delay is not None:
                    tasks.start_soon(_sync_later, connection, syncs, delay)
            elif isinstance(parsed, Chat):
                # What the line costs the room, not the message count: these refusals are no flood.
                if not chat_budget.allow(now, readers := room.audience):
                    raise MessageRefused(
                        "rate_limited",
                        f"too many chat lines for a room of {readers}: at most "
                        f"{chat_budget.lines_per_second(readers):.3g} a second; this one was dropped",
                    )
                room.chat(seat, parsed.text)
            elif isinstance(parsed, View):
                room.ask_view(seat, parsed.width, parsed.height, parsed.x, parsed.y)
            elif isinstance(parsed, Leave):
                connection.close_nowait(LEAVE)
                return
        except MessageRefused as refused:
            metrics.error(refused.code)
            room.send_to(seat, error_frame(refused.code, refused.message))


async def _sync_later(connection: Connection, syncs: SyncPacer, delay: float) -> None:
    """A `sync` that came too soon, answered once its interval is up (this socket's task)."""
    await anyio.sleep(delay)
    syncs.answered(anyio.current_time())
    connection.needs_state = True


async def _farewell(websocket: WebSocket, reason: ConnectionRefused) -> None:
    """The error frame (unless the close is normal) and the close code, within a short time."""
    if reason.close_code != NORMAL_CLOSURE:
        websocket.app.state.metrics.error(reason.code)
    with anyio.move_on_after(FAREWELL_SECONDS):
        try:
            if reason.close_code != NORMAL_CLOSURE:
                await websocket.send_text(error_frame(reason.code, reason.message))
            await websocket.close(reason.close_code or NORMAL_CLOSURE)
        except WebSocketDisconnect:
            pass  # the client is gone already; nothing left to tell it
