"""Real server processes for end-to-end tests, on free loopback ports, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as websockets_connect

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(url: str, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"nothing answered {url} within {timeout} s")


def spawn(command: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `command` in its own process group (so that everything it forks can be killed at
    once), its output appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> int | None:
    """Send `sig` and wait; SIGKILL after `timeout` (then raise TimeoutError). Returns the exit status."""
    if process is None:
        return None
    if process.poll() is not None:
        return process.returncode
    process.send_signal(sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        args = process.args
        program = os.fsdecode(args[0]) if isinstance(args, list | tuple) else str(args)
        raise TimeoutError(f"{program} (pid {process.pid}) ignored {sig!r} for {timeout} s") from None


def kill_group(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL what is left of the process group `spawn` started (workers orphaned by a killed
    master, bot planners, ...). The group id is the leader's pid, ours alone."""
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


class Stoppable(Protocol):
    process: subprocess.Popen[bytes] | None

    def stop(self) -> int | None: ...


def stop_all(server: Stoppable) -> None:
    """The end of every `run_*` helper: stop `server` as it stops itself (whatever the test did to
    it meanwhile), then kill whatever is left of its process group."""
    with contextlib.suppress(Exception):
        server.stop()
    kill_group(server.process)


class ServerProcess:
    """A uvicorn process serving `asgi_mmo.app:app`; `stop()` sends SIGTERM and waits."""

    def __init__(self, port: int, env: dict[str, str] | None, cwd: Path, extra_args: list[str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        self.address = f"127.0.0.1:{port}"  # HOST:PORT, as a load balancer names a backend
        self._env = {**os.environ, **(env or {})}
        self._cwd = cwd
        self._args = extra_args
        self.log_path = cwd / f"uvicorn-{port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "asgi_mmo.cli", "serve", "--port", str(self.port), "--log-level", "info",
            *self._args,
        ]
        self.process = spawn(command, self.log_path, self._cwd, self._env)
        wait_for_http(self.url + "/healthz", process=self.process)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        return stop_process(self.process, sig, timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def run_uvicorn(
    env: dict[str, str] | None = None,
    port: int | None = None,
    cwd: Path | None = None,
    extra_args: list[str] | None = None,
) -> Iterator[ServerProcess]:
    """Start `asgi-mmo serve` (uvicorn) on a free port; always stopped on exit."""
    work = cwd or Path(os.environ.get("PYTEST_TMP", "/tmp"))
    server = ServerProcess(port or free_port(), env, work, extra_args or [])
    try:
        server.start()
        yield server
    finally:
        stop_all(server)


def connect(uri: str, **options: Any) -> ClientConnection:
    """websockets' synchronous `connect`, whose reader takes every frame the server sends however
    few the test reads (`max_queue=None`): with its bounded queue full, the reader stops, never sees
    the server's close frame, and leaving the `with` block waits out `close_timeout` (10 s)."""
    connection: ClientConnection = websockets_connect(uri, **{"max_queue": None, **options})
    return connection


class HasUrl(Protocol):
    @property
    def url(self) -> str: ...


def create_room(server: str | HasUrl, **settings: object) -> str:
    """`POST /api/rooms` on a real server (its URL, or anything with a `url`): the new room's id."""
    url = server if isinstance(server, str) else server.url
    answer = httpx.post(f"{url}/api/rooms", json=settings, timeout=10)
    assert answer.status_code == 201, answer.text
    room: str = answer.json()["id"]
    return room
