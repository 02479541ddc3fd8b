"""Real cluster processes for end-to-end tests: redis-server, gunicorn, haproxy.

Each `run_*` helper is a context manager that starts one process (or one process
group) on free loopback ports, waits until it serves, yields a handle, and always
stops it on exit, whatever the test did to it meanwhile. Logs go to `cwd`, one
file per process, named after its port, so a failing test can show them.

When a program is missing the helpers skip the test locally and fail it in CI
(`require` in conftest.py): `scripts/setup test` installs them.

    with run_redis(cwd=tmp_path) as redis_server, \\
            run_gunicorn(4, env={"ASGI_MMO_REDIS_URL": redis_server.url}, cwd=tmp_path) as server, \\
            run_haproxy([server.address], cwd=tmp_path) as proxy:
        httpx.get(proxy.url + "/api/rooms")
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.conftest import require
from tests.servers import ROOT, free_port, spawn, stop_all, stop_process, wait_for_http

HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
T = TypeVar("T")
#: where Debian puts daemons; not on every user's PATH
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


def _program(name: str) -> str | None:
    return shutil.which(name, path=SBIN_PATH)


def require_redis() -> str:
    """The path of `redis-server` and redis-py present; else skip (fail in CI)."""
    path = _program("redis-server")
    require(path is not None, "redis-server (Debian package redis-server)")
    require(importlib.util.find_spec("redis") is not None, "redis-py (pip install redis)")
    assert path is not None
    return path


def require_haproxy() -> str:
    """The path of `haproxy`; else skip (fail in CI)."""
    path = _program("haproxy")
    require(path is not None, "haproxy (Debian package haproxy)")
    assert path is not None
    return path


def require_gunicorn() -> None:
    """gunicorn, the `uvicorn-worker` package and gunicorn.conf.py present; else skip (fail in CI)."""
    require(importlib.util.find_spec("gunicorn") is not None, "gunicorn (pip install gunicorn)")
    require(importlib.util.find_spec("uvicorn_worker") is not None, "uvicorn-worker (pip install uvicorn-worker)")
    require(GUNICORN_CONF.exists(), f"{GUNICORN_CONF}")


def _work_dir(cwd: Path | None) -> Path:
    work = Path(cwd or os.environ.get("PYTEST_TMP", "/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    return work


def _read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _wait(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `condition` until it returns something true, and return that; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------- Redis


class RedisProcess:
    """A `redis-server` in the foreground on 127.0.0.1, without persistence.

    `kill()` (SIGKILL) and `start()` again on the same port make a Redis restart;
    its data is gone afterwards, as after a crash of a Redis that saves nothing.
    """

    def __init__(self, port: int, cwd: Path, program: str) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log_path = cwd / f"redis-{port}.log"
        self._cwd = cwd
        self._program = program
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def client(self, **options: Any) -> Any:
        """A synchronous `redis.Redis` of this server (the caller closes it); redis-py is imported
        here so that this module loads without it."""
        import redis

        return redis.Redis(port=self.port, socket_timeout=2.0, socket_connect_timeout=2.0, **options)

    def ping(self) -> bool:
        """True when the server answers PING, False when it cannot be reached."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # redis-py retries a refused connection with backoff by default (seconds): ask once.
        client = self.client(retry=Retry(NoBackoff(), 0))
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False
        finally:
            client.close()

    def start(self, timeout: float = 10.0) -> None:
        """Start (or start again, on the same port) and wait until it answers PING."""
        if self.running():
            raise RuntimeError(f"redis-server on port {self.port} is running already")
        command = [
            self._program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", str(self._cwd), "--logfile", "",
        ]
        self.process = spawn(command, self.log_path, self._cwd)
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}:\n{self.log()[-2000:]}")
            return self.ping()

        _wait(ready, timeout, f"redis-server did not answer PING on port {self.port}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash: clients see their connections reset."""
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (a clean shutdown) and wait."""
        return stop_process(self.process, signal.SIGTERM, timeout)

    def log(self) -> str:
        return _read_log(self.log_path)


@contextlib.contextmanager
def run_redis(port: int | None = None, cwd: Path | None = None) -> Iterator[RedisProcess]:
    """A fresh `redis-server` on a free loopback port; always stopped on exit."""
    program = require_redis()
    server = RedisProcess(port or free_port(), _work_dir(cwd), program)
    try:
        server.start()
        yield server
    finally:
        stop_all(server)


# ------------------------------------------------------------------------------------- gunicorn


class GunicornProcess:
    """`gunicorn -c gunicorn.conf.py asgi_mmo.app:app`: a master and its uvicorn workers."""

    def __init__(self, workers: int, port: int, env: dict[str, str], cwd: Path, extra_args: list[str]) -> None:
        self.workers = workers
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        self.ws_url = f"ws://{self.address}/ws"
        self.log_path = cwd / f"gunicorn-{port}.log"
        self._cwd = cwd
        self._env = env
        self._args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The master's pid."""
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, timeout: float = 30.0) -> None:
        """Start the master and wait until all `workers` workers have started the app."""
        env = {**os.environ, **self._env, "ASGI_MMO_WORKERS": str(self.workers), "ASGI_MMO_BIND": self.address}
        command = [
            sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF),
            # gunicorn's control socket defaults to one path per user: parallel masters would share it.
            "--no-control-socket",
            *self._args, "asgi_mmo.app:app",
        ]
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = spawn(command, self.log_path, self._cwd, env)
        try:
            wait_for_http(self.url + "/healthz", timeout=timeout, process=self.process)
        except (RuntimeError, TimeoutError) as error:
            raise type(error)(f"gunicorn: {error}; its log:\n{self.log()[log_start:][-3000:]}") from None
        self.wait_workers(self.workers, timeout=timeout, since=log_start)

    def worker_pids(self) -> set[int]:
        """The live workers: the master's children that run gunicorn (read from /proc)."""
        if self.process is None or self.process.poll() is not None:
            return set()
        master = self.pid
        master_cmdline = _cmdline(master)
        return {pid for pid in _children(master) if _cmdline(pid) == master_cmdline}

    def wait_workers(self, count: int, timeout: float = 30.0, since: int = 0) -> set[int]:
        """Wait until `count` workers run and as many "Application startup complete" lines appeared
        in the log after byte `since` (e.g. after killing one: the master forks a new one)."""
        process = self.process
        assert process is not None

        def ready() -> set[int] | None:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{self.log()[-3000:]}")
            started = self.log()[since:].count("Application startup complete")
            pids = self.worker_pids()
            return pids if started >= count and len(pids) == count else None

        return _wait(ready, timeout, f"gunicorn did not start {count} workers")

    def kill_worker(self, pid: int, sig: int = signal.SIGKILL) -> None:
        """Signal one worker (by default kill -9, as a crash); gunicorn forks a replacement."""
        if pid not in self.worker_pids():
            raise ValueError(f"{pid} is not a worker of gunicorn {self.pid}")
        os.kill(pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Signal the master (SIGTERM: graceful, the workers drain) and wait for it to exit."""
        return stop_process(self.process, sig, timeout)

    def log(self) -> str:
        return _read_log(self.log_path)


def _children(parent: int) -> set[int]:
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended while we looked
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == parent:
            children.add(int(entry))
    return children


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@contextlib.contextmanager
def run_gunicorn(
    workers: int = 4,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    port: int | None = None,
    extra_args: list[str] | None = None,
    timeout: float = 30.0,
) -> Iterator[GunicornProcess]:
    """gunicorn with `workers` uvicorn workers (ASGI_MMO_WORKERS) bound to a free loopback port
    (ASGI_MMO_BIND), `env` added to the environment; always stopped, every worker with it.

    A master that exits before it serves raises RuntimeError with the end of its log."""
    require_gunicorn()
    server = GunicornProcess(workers, port or free_port(), dict(env or {}), _work_dir(cwd), extra_args or [])
    try:
        server.start(timeout)
        yield server
    finally:
        stop_all(server)


# -------------------------------------------------------------------------------------- haproxy


def render_haproxy_config(backends: list[str], source: Path = HAPROXY_CFG) -> str:
    """deploy/haproxy.cfg with its server list (between "BEGIN servers" and "END servers")
    replaced by `backends` (HOST:PORT each, named app1, app2, ...); every other line as shipped."""
    lines = source.read_text().splitlines()
    begin = next(i for i, line in enumerate(lines) if line.strip().startswith("# BEGIN servers"))
    end = next(i for i, line in enumerate(lines) if line.strip().startswith("# END servers"))
    indent = lines[end][: len(lines[end]) - len(lines[end].lstrip())]
    servers = [f"{indent}server app{i} {address}" for i, address in enumerate(backends, 1)]
    return "\n".join([*lines[: begin + 1], *servers, *lines[end:]]) + "\n"


class HaproxyProcess:
    """haproxy in the foreground (-db) running deploy/haproxy.cfg in front of `backends`.

    The servers are named app1, app2, ... in the order given, in backend `asgi_mmo`.
    """

    BACKEND = "asgi_mmo"

    def __init__(self, backends: list[str], port: int, stats_port: int, cwd: Path, program: str) -> None:
        self.backends = list(backends)
        self.servers = {f"app{i}": address for i, address in enumerate(backends, 1)}
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"
        self.stats_url = f"http://127.0.0.1:{stats_port}/"
        self.config_path = cwd / f"haproxy-{port}.cfg"
        self.log_path = cwd / f"haproxy-{port}.log"
        # A unix socket path is limited to about 100 bytes: keep it out of pytest's long paths.
        self._socket_dir = tempfile.mkdtemp(prefix="asgi-mmo-haproxy-")
        self.socket_path = os.path.join(self._socket_dir, "admin.sock")
        self._cwd = cwd
        self._program = program
        self._env = {
            **os.environ,
            "ASGI_MMO_HAPROXY_BIND": f"127.0.0.1:{port}",
            "ASGI_MMO_HAPROXY_STATS_BIND": f"127.0.0.1:{stats_port}",
            "ASGI_MMO_HAPROXY_SOCKET": self.socket_path,
            # small enough for an unprivileged `ulimit -n` of 1024
            "ASGI_MMO_HAPROXY_MAXCONN": "400",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0, wait_healthy: bool = True) -> None:
        """Start haproxy; wait until its stats page answers and, with `wait_healthy`, until it
        proxies GET /healthz with 200."""
        self.config_path.write_text(render_haproxy_config(self.backends))
        check = subprocess.run(
            [self._program, "-c", "-q", "-f", str(self.config_path)], env=self._env, capture_output=True, text=True,
            timeout=timeout,
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused {self.config_path}:\n{check.stdout}{check.stderr}")
        self.process = spawn([self._program, "-f", str(self.config_path), "-db"], self.log_path, self._cwd, self._env)
        try:
            wait_for_http(self.stats_url, timeout=timeout, process=self.process)
            if wait_healthy:
                _wait(self._proxies_healthz, timeout, f"haproxy on port {self.port} did not proxy /healthz")
        except (RuntimeError, TimeoutError) as error:
            raise type(error)(f"haproxy: {error}; its log:\n{self.log()[-3000:]}") from None

    def _proxies_healthz(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def command(self, line: str, timeout: float = 5.0) -> str:
        """One runtime API command on the admin socket, e.g. "show stat" or
        "set server asgi_mmo/app1 state drain"; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(self.socket_path)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def stats(self) -> list[dict[str, str]]:
        """`show stat` as rows: pxname, svname, status, scur, stot, ... (haproxy's CSV columns)."""
        text = self.command("show stat").lstrip("# ")
        return [row for row in csv.DictReader(io.StringIO(text)) if row.get("pxname")]

    def server_states(self) -> dict[str, str]:
        """Each server's status: "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2" (going up), "DRAIN", "MAINT"."""
        return {
            row["svname"]: row["status"]
            for row in self.stats()
            if row["pxname"] == self.BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def server_stats(self, name: str) -> dict[str, str]:
        return next(row for row in self.stats() if row["pxname"] == self.BACKEND and row["svname"] == name)

    def wait_server_state(self, name: str, status: str, timeout: float = 10.0) -> float:
        """Wait until server `name` (app1, ...) has exactly `status`; the seconds it took."""
        started = time.monotonic()
        _wait(lambda: self.server_states().get(name) == status, timeout,
              f"haproxy server {name} did not become {status}", interval=0.05)
        return time.monotonic() - started

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM: haproxy stops at once, closing every connection (SIGUSR1 would wait for the
        WebSocket tunnels to end)."""
        return stop_process(self.process, signal.SIGTERM, timeout)

    def log(self) -> str:
        return _read_log(self.log_path)


@contextlib.contextmanager
def run_haproxy(
    backends: list[str], cwd: Path | None = None, port: int | None = None, wait_healthy: bool = True,
) -> Iterator[HaproxyProcess]:
    """haproxy with deploy/haproxy.cfg in front of `backends` ("HOST:PORT" each), listening on a
    free loopback port (stats page and admin socket too); always stopped on exit."""
    program = require_haproxy()
    proxy = HaproxyProcess(backends, port or free_port(), free_port(), _work_dir(cwd), program)
    try:
        proxy.start(wait_healthy=wait_healthy)
        yield proxy
    finally:
        stop_all(proxy)
        shutil.rmtree(proxy._socket_dir, ignore_errors=True)
