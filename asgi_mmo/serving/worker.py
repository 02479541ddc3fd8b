"""The gunicorn worker class of `gunicorn -c gunicorn.conf.py`: uvicorn-worker with the hardened options."""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]  # no annotations shipped

from asgi_mmo.serving.options import uvicorn_options
from asgi_mmo.serving.sockets import bound_send_buffers
from asgi_mmo.settings import Settings


class AsgiMmoWorker(UvicornWorker):  # type: ignore[misc]  # its base is Any: uvicorn-worker is untyped
    """uvicorn's fastest settings for many small WebSocket messages, hardened (as `asgi-mmo serve`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = Settings.from_env()  # checked in the master already (gunicorn.conf.py)
        self.CONFIG_KWARGS = {**uvicorn_options(settings), "timeout_graceful_shutdown": settings.shutdown_grace_seconds}
        super().__init__(*args, **kwargs)

    def run(self) -> None:
        # Every listener, whoever bound it (the master, systemd, a re-exec): its accepted sockets inherit this.
        bound_send_buffers(getattr(listener, "sock", listener) for listener in self.sockets)
        super().run()
