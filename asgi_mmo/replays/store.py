"""Where recordings are kept: a directory (`ASGI_MMO_RECORDINGS_DIR`) of `ID.jsonl.gz`
files, each with its record `ID.json` (state, reason, size, ticks) beside it.

Every call blocks (file I/O): async code runs them in a worker thread. The
record is replaced atomically (written aside, then renamed), so a reader never
sees half of one. Ids are made here and checked on every lookup, so a request
can never name a path outside the directory.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

import orjson

_ID = re.compile(r"^[0-9]{14}-[0-9a-f]{8}$")
DATA_SUFFIX = ".jsonl.gz"
META_SUFFIX = ".json"


class RecordingStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def new_id(now: float | None = None) -> str:
        """A new recording's id: its UTC start (sorts by time), and a random part."""
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() if now is None else now))
        return f"{stamp}-{secrets.token_hex(4)}"

    @staticmethod
    def valid(recording_id: str) -> bool:
        return bool(_ID.match(recording_id))

    def data_path(self, recording_id: str) -> Path:
        assert self.valid(recording_id), recording_id
        return self.directory / f"{recording_id}{DATA_SUFFIX}"

    def _meta_path(self, recording_id: str) -> Path:
        assert self.valid(recording_id), recording_id
        return self.directory / f"{recording_id}{META_SUFFIX}"

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def write_meta(self, meta: dict[str, Any]) -> None:
        path = self._meta_path(meta["id"])
        aside = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        aside.write_bytes(orjson.dumps(meta))
        os.replace(aside, path)

    def read_meta(self, recording_id: str) -> dict[str, Any] | None:
        if not self.valid(recording_id):
            return None
        try:
            meta: dict[str, Any] = orjson.loads(self._meta_path(recording_id).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return meta if self.data_path(recording_id).exists() else None

    def list(self) -> list[dict[str, Any]]:
        """Every recording's record, newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob(f"*{META_SUFFIX}"):
            meta = self.read_meta(path.name[: -len(META_SUFFIX)])
            if meta is not None:
                found.append(meta)
        return sorted(found, key=lambda meta: meta["id"], reverse=True)

    def request_stop(self, recording_id: str) -> None:
        """Ask the process writing a recording to stop it (it looks every few seconds)."""
        (self.directory / f"{recording_id}.stop").touch()
        assert self.valid(recording_id)

    def stop_requested(self, recording_id: str) -> bool:
        path = self.directory / f"{recording_id}.stop"
        if not path.exists():
            return False
        path.unlink(missing_ok=True)
        return True

    def delete(self, recording_id: str) -> bool:
        if self.read_meta(recording_id) is None:
            return False
        self.data_path(recording_id).unlink(missing_ok=True)
        self._meta_path(recording_id).unlink(missing_ok=True)
        return True
