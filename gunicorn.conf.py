"""gunicorn -c gunicorn.conf.py: asgi-mmo on uvicorn workers (the `uvicorn-worker` package).

* `ASGI_MMO_WORKERS` workers (default 1) on `ASGI_MMO_BIND` (default 127.0.0.1:8000);
  several workers need `ASGI_MMO_REDIS_URL`, and the settings are checked here,
  in the master, so a bad value stops gunicorn before any worker starts.
* The master binds the addresses itself, first: a taken port stops gunicorn
  with one line naming the address (no retries, no token made). Once it
  listens it prints the lobby and dashboard URLs.
* Then it settles the admin token: when `ASGI_MMO_ADMIN_TOKEN` is unset it
  makes one, prints it once and puts it into the environment every worker
  inherits, so every worker accepts the same token.
* Metrics use prometheus-client's multiprocess mode: the master makes a fresh
  directory for `PROMETHEUS_MULTIPROC_DIR` (or empties the one you set) before
  any worker imports prometheus-client, and drops a dead worker's live gauges.
* The workers serve with the hardened options of `asgi-mmo serve`
  (asgi_mmo/serving/: control-frame and message limits, bounded send
  buffers, request timeouts, a connection cap; docs/operators.md).
* Shutdown: SIGTERM, and here SIGINT too, stop the workers gracefully (each
  tells its players `server_shutdown`, saves its rooms, flushes the leaderboard)
  within `ASGI_MMO_SHUTDOWN_GRACE_SECONDS`; gunicorn kills what is left a few
  seconds after that.

See docs/operators.md.
"""

from __future__ import annotations

import glob
import math
import os
import shutil
import sys
import tempfile
from typing import Any

from asgi_mmo.cli import announce_urls, cannot_listen, host_port
from asgi_mmo.exceptions import ConfigError
from asgi_mmo.serving.worker import AsgiMmoWorker
from asgi_mmo.settings import Settings

# Nothing here may import prometheus-client before `on_starting` sets PROMETHEUS_MULTIPROC_DIR:
# the client picks its mode once, at import, and the workers inherit the master's modules.

try:
    _settings = Settings.from_env()
except ConfigError as error:
    sys.exit(f"asgi-mmo: {error}")


wsgi_app = "asgi_mmo.app:app"
worker_class = AsgiMmoWorker
workers = _settings.workers
bind = [_settings.bind]
# The workers need the grace time themselves; gunicorn kills a worker only after this long.
graceful_timeout = math.ceil(_settings.shutdown_grace_seconds) + 5

_made_metrics_dir: str | None = None


def on_starting(server: Any) -> None:
    """In the master, before any worker exists."""
    global _made_metrics_dir
    _listen(server)  # first: a taken port ends here, before anything is made
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)  # values of an earlier run would be counted again
    else:
        directory = _made_metrics_dir = tempfile.mkdtemp(prefix="asgi-mmo-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    server.log.info("asgi-mmo: prometheus multiprocess directory %s", directory)

    for listener in server.LISTENERS:
        address = listener.sock.getsockname()
        if isinstance(address, tuple):  # TCP; a unix socket has no URL
            announce_urls(address[0], address[1])

    from asgi_mmo.web.admin import settle_admin_token

    settle_admin_token()

    # gunicorn stops its workers gracefully (SIGTERM) on SIGTERM but abruptly (SIGQUIT) on SIGINT;
    # asgi-mmo drains its players on both, as it does under uvicorn.
    server.handle_int = server.handle_term


def _listen(server: Any) -> None:
    """Bind the configured addresses now, before the token is made, and hand them to gunicorn.

    gunicorn would bind them itself after this hook, retrying a taken port for five seconds
    with a log line each time; here it is one line naming the address and exit status 1.
    Sockets gunicorn inherits (a re-exec on USR2, systemd's, fd://) or that each worker
    binds (`reuse_port`) are left to gunicorn.
    """
    addresses = server.cfg.address
    inherited = "GUNICORN_FD" in os.environ or "LISTEN_FDS" in os.environ
    if server.LISTENERS or inherited or server.cfg.reuse_port or any(isinstance(a, int) for a in addresses):
        return
    from gunicorn.sock import TCP6Socket, TCPSocket, UnixSocket
    from gunicorn.util import is_ipv6

    listeners = []
    for address in addresses:
        if isinstance(address, tuple):
            kind, shown = (TCP6Socket if is_ipv6(address[0]) else TCPSocket), host_port(*address)
        else:
            kind, shown = UnixSocket, f"unix:{os.fsdecode(address)}"
        try:
            listeners.append(kind(address, server.cfg, server.log))
        except OSError as error:
            for listener in listeners:
                listener.close()
            sys.exit(cannot_listen(shown, error))
    server.LISTENERS = listeners


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker has exited: its live gauges no longer count."""
    from asgi_mmo.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _made_metrics_dir is not None:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
