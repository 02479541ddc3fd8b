"""`Player`: one seat in a room, its picture, its inputs, and its connection's life.

`run()` is the player's only task (`connect` owns it in a task group): it reads frames,
applies each to the picture as it arrives, queues updates for `async for`, and when the
connection drops in a way that keeps the seat it resumes with the token, backing off.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from asgi_mmo.client.errors import (
    ClientError,
    ConnectionLost,
    HandshakeFailed,
    PlayerClosed,
    closing_error,
    is_resumable,
)
from asgi_mmo.client.pictures import ClientGame, DeltaApplier, Picture, client_game, picture_of
from asgi_mmo.client.session import JoinRequest, join
from asgi_mmo.client.updates import Chat, Died, Error, Respawned, Resumed, Snapshot, Tick, Update
from asgi_mmo.protocol import ABNORMAL_CLOSURE, CLOSE_CODES

#: inputs kept for a resend after a resume (the oldest go first); well under the rate limit's burst
PENDING_INPUTS = 32


@dataclass(frozen=True, slots=True)
class Resume:
    """How a dropped connection is resumed: `attempts` tries in a row, delays from `base`
    doubling to `cap` seconds, each 50 to 100 % of that (as the browser's client does)."""

    enabled: bool = True
    attempts: int = 8
    base: float = 0.25
    cap: float = 4.0

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _text(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def _copy(snapshot: Snapshot) -> Snapshot:
    copied: Snapshot = orjson.loads(orjson.dumps(snapshot))
    return copied


class Player:
    """A joined player. Made by `connect`; see docs/python-client.md for the whole surface."""

    def __init__(self, url: str, request: JoinRequest, websocket: ClientConnection, welcome: dict[str, Any], *,
                 resume: Resume, timeout: float, max_updates: int, seq: int,
                 apply_delta: DeltaApplier | None) -> None:
        self.url = url
        self.name = request.name
        self._request = request
        self._resume = resume
        self._timeout = timeout
        self._apply_delta = apply_delta
        self._updates: deque[Update] = deque(maxlen=max_updates)
        self._more = asyncio.Event()
        #: updates the iterator never saw because `max_updates` were waiting already
        self.updates_dropped = 0
        #: the last input `seq` sent (the next is one more)
        self.seq = seq
        self._pending: dict[int, Any] = {}  # seq -> data, sent and not acknowledged
        self._ack_waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._tick_waiters: list[tuple[int, asyncio.Future[Tick]]] = []
        self._sync_waiters: list[asyncio.Future[Tick]] = []
        self._pongs: dict[float, asyncio.Future[float]] = {}
        #: the last measured round trip, in seconds (None before the first `ping`)
        self.latency: float | None = None
        #: times the seat was resumed after a dropped connection
        self.resumes = 0
        self._last_error: tuple[str, str] | None = None
        self._stale = False  # a tick was missing: ticks are ignored until the `state` asked for
        self._closing = False
        self._stop = asyncio.Event()  # set by `close`: a resume's wait ends at once
        self._done = False
        #: why the player ended (None while it plays, and after a `leave` or `close`)
        self.error: ClientError | None = None
        self._error_raised = False
        self._websocket = websocket
        self._welcomed(welcome)

    # ---- what a program reads ------------------------------------------------------

    @property
    def state(self) -> Snapshot:
        """The picture: the game's SNAPSHOT at `tick` (in a view room, the view's). Do not change it."""
        return self._picture.snapshot()

    @property
    def snapshot(self) -> Snapshot:
        """The same as `state`."""
        return self._picture.snapshot()

    @property
    def view(self) -> dict[str, int] | None:
        """In a view room, the rectangle the picture covers (`x`, `y`, `width`, `height`, `bucket`)."""
        return self._picture.view

    @property
    def me(self) -> dict[str, Any] | None:
        """This player's entity in the picture (its snake or ship), if there is one."""
        entities = self._game.entities
        if entities is None:
            return None
        return next((e for e in self.state.get(entities, ()) if e.get("id") == self.id), None)

    @property
    def alive(self) -> bool:
        me = self.me
        return bool(me and me.get("alive"))

    @property
    def connected(self) -> bool:
        """The socket is open now (False while resuming, and at the end)."""
        return self._connected

    @property
    def pending_inputs(self) -> int:
        """Inputs sent and not yet acknowledged."""
        return len(self._pending)

    # ---- what a program does -------------------------------------------------------

    async def send(self, data: Any) -> int:
        """Send an input (the game's `data`, for snake `{"dir": "up"}`); returns its `seq`.

        While the player resumes the input waits and goes out after the `welcome`, unless
        that welcome's `ack` says it landed already.
        """
        self._check_open()
        seq = self.seq + 1
        text = _text({"type": "input", "seq": seq, "data": data})  # TypeError for data JSON cannot hold
        self.seq = seq
        self._pending[seq] = data
        while len(self._pending) > PENDING_INPUTS:
            del self._pending[next(iter(self._pending))]
        await self._send_text(text)
        return seq

    async def wait_ack(self, seq: int | None = None, timeout: float | None = None) -> int:
        """Wait until the room has processed input `seq` (default: the last sent); returns the ack."""
        seq = self.seq if seq is None else seq
        if self.ack >= seq:
            return self.ack
        self._check_open()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._ack_waiters.append((seq, future))
        async with asyncio.timeout(timeout):
            return await future

    async def wait_tick(self, tick: int, timeout: float | None = None) -> Tick:
        """The picture (a copy) once it reaches `tick`, at once if it has; a later one if a
        `state` (or a resume) skipped past it."""
        if tick <= self.tick:
            return dataclasses.replace(self._last, state=_copy(self._last.state))
        self._check_open()
        future: asyncio.Future[Tick] = asyncio.get_running_loop().create_future()
        self._tick_waiters.append((tick, future))
        self._tick_waiters.sort(key=lambda waiter: waiter[0])
        async with asyncio.timeout(timeout):
            return await future

    async def sync(self, timeout: float | None = None) -> Tick:
        """Ask for a `state` and return it (its `state` a copy) once it came at the next tick."""
        self._check_open()
        future: asyncio.Future[Tick] = asyncio.get_running_loop().create_future()
        self._sync_waiters.append(future)
        await self._send({"type": "sync"})
        async with asyncio.timeout(timeout):
            return await future

    async def ping(self, timeout: float | None = None) -> float:
        """Measure a round trip, in seconds (also kept as `latency`; the admin API shows the last one)."""
        self._check_open()
        t = round(time.monotonic() * 1000.0, 3)
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pongs[t] = future
        rtt = None if self.latency is None else round(self.latency * 1000.0, 3)
        try:
            await self._send({"type": "ping", "t": t, "rtt": rtt})
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._pongs.pop(t, None)

    async def chat(self, text: str) -> None:
        """Say a line (1 to 200 characters) to everyone in the room."""
        self._check_open()
        await self._send({"type": "chat", "text": text})

    async def set_view(self, width: int, height: int) -> None:
        """A new view size in a view room (clamped by the server, in effect at the next tick);
        a resume asks for it again."""
        self._check_open()
        self._request = dataclasses.replace(self._request, view=(width, height))
        await self._send({"type": "view", "width": width, "height": height})

    async def leave(self) -> None:
        """Leave for good: the seat is freed and the server closes (1000); no resume."""
        if self._done:
            return
        self._closing = True
        await self._send({"type": "leave"})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout):
                await self._websocket.wait_closed()
        await self._websocket.close()

    async def close(self) -> None:
        """Close the socket without leaving (the seat is kept for a while); no resume."""
        self._closing = True
        self._stop.set()
        await self._websocket.close()

    def __aiter__(self) -> Player:
        return self

    async def __anext__(self) -> Update:
        """The next update; at the end, the error that ended the player (once), then the end."""
        while not self._updates:
            if self._done:
                if self.error is not None and not self._error_raised:
                    self._error_raised = True
                    raise self.error
                raise StopAsyncIteration
            self._more.clear()
            await self._more.wait()
        return self._updates.popleft()

    # ---- the task ------------------------------------------------------------------

    async def run(self) -> None:
        """Read frames until the end; resume after drops that keep the seat. Never raises."""
        try:
            while True:
                error = await self._read(self._websocket)
                self._connected = False
                if self._closing or error is None:
                    self._finish(None)
                    return
                if not (self._resume.enabled and is_resumable(error)):
                    self._finish(error)
                    return
                try:
                    await self._reconnect(error)
                except ClientError as failed:
                    self._finish(None if self._closing else failed)
                    return
        except Exception as bug:  # noqa: BLE001 - a frame this client cannot read ends it, said so
            self._finish(ConnectionLost(f"the client failed: {bug!r}"))
            await self._websocket.close()
        finally:
            self._connected = False
            if not self._done:
                self._finish(None)

    async def _read(self, websocket: ClientConnection) -> ClientError | None:
        self._last_error = None
        try:
            while True:
                try:
                    frame = orjson.loads(await websocket.recv())
                except orjson.JSONDecodeError:
                    continue  # not the protocol: ignored, as an unknown message type is
                if isinstance(frame, dict):
                    await self._frame(frame)
        except ConnectionClosed as closed:
            received = closed.rcvd
            return closing_error(received.code if received else ABNORMAL_CLOSURE,
                                 received.reason if received else "", self._last_error)

    async def _reconnect(self, cause: ClientError) -> None:
        request = dataclasses.replace(self._request, room=self.room, token=self.token, game=None)
        last: ClientError = cause
        for attempt in range(1, self._resume.attempts + 1):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._resume.delay(attempt)):
                    await self._stop.wait()
            if self._closing:
                raise PlayerClosed("closed while resuming")
            try:
                websocket, welcome = await join(request.url(self.url), timeout=self._timeout)
            except HandshakeFailed as refused:
                if refused.status < 500:
                    raise
                last = refused
                continue
            except ClientError as refused:
                if not is_resumable(refused):
                    raise
                last = refused
                continue
            if self._closing or welcome.get("player") != self.id:
                await websocket.close()
                if self._closing:
                    raise PlayerClosed("closed while resuming")
                raise ConnectionLost(f"resumed as {welcome.get('player')!r}, not {self.id!r}")
            self._websocket = websocket
            self.resumes += 1
            self._welcomed(welcome)
            self._push(Resumed(attempt, self.tick, self.ack))
            self._push(self._last)
            self._resolve(self._last)
            for seq, data in list(self._pending.items()):
                await self._send({"type": "input", "seq": seq, "data": data})
            return
        raise ConnectionLost(f"could not resume after {self._resume.attempts} attempts: {last}",
                             getattr(last, "close_code", None))

    # ---- frames --------------------------------------------------------------------

    def _welcomed(self, welcome: dict[str, Any]) -> None:
        #: this player's id; None for a spectator
        self.id: str | None = welcome["player"]
        self.room: str = welcome["room"]
        self.game: str = welcome["game"]
        #: the seat's resume token (None for a spectator): keep it secret, it is the seat
        self.token: str | None = welcome["token"]
        self.spectator = bool(welcome.get("spectator"))
        self.tick_rate: int = welcome["tick_rate"]
        self.tick: int = welcome["tick"]
        self.welcome = welcome
        self._game: ClientGame = client_game(self.game, self._apply_delta)
        self._picture: Picture = picture_of(self._game, welcome)
        self.ack: int = 0
        self._set_ack(welcome.get("ack", 0))
        self.seq = max(self.seq, self.ack)
        self._stale = False
        self._connected = True
        self._last = Tick(self.tick, self.ack, True, self._picture.snapshot(), welcome)

    async def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "tick":
            if self._stale:
                return
            if frame["tick"] != self.tick + 1:  # never expected (docs/protocol.md "Ordering"): catch up
                self._stale = True
                await self._send({"type": "sync"})
                return
            before = self._picture.alive()
            self._picture.apply(frame)
            self._advanced(frame, before, full=False)
        elif kind == "state":
            before = self._picture.alive()
            self._picture = picture_of(self._game, frame)
            self._stale = False
            self._advanced(frame, before, full=True)
        elif kind == "chat":
            self._push(Chat(frame.get("player"), str(frame.get("name", "")), str(frame.get("text", ""))))
        elif kind == "pong":
            t = frame.get("t")
            future = self._pongs.get(t) if isinstance(t, int | float) else None
            if t is not None and future is not None and not future.done():
                self.latency = time.monotonic() - t / 1000.0
                future.set_result(self.latency)
        elif kind == "error":
            code, message = str(frame.get("code")), str(frame.get("message", ""))
            if CLOSE_CODES.get(code) is not None:
                self._last_error = (code, message)  # the close follows
            else:
                self._push(Error(code, message))

    def _advanced(self, frame: dict[str, Any], before: dict[str, tuple[bool, str]], *, full: bool) -> None:
        """The picture stands at `frame`'s tick now: ack, deaths, the update, waiters."""
        self.tick = frame["tick"]
        self._set_ack(frame.get("ack", 0))
        for sid, (alive, name) in self._picture.alive().items():
            was = before.get(sid)
            if was is not None and was[0] != alive:
                event = Respawned if alive else Died
                self._push(event(sid, name, self.tick, sid == self.id))
        self._last = tick = Tick(self.tick, self.ack, full, self._picture.snapshot(), frame)
        self._push(tick)
        self._resolve(tick)

    def _resolve(self, tick: Tick) -> None:
        """Hand copies of the picture to `wait_tick`s it reached and, for a whole one, to `sync`s."""
        while self._tick_waiters and self._tick_waiters[0][0] <= tick.tick:
            _, future = self._tick_waiters.pop(0)
            if not future.done():
                future.set_result(dataclasses.replace(tick, state=_copy(tick.state)))
        if tick.full:
            for waiting in self._sync_waiters:
                if not waiting.done():
                    waiting.set_result(dataclasses.replace(tick, state=_copy(tick.state)))
            self._sync_waiters.clear()

    def _set_ack(self, ack: int) -> None:
        if ack <= self.ack:
            return
        self.ack = ack
        for seq in [seq for seq in self._pending if seq <= ack]:
            del self._pending[seq]
        waiting = []
        for seq, future in self._ack_waiters:
            if seq <= ack:
                if not future.done():
                    future.set_result(ack)
            else:
                waiting.append((seq, future))
        self._ack_waiters = waiting

    # ---- plumbing ------------------------------------------------------------------

    def _push(self, update: Update) -> None:
        if len(self._updates) == self._updates.maxlen:
            self.updates_dropped += 1
        self._updates.append(update)
        self._more.set()

    async def _send(self, message: dict[str, Any]) -> None:
        await self._send_text(_text(message))

    async def _send_text(self, text: str) -> None:
        if not self._connected:
            return  # resuming: inputs go out after the welcome; the rest is not worth keeping
        with contextlib.suppress(ConnectionClosed):  # the reader sees the close and handles it
            await self._websocket.send(text)

    def _check_open(self) -> None:
        if self._done:
            raise self.error if self.error is not None else PlayerClosed("the player has left")
        if self._closing:
            raise PlayerClosed("the player is leaving")

    def _finish(self, error: ClientError | None) -> None:
        self._done = True
        self.error = error
        ending = error if error is not None else PlayerClosed("the player has left")
        futures: list[asyncio.Future[Any]] = [f for _, f in self._ack_waiters] + [f for _, f in self._tick_waiters]
        futures += [*self._sync_waiters, *self._pongs.values()]
        for future in futures:
            if not future.done():
                future.set_exception(ending)
        self._ack_waiters, self._tick_waiters, self._sync_waiters = [], [], []
        self._more.set()

