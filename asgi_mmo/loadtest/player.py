"""One simulated player: joins, plays, respawns, chats now and then, and counts.

What it sends and how it reads its own death is its game's `Driver`
(`drivers.py`). It does not apply the game's deltas (that would cost more than
the server's own work per message): it reads `tick` and `ack` from the start
of each tick frame, where the server always puts them
(`{"type":"tick","tick":N,"ack":M,`), looks for its own id only inside the
list the driver names (`"died":[...]`, and while a respawn waits, the list of
the ones that came back), and parses every other message with orjson.

In a view room (its `welcome` carries `view`) a tick has no `died` list: a
death shows as the snake's entry with `"alive":false` in a bucket's `snakes`
(or an entering bucket's snapshot), and the player's own head is always inside
its own view. So there the player looks for its own entry, `{"id":"ID",`, and
for `"alive":false` before the entry's `}`: the same two finds and one slice
as in a plain room.

A player that resumes (`--resume`, the chaos bench) keeps its seat's token:
when the server ends its socket, `on_drop` hands it to the runner, which
reconnects it with the token (`resume_url`). Every silence of more than
`STALL_SECONDS` between two ticks (a relay that stopped), and every drop and
its resume however short, is kept in `stalls`, so a bench can tell when each player played on.
"""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from asgi_mmo.loadtest.drivers import Driver, SnakeDriver
from asgi_mmo.loadtest.stats import LoadStats
from asgi_mmo.loadtest.wsclient import ClientSocket

TICK_PREFIX = b'{"type":"tick","tick":'
_TICK_AT = len(TICK_PREFIX)
_ACK_SKIP = len(',"ack":')
#: a silence between two ticks longer than this is a stall (a tick comes every 50 ms at 20 Hz)
STALL_SECONDS = 0.3


class Player:
    __slots__ = ("stats", "rng", "number", "chat_every", "driver", "died_marker", "respawned_marker",
                 "died_end", "died_needle", "socket", "player_id", "pid_bytes", "period", "last_tick", "seq",
                 "pending", "alive",
                 "respawn_seq", "respawn_waits", "offsets", "best_offset", "welcomed", "leaving", "closed",
                 "_timers", "_loop", "url", "token", "deaths", "last_seen", "stalls", "last_error", "on_drop",
                 "_waiter", "interrupted")

    def __init__(self, stats: LoadStats, number: int, rng: random.Random, chat_every: float,
                 driver: Driver | None = None) -> None:
        self.stats = stats
        self.rng = rng
        #: how it plays (snake's turns unless told)
        self.driver = driver = driver if driver is not None else SnakeDriver(rng)
        self.died_marker = driver.died_marker
        #: the end of the span after `died_marker` and what in it tells the player's own death
        self.died_end = b"]"
        self.died_needle = b""  # the player's quoted id, once welcomed
        self.respawned_marker = driver.respawned_marker
        self.number = number
        self.chat_every = chat_every
        self.socket: ClientSocket | None = None  # set once open
        self.player_id = ""
        self.pid_bytes = b""
        self.period = 0.05
        self.last_tick = 0
        self.seq = 0
        self.pending: deque[tuple[int, float]] = deque()  # (seq, sent at) not acked yet
        self.alive = False
        self.respawn_seq = 0  # seq of the respawn input waiting for its ack
        self.respawn_waits = False  # acked, but the game has not brought the player back yet
        self.offsets = array("d")  # arrival - tick * period, in the window
        self.best_offset = float("inf")  # the smallest offset so far (live lateness)
        self.welcomed = False
        self.leaving = False
        self.closed = False
        self._timers: list[asyncio.TimerHandle] = []
        self._loop = asyncio.get_running_loop()
        self.url = ""  # the socket's address (set by the runner)
        self.token = ""  # the seat's token, from the first welcome
        self.deaths = 0
        self.last_seen = 0.0  # when the last tick, state or welcome came (monotonic)
        self.stalls: list[tuple[float, float]] = []  # (last tick before, first tick after) each silence
        self.last_error = ""  # the code of the last `error` frame
        #: called when the server ends a welcomed socket (not after `leave`): the runner resumes it
        self.on_drop: Callable[[Player], None] | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self.interrupted = False  # dropped since the last tick: the next one ends a stall, however short

    # ---- from the socket ----------------------------------------------------------

    def on_message(self, data: bytes, now: float) -> None:
        stats = self.stats
        stats.messages += 1
        if data.startswith(TICK_PREFIX):
            comma = data.find(b",", _TICK_AT)
            tick = int(data[_TICK_AT:comma])
            start = comma + _ACK_SKIP
            end = data.find(b",", start)
            ack = int(data[start:end] if end > 0 else data[start:-1])
            if tick != self.last_tick + 1:
                self._gap(tick)
            self._arrived(tick, now)
            if self.pending and ack >= self.pending[0][0]:
                self._acked(ack, now)
            if self.alive:
                died = data.find(self.died_marker)
                if died > 0 and self.died_needle in data[died:data.find(self.died_end, died)]:
                    self.alive = False
                    stats.deaths += 1
                    self.deaths += 1
            elif self.respawn_waits:
                back = data.find(self.respawned_marker)
                if back > 0 and self.pid_bytes in data[back:data.find(b"]", back)]:
                    self._respawned()
            return
        message = orjson.loads(data)
        kind = message.get("type")
        if kind == "welcome":
            self._welcome(message, now)
        elif kind == "state":
            stats.state_resyncs += 1
            tick = message["tick"]
            if tick > self.last_tick + 1:
                stats.ticks_missed += tick - self.last_tick - 1
            self.last_tick = tick
            self._arrived(tick, now)
            self._alive_in(message["state"])
            ack = message.get("ack", 0)
            if self.pending and ack >= self.pending[0][0]:
                self._acked(ack, now)
        elif kind == "chat":
            stats.chats_in += 1
        elif kind == "error":
            self.last_error = str(message.get("code"))
            stats.errors[self.last_error] += 1

    def on_close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        for timer in self._timers:
            timer.cancel()
        self._settle(False)
        if not self.welcomed:
            return  # the runner counts it as a failed connection (or a resume that did not get through)
        self.welcomed = False
        self.stats.connected -= 1
        if not self.leaving:
            self.stats.drops[str(code)] += 1
            self.interrupted = True
            if self.on_drop is not None:
                self.on_drop(self)

    # ---- resuming -----------------------------------------------------------------------

    @property
    def resume_url(self) -> str:
        """The socket's address with the seat's token: the same seat again."""
        return f"{self.url}&token={self.token}"

    def expect_welcome(self) -> asyncio.Future[bool]:
        """Before a new socket: ready for it; the future is True at its welcome, False if it closes first."""
        self.closed = False
        self.last_error = ""
        self.pending.clear()  # inputs of the old socket are acked by nobody now
        self.respawn_seq, self.respawn_waits = 0, False
        self._waiter = self._loop.create_future()
        return self._waiter

    def _settle(self, welcomed: bool) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(welcomed)

    # ---- bookkeeping ----------------------------------------------------------------

    def _welcome(self, message: dict[str, Any], now: float) -> None:
        self.welcomed = True
        if self.player_id and message["player"] != self.player_id:
            self.stats.seats_lost += 1  # a resume that got another seat
        self.token = message.get("token", self.token)
        self.player_id = message["player"]
        if not self.last_seen:
            self.last_seen = now
        self.pid_bytes = self.died_needle = f'"{self.player_id}"'.encode()
        if "view" in message and self.died_marker:
            # a view room: the player's own entry, not a `died` list (see the module docstring)
            self.died_marker = f'{{"id":"{self.player_id}",'.encode()
            self.died_end, self.died_needle = b"}", b'"alive":false'
        self.period = 1.0 / message["tick_rate"]
        self.last_tick = message["tick"]
        self._alive_in(message["state"])
        stats = self.stats
        stats.connected += 1
        stats.peak_connected = max(stats.peak_connected, stats.connected)
        self._later(self.rng.uniform(*self.driver.input_every), self._act)
        if self.chat_every > 0:
            self._later(self.rng.uniform(0.5, 1.5) * self.chat_every, self._chat)
        self._settle(True)

    def _alive_in(self, state: dict[str, Any]) -> None:
        """A whole picture (`welcome`, `state`) says whether the player lives (perhaps respawned)."""
        was_alive, self.alive = self.alive, self.driver.alive_in(state, self.player_id)
        if was_alive and not self.alive:
            self.deaths += 1  # died in ticks this player missed
        if self.alive and not was_alive and (self.respawn_waits or self.respawn_seq):
            self.stats.respawned += 1
        if self.alive:
            self.respawn_waits = False

    def _respawned(self) -> None:
        self.alive = True
        self.respawn_waits = False
        self.stats.respawned += 1
        self.driver.respawned()

    def _gap(self, tick: int) -> None:
        """A tick that does not follow the last one with no `state` before it: resynchronise."""
        stats = self.stats
        stats.gaps += 1
        if tick > self.last_tick:
            stats.ticks_missed += tick - self.last_tick - 1
        self._send('{"type":"sync"}')
        stats.syncs_sent += 1

    def _arrived(self, tick: int, now: float) -> None:
        self.last_tick = tick
        if self.last_seen and (self.interrupted or now - self.last_seen > STALL_SECONDS):
            self.stalls.append((self.last_seen, now))
            self.interrupted = False
        self.last_seen = now
        offset = now - tick * self.period
        stats = self.stats
        if offset < self.best_offset:
            self.best_offset = offset
        stats.live_ticks += 1
        stats.live_lateness.append(offset - self.best_offset)
        if stats.window:
            stats.ticks += 1
            self.offsets.append(offset)

    def _acked(self, ack: int, now: float) -> None:
        stats = self.stats
        pending = self.pending
        while pending and pending[0][0] <= ack:
            seq, sent_at = pending.popleft()
            stats.inputs_acked += 1
            if stats.window:
                stats.ack_latency.append(now - sent_at)
            if seq == self.respawn_seq:
                self.respawn_seq = 0
                if self.alive:  # a `state` showed the player back already
                    continue
                if self.respawned_marker:
                    self.respawn_waits = True
                else:
                    self._respawned()

    # ---- actions --------------------------------------------------------------------

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        if not self.closed:
            self._timers = [t for t in self._timers if not t.cancelled()][-3:]
            self._timers.append(self._loop.call_later(delay, action))

    def _send(self, text: str) -> None:
        if self.socket is not None and not self.closed:
            self.socket.send_text(text)

    def _input(self, data: str) -> int:
        self.seq += 1
        self._send(f'{{"type":"input","seq":{self.seq},"data":{data}}}')
        self.pending.append((self.seq, time.monotonic()))
        self.stats.inputs_sent += 1
        return self.seq

    def _act(self) -> None:
        """The driver's next input while alive, one respawn while dead; then the next one later."""
        if self.closed or self.leaving:
            return
        driver = self.driver
        if self.alive:
            self._input(driver.next_input(self.last_tick))
        elif not self.respawn_seq and not self.respawn_waits:
            self.respawn_seq = self._input(driver.respawn_input)
            self.stats.respawns += 1
        self._later(self.rng.uniform(*driver.input_every), self._act)

    def _chat(self) -> None:
        if self.closed or self.leaving:
            return
        self._send(orjson.dumps({"type": "chat", "text": f"hello from load player {self.number}"}).decode())
        self.stats.chats_sent += 1
        self._later(self.rng.uniform(0.5, 1.5) * self.chat_every, self._chat)

    def leave(self) -> None:
        """Say `leave` (the server frees the seat and closes with 1000)."""
        self.leaving = True
        for timer in self._timers:
            timer.cancel()
        self._send('{"type":"leave"}')
