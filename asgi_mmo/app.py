"""`create_app(settings)`: the whole application; `app` for `uvicorn asgi_mmo.app:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from asgi_mmo.api import api_routes
from asgi_mmo.backends.base import Backend, create_backend
from asgi_mmo.logs import configure_logging
from asgi_mmo.pages import page_routes
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.settings import Settings
from asgi_mmo.websocket import player_endpoint

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
TEMPLATES_DIR = ROOT / "templates"


def create_app(settings: Settings | None = None, *, backend: Backend | None = None) -> Starlette:
    """The application; `backend` lets tests inject one instead of the settings' choice."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with backend or create_backend(settings) as opened, anyio.create_task_group() as tasks:
            registry = RoomRegistry(settings, opened)
            await tasks.start(registry.run)
            app.state.registry = registry
            try:
                yield
            finally:
                registry.drain()
                with anyio.CancelScope(shield=True), anyio.move_on_after(settings.shutdown_grace_seconds):
                    await registry.save_rooms()
                tasks.cancel_scope.cancel()

    routes = [
        *page_routes(Jinja2Templates(directory=TEMPLATES_DIR)),
        *api_routes(),
        WebSocketRoute("/ws", player_endpoint),
        Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    return app


app = create_app()
