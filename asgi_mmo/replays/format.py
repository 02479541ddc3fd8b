"""The recording format, version 1: gzip-compressed JSON lines (docs/replays.md).

Line 1 is the header (`header`), line 2 the `welcome` the recorder got (a
spectator's: the whole field at the first tick), then every frame as a
spectator that sees the whole field gets it, verbatim: `tick`, `state` (a
keyframe every few seconds, and after any gap) and `chat`; the last line,
once the recording stopped, is the `end` line (`type` "end", with `reason` and `tick`).

The writer flushes the compressor after every batch of lines, so a file that
is still being written (or whose writer died) reads up to its last batch;
`read_recording` stops quietly at such a cut-off end.

`ReplayWriter` blocks (file I/O): the recorder runs it in a worker thread.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

FORMAT = "asgi-mmo-replay"
VERSION = 1


def header(recording_id: str, room: str, welcome: dict[str, Any], started: float) -> dict[str, Any]:
    """Line 1: what the recording is of (the rest of a room's settings come from its welcome)."""
    state = welcome.get("state") or {}
    return {
        "format": FORMAT,
        "version": VERSION,
        "id": recording_id,
        "room": room,
        "game": welcome.get("game"),
        "tick_rate": welcome.get("tick_rate"),
        "width": state.get("width"),
        "height": state.get("height"),
        "view": "view" in welcome,
        "started": started,
    }


class ReplayWriter:
    """Appends lines to a new recording file; `write_lines` answers the bytes on disk so far."""

    def __init__(self, path: Path) -> None:
        self._raw = open(path, "xb")  # noqa: SIM115 - closed by `close`
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6)

    def write_lines(self, lines: list[str]) -> int:
        self._gzip.write("".join(f"{line}\n" for line in lines).encode())
        self._gzip.flush()  # a sync flush: everything written so far can be read back
        return self._raw.tell()

    def close(self) -> int:
        self._gzip.close()
        size = self._raw.tell()
        self._raw.close()
        return size


def read_recording(path: Path | str) -> Iterator[dict[str, Any]]:
    """Every line of a recording, parsed; a file cut off mid-write ends at its last whole line."""
    with open(path, "rb") as raw:
        data = raw.read()
    text = _inflate(data)
    for line in text.split(b"\n"):
        if line:
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                return  # a cut-off last line


def _inflate(data: bytes) -> bytes:
    """The gzip members' content; what a truncated member holds up to its cut."""
    try:
        return gzip.decompress(data)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        out = io.BytesIO()
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.write(decompressor.decompress(data))
        except zlib.error:
            pass
        return out.getvalue()
