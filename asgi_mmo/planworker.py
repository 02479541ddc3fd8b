"""A planner worker process: `python -m asgi_mmo.planworker`, started by `offload.PlannerPool`.

It reads jobs from its standard input and writes each job's answer to its
standard output, in the order the jobs came, each a frame: a 4-byte
big-endian length, then a pickle. A job is `(function, requests)`, the
planning function named `"module:function"` and its requests; its answer is
`(True, plans)`, or `(False, exception)` when the function raised (a bad
request: the pool raises it to its caller, as inline planning would).

It imports the standard library and the planning function's module only,
never the server. Its own standard output is moved to standard error, so a
stray print cannot break a frame. It ignores SIGINT (a Ctrl-C reaches the
server's whole process group: the pool stops its workers itself) and ends at
the end of its input: when the pool closes it, or when the server is gone.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable
from functools import cache
from typing import Any, BinaryIO

#: a frame's header: the length of the pickle that follows
HEADER = struct.Struct("!I")


@cache
def _function(name: str) -> Callable[[Any], Any]:
    module_name, _, attribute = name.partition(":")
    function: Callable[[Any], Any] = getattr(importlib.import_module(module_name), attribute)
    return function


def run_named(function: str, request: Any) -> Any:
    """Call the planning function named `"module:function"` (in a worker, or inline)."""
    return _function(function)(request)


def run_each(function: str, requests: list[Any]) -> list[Any]:
    """`run_named` for each request: one job, one pickle each way."""
    planning = _function(function)
    return [planning(request) for request in requests]


def frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def answer(function: str, requests: list[Any]) -> bytes:
    """A job's answer frame: its plans, or what the planning function raised."""
    try:
        return frame((True, run_each(function, requests)))
    except Exception as exc:
        try:
            return frame((False, exc))
        except Exception:  # an exception that does not pickle still reaches the caller, as text
            return frame((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def serve(jobs: BinaryIO, answers: BinaryIO) -> None:
    """Answer jobs until the input ends (an input cut short mid-frame ends it too)."""
    answers.write(frame(os.getpid()))  # ready: the pool waits for this before any job
    answers.flush()
    while (header := _read_exactly(jobs, HEADER.size)) is not None:
        body = _read_exactly(jobs, HEADER.unpack(header)[0])
        if body is None:
            return
        function, requests = pickle.loads(body)
        answers.write(answer(function, requests))
        answers.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    jobs = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # print() goes to standard error, never into a frame
    sys.stdout = sys.stderr
    try:
        serve(jobs, answers)
    except BrokenPipeError:  # the server went away while this worker answered: nobody to tell
        os._exit(0)  # (not a normal exit: flushing the answer left in the buffer would fail again)


if __name__ == "__main__":
    main()
