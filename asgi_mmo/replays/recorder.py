"""Recording rooms: each recording is a spectator that sees the whole field.

A recording joins its room as a recorder (`RoomRegistry.watch(record=True)`,
so through another process too) and gets every frame a spectator gets, by the
same `Connection` a socket has. Its "socket" hands each frame to a bounded
in-memory queue without waiting; a task of this service's task group takes
the frames off in batches and writes them in a worker thread
(`anyio.to_thread`). The room therefore never waits for the disk: when the
queue is full, the recording stops (`queue_full`) instead. Every few seconds
the recorder asks for a whole `state` in place of the next tick (a keyframe,
for seeking).

A recording stops when an admin stops it (`stopped`), at its size or time
limit (`size_limit`, `time_limit`), or when its room ends (the room's close
code: `room_closed`, `server_shutdown`, ...); the reason is in its record.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asgi_mmo.connection import Connection
from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.protocol import NORMAL_CLOSURE, encode
from asgi_mmo.replays.format import ReplayWriter, header
from asgi_mmo.replays.store import RecordingStore
from asgi_mmo.seat import PlayerRoom, Seat

if TYPE_CHECKING:
    from asgi_mmo.registry import RoomRegistry
    from asgi_mmo.settings import Settings

logger = logging.getLogger("asgi_mmo.replays")

#: frames waiting for the writer; beyond, the recording stops rather than hold the room
QUEUE_FRAMES = 512
#: lines written in one go at most
BATCH_LINES = 256
#: how often a running recording's record on disk is brought up to date
META_EVERY = 2.0
#: a record that says "recording" but was not updated for this long lost its writer
STALE_AFTER = 10.0
RECORDER_NAME = "recorder"
#: the `type` of a recording's last line (docs/replays.md): a line of the file, no frame a client gets
END_LINE = "end"
_TICK_HEADS = ('{"type":"tick","tick":', '{"type":"state","tick":')


def _stop(code: str, message: str) -> ConnectionRefused:
    return ConnectionRefused(code, message, NORMAL_CLOSURE)


STOPPED = _stop("stopped", "an admin stopped the recording")
SIZE_LIMIT = _stop("size_limit", "the recording reached its size limit")
TIME_LIMIT = _stop("time_limit", "the recording reached its time limit")
QUEUE_FULL = _stop("queue_full", "the disk did not keep up with the room")


class RecordingRefused(Exception):
    """A recording cannot start: `status` is the HTTP answer (404, 409, 503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class _Active:
    meta: dict[str, Any]
    connection: Connection
    done: anyio.Event = field(default_factory=anyio.Event)


class Recordings:
    """This process's recordings (started by the app's lifespan: `await tasks.start(recordings.run)`)."""

    def __init__(self, registry: RoomRegistry, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        self.store = RecordingStore(Path(settings.recordings_dir))
        self._active: dict[str, _Active] = {}
        self._tasks: TaskGroup | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Own every recording's task until cancelled (at shutdown each one ends its file)."""
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                task_status.started()
                await anyio.sleep_forever()
        finally:
            self._tasks = None

    # ---- the admin API's calls ----------------------------------------------------------

    def recording_of(self, room_id: str) -> dict[str, Any] | None:
        """The record of the room's recording that runs in this process, if one does."""
        for active in self._active.values():
            if active.meta["room"] == room_id:
                return dict(active.meta)
        return None

    async def start(self, room_id: str) -> dict[str, Any]:
        """Start recording a room of any process; its record. `RecordingRefused` when it cannot."""
        if self._tasks is None:
            raise RecordingRefused(503, "recordings are not running")
        if self.recording_of(room_id) is not None:
            raise RecordingRefused(409, f"room {room_id[:32]!r} is being recorded already")
        if len(self._active) >= self.settings.max_recordings:
            raise RecordingRefused(503, f"this server writes {self.settings.max_recordings} recordings already")
        try:
            room, seat = await self.registry.watch(name=RECORDER_NAME, room_id=room_id, record=True)
        except ConnectionRefused as refused:
            status = 404 if refused.code == "room_not_found" else 503
            raise RecordingRefused(status, refused.message) from None
        recording_id = self.store.new_id()
        send, receive = anyio.create_memory_object_stream[str](QUEUE_FRAMES)
        keyframe_ticks = 1
        since_keyframe = 0

        async def take(frame: str) -> None:
            """The recorder's socket: queue the frame, never wait (a full queue ends the recording)."""
            nonlocal since_keyframe
            try:
                send.send_nowait(frame)
            except anyio.WouldBlock:
                connection.close_nowait(QUEUE_FULL)
                return
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            if frame.startswith('{"type":"state"'):
                since_keyframe = 0
            elif frame.startswith('{"type":"tick"'):
                since_keyframe += 1
                if since_keyframe >= keyframe_ticks:
                    connection.needs_state = True  # the next tick comes as a whole state

        connection = Connection(take, self.settings.outbox_frames)
        welcome = room.connect(seat, connection)
        parsed = orjson.loads(welcome)
        keyframe_ticks = max(1, math.ceil(self.settings.recording_keyframe_seconds * (parsed.get("tick_rate") or 1)))
        started = time.time()
        meta: dict[str, Any] = {
            **header(recording_id, room.id, parsed, started),
            "state": "recording", "reason": None, "message": None, "stopped": None, "updated": started,
            "bytes": 0, "frames": 0, "first_tick": parsed.get("tick"), "last_tick": parsed.get("tick"),
            "worker": self.registry.worker,
        }  # fmt: skip
        active = self._active[recording_id] = _Active(meta, connection)
        self._tasks.start_soon(self._record, active, room, seat, (send, receive), welcome,
                               name=f"recording {recording_id}")  # fmt: skip
        logger.info("recording started recording=%s room=%s", recording_id, room.id)
        return dict(meta)

    async def stop(self, recording_id: str) -> dict[str, Any] | None:
        """Stop a recording of this process and wait for its file to end; its record (None: not here)."""
        active = self._active.get(recording_id)
        if active is None:
            return None
        active.connection.close_nowait(STOPPED)
        with anyio.move_on_after(10.0):
            await active.done.wait()
        return dict(active.meta)

    async def stop_anywhere(self, recording_id: str) -> dict[str, Any] | None:
        """Stop a recording, also one another process on this machine writes (it is asked through
        the directory and stops within a few seconds); its record (None: no running one)."""
        if recording_id in self._active:
            return await self.stop(recording_id)
        meta = await self.get(recording_id)
        if meta is None or meta["state"] != "recording":
            return None
        await anyio.to_thread.run_sync(self.store.request_stop, recording_id)
        with anyio.move_on_after(META_EVERY * 4):
            while meta is not None and meta["state"] == "recording":
                await anyio.sleep(0.2)
                meta = await self.get(recording_id)
        return meta

    async def stop_room(self, room_id: str) -> dict[str, Any] | None:
        """Stop the room's running recording (None: none runs)."""
        for meta in await self.listing():
            if meta["room"] == room_id and meta["state"] == "recording":
                return await self.stop_anywhere(meta["id"])
        return None

    async def listing(self) -> list[dict[str, Any]]:
        """Every recording in the directory (and this process's), newest first, with its state now."""
        stored = {meta["id"]: self._now(meta) for meta in await anyio.to_thread.run_sync(self.store.list)}
        stored.update((recording_id, dict(active.meta)) for recording_id, active in self._active.items())
        return sorted(stored.values(), key=lambda meta: str(meta["id"]), reverse=True)

    async def get(self, recording_id: str) -> dict[str, Any] | None:
        active = self._active.get(recording_id)
        if active is not None:
            return dict(active.meta)
        meta = await anyio.to_thread.run_sync(self.store.read_meta, recording_id)
        return None if meta is None else self._now(meta)

    async def delete(self, recording_id: str) -> bool:
        if recording_id in self._active:
            await self.stop(recording_id)
        return await anyio.to_thread.run_sync(self.store.delete, recording_id)

    def _now(self, meta: dict[str, Any]) -> dict[str, Any]:
        active = self._active.get(meta["id"])
        if active is not None:
            return dict(active.meta)
        if meta["state"] == "recording" and time.time() - meta["updated"] > STALE_AFTER:
            meta = {**meta, "state": "interrupted", "reason": "interrupted",
                    "message": "the process writing it ended before it could stop it"}  # fmt: skip
        return meta

    # ---- the writer ---------------------------------------------------------------------

    async def _record(
        self, active: _Active, room: PlayerRoom, seat: Seat,
        queue: tuple[MemoryObjectSendStream[str], MemoryObjectReceiveStream[str]], welcome: str,
    ) -> None:  # fmt: skip
        meta, connection = active.meta, active.connection
        send, receive = queue
        writer: ReplayWriter | None = None
        try:
            await anyio.to_thread.run_sync(self.store.prepare)
            writer = await anyio.to_thread.run_sync(ReplayWriter, self.store.data_path(meta["id"]))
            head = encode({key: meta[key] for key in ("format", "version", "id", "room", "game", "tick_rate",
                                                       "width", "height", "view", "started")})  # fmt: skip
            await self._write(writer, [head, welcome], meta)
            with anyio.move_on_after(self.settings.recording_max_seconds) as timer:
                async with anyio.create_task_group() as tasks:
                    connection.attach(tasks)  # the room's close or a stop cancels this group
                    await self._write_frames(writer, receive, meta, connection)
            if timer.cancelled_caught:
                connection.close_nowait(TIME_LIMIT)
        except Exception as error:
            logger.exception("recording failed recording=%s", meta["id"])
            connection.close_nowait(_stop("failed", f"the recording could not be written: {error}"))
        finally:
            with anyio.CancelScope(shield=True):
                room.disconnect(seat, connection, leave=True)
                connection.close_outbox()
                send.close()
                rest = []
                while True:
                    try:
                        rest.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                        break
                receive.close()
                reason = connection.close_reason or STOPPED
                meta.update(state="stopped", reason=reason.code, message=reason.message, stopped=time.time())
                try:
                    if writer is not None:
                        end = encode({"type": END_LINE, "reason": reason.code, "tick": meta["last_tick"]})
                        await self._write(writer, [*rest, end], meta)
                        meta["bytes"] = await anyio.to_thread.run_sync(writer.close)
                    await anyio.to_thread.run_sync(self.store.write_meta, meta)
                except OSError:
                    logger.exception("recording not closed cleanly recording=%s", meta["id"])
                self._active.pop(meta["id"], None)
                active.done.set()
                logger.info("recording stopped recording=%s room=%s reason=%s bytes=%d",
                            meta["id"], meta["room"], reason.code, meta["bytes"])  # fmt: skip

    async def _write_frames(
        self, writer: ReplayWriter, receive: MemoryObjectReceiveStream[str], meta: dict[str, Any],
        connection: Connection,
    ) -> None:  # fmt: skip
        next_meta = 0.0
        while True:
            batch = []
            with anyio.move_on_after(META_EVERY):  # (a quiet room still has its record kept up to date)
                try:
                    batch.append(await receive.receive())
                except anyio.EndOfStream:
                    return
            while batch and len(batch) < BATCH_LINES:
                try:
                    batch.append(receive.receive_nowait())
                except anyio.WouldBlock:
                    break
            if batch:
                await self._write(writer, batch, meta)
                if meta["bytes"] >= self.settings.recording_max_bytes:
                    connection.close_nowait(SIZE_LIMIT)
                    return
            if anyio.current_time() >= next_meta:
                next_meta = anyio.current_time() + META_EVERY
                meta["updated"] = time.time()
                await anyio.to_thread.run_sync(self.store.write_meta, dict(meta))
                if await anyio.to_thread.run_sync(self.store.stop_requested, meta["id"]):
                    connection.close_nowait(STOPPED)  # asked by another process's admin API
                    return

    @staticmethod
    async def _write(writer: ReplayWriter, lines: list[str], meta: dict[str, Any]) -> None:
        meta["bytes"] = await anyio.to_thread.run_sync(writer.write_lines, lines)
        meta["frames"] += len(lines)
        for line in reversed(lines):
            for head in _TICK_HEADS:  # the frames' own text (protocol.TickFrame): no parse needed
                if line.startswith(head):
                    meta["last_tick"] = int(line[len(head) : line.index(",", len(head))])
                    return
