"""The recorder in one event loop: a disk that does not keep up stops the recording with
`queue_full` while the room ticks on undisturbed, and a file cut off mid-write reads up to
its last whole line."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import anyio
import pytest

from asgi_mmo.backends.memory import MemoryBackend
from asgi_mmo.peers import NoPeers
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.replays import Recordings, read_recording
from asgi_mmo.replays import recorder as recorder_module
from asgi_mmo.replays.format import ReplayWriter
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.settings import Settings
from tests.players import Player

pytestmark = pytest.mark.anyio


async def test_a_disk_that_does_not_keep_up_stops_the_recording_not_the_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(recordings_dir=str(tmp_path), outbox_frames=64, bot_processes=0)
    monkeypatch.setattr(recorder_module, "QUEUE_FRAMES", 4)
    disk = threading.Event()  # the disk takes nothing until the test lets it
    slow_write = ReplayWriter.write_lines

    def stuck(writer: ReplayWriter, lines: list[str]) -> int:
        disk.wait(10)
        return slow_write(writer, lines)

    monkeypatch.setattr(ReplayWriter, "write_lines", stuck)
    async with anyio.create_task_group() as tasks:
        registry = RoomRegistry(settings, NoPeers.over(MemoryBackend(), settings))
        await tasks.start(registry.run)
        recordings = Recordings(registry, settings)
        await tasks.start(recordings.run)
        room = await registry.open_room(RoomConfig(tick_rate=50, bots=2))
        player = Player(room, room.join("alice"), settings.outbox_frames)
        tasks.start_soon(player.run)
        meta = await recordings.start(room.id)
        with anyio.fail_after(10):
            while not room.tick >= 20:
                await anyio.sleep(0.02)
        disk.set()
        with anyio.fail_after(10):
            while (current := await recordings.get(meta["id"])) is None or current["state"] == "recording":
                await anyio.sleep(0.02)
        assert (current["state"], current["reason"]) == ("stopped", "queue_full")
        ticks = player.ticks()
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks))) and len(ticks) >= 20, "the room ticked on"
        assert room.spectators == 0 and room.watchers() == [], "the recorder left the room"
        lines = list(read_recording(tmp_path / f"{meta['id']}.jsonl.gz"))
        assert lines[0]["format"] == "asgi-mmo-replay" and lines[1]["type"] == "welcome"
        assert lines[-1]["type"] == "end" and lines[-1]["reason"] == "queue_full"
        tasks.cancel_scope.cancel()


def test_a_file_cut_off_mid_write_reads_up_to_its_last_whole_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    writer = ReplayWriter(path)
    writer.write_lines(['{"format":"asgi-mmo-replay","version":1}', '{"type":"welcome","tick":0}'])
    size = writer.write_lines(['{"type":"tick","tick":1,"ack":0}'])
    writer.close()
    data = path.read_bytes()
    cut = tmp_path / "cut-short.jsonl.gz"
    cut.write_bytes(data[:size])  # what a reader finds while the writer still runs: no gzip trailer
    assert [line.get("type") for line in read_recording(cut)] == [None, "welcome", "tick"]
    with pytest.raises(EOFError):
        gzip.decompress(cut.read_bytes())
    cut.write_bytes(data[: size - 3])  # and in the middle of a batch
    assert [line.get("type") for line in read_recording(cut)][:2] == [None, "welcome"]
