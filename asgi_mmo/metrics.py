"""Prometheus metrics for `GET /metrics`, kept off the rooms' hot path.

Rooms already count everything in their `RoomStats` (ticks, overruns, tick
durations, messages and bytes in and out). `Metrics.sample()` turns those
counts into Prometheus counters by adding what changed since the last sample,
once a second (the `run` task) and right before every scrape. So a tick or a
message costs the rooms nothing extra; only errors sent to clients are
counted as they happen (`Metrics.error`), since they are rare.

Two modes, picked once when the app is created:

* one process (uvicorn, `asgi-mmo serve`): a `CollectorRegistry` of this app,
  with the process collector (CPU, memory, open files);
* several processes (gunicorn): when `PROMETHEUS_MULTIPROC_DIR` is set,
  prometheus-client's multiprocess mode. Every worker writes its values to
  files in that directory and a scrape, answered by any one worker, adds up
  the files of all workers: counters and histograms are summed (also those of
  workers that have exited), gauges are `livesum` (the sum over the workers
  still alive; gunicorn's `child_exit` hook removes a dead worker's gauges).
  The variable must be set before the worker imports prometheus-client;
  `gunicorn.conf.py` does that in the master.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from typing import Protocol

import anyio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
    values,
)

from asgi_mmo.protocol import CLOSE_CODES
from asgi_mmo.stats import RoomStats

#: seconds between two samples of the rooms' counters
SAMPLE_SECONDS = 1.0
#: tick durations, in seconds: a 60 Hz tick has 16.7 ms, a 10 Hz tick 100 ms
TICK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: RoomStats counter -> metric attribute of `Metrics`
COUNTED = (
    ("ticks", "ticks"),
    ("overruns", "overruns"),
    ("slots_skipped", "slots_skipped"),
    ("msgs_in", "messages_in"),
    ("bytes_in", "bytes_in"),
    ("msgs_out", "messages_out"),
    ("bytes_out", "bytes_out"),
    ("ticks_dropped", "ticks_dropped"),
)


class _Room(Protocol):
    """What a sample reads of a room (a `Room`, or a `RoomMirror` relaying players of one)."""

    @property
    def players(self) -> int: ...

    @property
    def stats(self) -> RoomStats: ...


class _Registry(Protocol):
    """What a sample reads of the registry."""

    @property
    def rooms_created(self) -> int: ...

    @property
    def rooms_crashed(self) -> int: ...

    def rooms(self) -> Iterable[_Room]: ...

    def relayed(self) -> Iterable[_Room]: ...


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess mode, or None (one process)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
    if directory and not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError(
            "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported in this process; "
            "set it before the process starts (gunicorn.conf.py sets it in the master)"
        )
    return directory


class Metrics:
    """The metrics of one app; `exposition()` is the body of `GET /metrics`."""

    def __init__(self, directory: str | None = None) -> None:
        #: set: multiprocess mode, values live in files there (see the module docstring)
        self.directory = directory
        # In multiprocess mode the metrics belong to no registry: scrapes read the files.
        registry = None if directory else CollectorRegistry()
        if registry is not None:
            ProcessCollector(registry=registry)
        self._registry = registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"asgi_mmo_{name}", doc, labels, registry=registry)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(f"asgi_mmo_{name}", doc, registry=registry, multiprocess_mode="livesum")

        self.players = gauge("players", "Connected human players")
        self.rooms = gauge("rooms", "Rooms running")
        self.ticks = counter("ticks", "Room ticks run")
        self.tick_duration = Histogram(
            "asgi_mmo_tick_duration_seconds", "Time one room tick took", buckets=TICK_BUCKETS, registry=registry
        )
        self.overruns = counter("tick_overruns", "Room ticks that ran past their slot")
        self.slots_skipped = counter("tick_slots_skipped", "Tick slots rooms skipped after an overrun")
        self.messages_in = counter("messages_in", "Messages received from clients")
        self.bytes_in = counter("bytes_in", "Bytes received from clients")
        self.messages_out = counter("messages_out", "Messages sent to clients")
        self.bytes_out = counter("bytes_out", "Bytes sent to clients")
        self.ticks_dropped = counter("ticks_dropped", "Tick frames slow clients missed (they got a state instead)")
        self.slow_clients = counter("slow_clients_dropped", "Clients closed with too_slow")
        self.errors = counter("errors", "Errors the server sent to clients (error frames), by code", ("code",))
        self.rooms_created = counter("rooms_created", "Rooms created")
        self.rooms_crashed = counter("rooms_crashed", "Rooms that failed and were closed")
        for code in CLOSE_CODES:
            self.errors.labels(code)  # every known code is listed, at 0 until it happens
        self._exported: dict[_Room, dict[str, int]] = {}  # room -> its counts already added
        self._created = self._crashed = 0

    # ---- counting --------------------------------------------------------------------

    def error(self, code: str) -> None:
        """An error frame with `code` goes to a client."""
        self.errors.labels(code).inc()
        if code == "too_slow":
            self.slow_clients.inc()

    def sample(self, registry: _Registry) -> None:
        """Add what the rooms counted since the last sample; set the gauges."""
        rooms = list(registry.rooms())
        # Rooms run in other processes count their ticks there, but the traffic of the
        # players connected here is this process's.
        relayed = list(registry.relayed())
        live = set(rooms) | set(relayed)
        for room in live:
            self._export(room)
        for room in [room for room in self._exported if room not in live]:
            self._export(room)  # gone since the last sample: its last counts, then forget it
            del self._exported[room]
        self.players.set(sum(room.players for room in rooms))
        self.rooms.set(len(rooms))
        self.rooms_created.inc(registry.rooms_created - self._created)
        self.rooms_crashed.inc(registry.rooms_crashed - self._crashed)
        self._created, self._crashed = registry.rooms_created, registry.rooms_crashed

    def _export(self, room: _Room) -> None:
        stats = room.stats
        done = self._exported.get(room)
        if done is None:
            done = self._exported[room] = dict.fromkeys((field for field, _ in COUNTED), 0)
        new_ticks = stats.ticks - done["ticks"]
        if new_ticks > 0:
            # The newest durations; a room keeps its last WINDOW of them, far more than a sample spans.
            observe = self.tick_duration.observe
            for duration in itertools.islice(reversed(stats.durations), new_ticks):
                observe(duration)
        for field, metric in COUNTED:
            value = getattr(stats, field)
            if value > done[field]:
                getattr(self, metric).inc(value - done[field])
                done[field] = value

    async def run(
        self, registry: _Registry, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Sample the rooms every `SAMPLE_SECONDS` until cancelled (the app's lifespan runs this)."""
        task_status.started()
        while True:
            self.sample(registry)
            await anyio.sleep(SAMPLE_SECONDS)

    # ---- exposition ------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        if self._registry is not None:
            return generate_latest(self._registry), CONTENT_TYPE_LATEST
        return collect_directory(self.directory or ""), CONTENT_TYPE_LATEST


def collect_directory(directory: str) -> bytes:
    """Every process's metrics in a multiprocess directory, added up as one exposition."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


def mark_process_dead(pid: int, directory: str | None = None) -> None:
    """Drop an exited worker's live gauges (gunicorn's `child_exit` hook)."""
    directory = directory or multiprocess_dir()
    if directory:
        multiprocess.mark_process_dead(pid, directory)
