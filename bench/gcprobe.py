"""`python bench/gcprobe.py OUT -- UVICORN ARGS`: uvicorn, with every garbage collection timed.

The bench's way into a server process: `gc.callbacks` notes each collection's
generation, start (time.monotonic(), the clock the bench reads too) and
duration; a thread appends them to OUT as JSON lines once a second, and once
more at exit. The app is not changed: this wrapper is the only instrument.
"""

from __future__ import annotations

import atexit
import gc
import json
import sys
import threading
import time
from typing import Any

_started: list[float] = []
_pauses: list[tuple[int, float, float, int]] = []  # generation, start, seconds, collected
_lock = threading.Lock()


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
        return
    if _started:
        began = _started.pop()
        elapsed = time.perf_counter() - began
        _pauses.append((info["generation"], time.monotonic() - elapsed, elapsed, info.get("collected", 0)))


def _flush(out: str) -> None:
    with _lock:
        taken = _pauses[:]
        del _pauses[: len(taken)]
        if taken:
            with open(out, "a") as file:
                for generation, at, seconds, collected in taken:
                    file.write(json.dumps({"gen": generation, "at": round(at, 4), "ms": round(seconds * 1000, 3),
                                           "collected": collected}) + "\n")


def main() -> None:
    out, separator, *args = sys.argv[1:]
    assert separator == "--", "usage: gcprobe.py OUT -- UVICORN ARGS"
    gc.callbacks.append(_on_gc)

    def flusher() -> None:
        while True:
            time.sleep(1.0)
            _flush(out)

    threading.Thread(target=flusher, daemon=True).start()
    atexit.register(_flush, out)
    sys.argv = ["uvicorn", *args]
    from uvicorn.main import main as uvicorn_main

    uvicorn_main()


if __name__ == "__main__":
    main()
