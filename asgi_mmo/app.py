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

from asgi_mmo.addresses import trusted_networks
from asgi_mmo.auth.factory import open_authorizer
from asgi_mmo.backends.base import Backend
from asgi_mmo.backends.factory import create_backend
from asgi_mmo.cluster.node import Cluster
from asgi_mmo.fairshare import AddressShares
from asgi_mmo.gcpolicy import GcPolicy, freeze_start_up
from asgi_mmo.logs import configure_logging
from asgi_mmo.metrics import Metrics, multiprocess_dir
from asgi_mmo.offload import PlannerPool
from asgi_mmo.peers import NoPeers, PeersFactory, worker_name
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.replays.recorder import Recordings
from asgi_mmo.scores.factory import create_store
from asgi_mmo.scores.leaderboard import Leaderboard
from asgi_mmo.settings import Settings
from asgi_mmo.shutdown import GracefulShutdown
from asgi_mmo.web.admin import admin_routes, announce_token, with_admin_token
from asgi_mmo.web.api import api_routes
from asgi_mmo.web.errors import exception_handlers
from asgi_mmo.web.pages import page_routes
from asgi_mmo.web.websocket import player_endpoint

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
TEMPLATES_DIR = ROOT / "templates"


def create_app(settings: Settings | None = None, *, backend: Backend | None = None) -> Starlette:
    """The application; `backend` lets tests inject one instead of the settings' choice."""
    settings, token_made = with_admin_token(settings or Settings.from_env())
    configure_logging(settings.log_level)
    metrics = Metrics(multiprocess_dir())
    shutdown = GracefulShutdown(settings.shutdown_grace_seconds)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Opened in this order and closed in reverse: rooms stop before the planner pool
        # shuts down and before the leaderboard takes its last scores and flushes.
        async with (
            Leaderboard(create_store(settings)) as leaderboard,
            PlannerPool(settings.bot_processes) as planners,
            backend or create_backend(settings, worker_name()) as opened,
            open_authorizer(settings) as authorizer,  # who may play (ASGI_MMO_AUTH; off by default)
            anyio.create_task_group() as tasks,
        ):
            registry = RoomRegistry(
                settings,
                peers_over(opened, settings),
                on_score=leaderboard.record_nowait,
                planner=planners.plan_each,
                plan_concurrency=planners.max_in_flight,
            )
            await tasks.start(registry.run)
            recordings = Recordings(registry, settings)  # room recordings (asgi_mmo/replays/)
            await tasks.start(recordings.run)
            await tasks.start(registry.peers.run)  # a cluster's leases, saves and directory
            await tasks.start(metrics.run, registry)
            await tasks.start(shutdown.watch, registry)  # SIGTERM/SIGINT: drain before uvicorn cuts sockets
            if token_made:
                announce_token(settings.admin_token or "")
            # Everything made so far lives as long as the process: frozen out of the garbage
            # collector's generations, it no longer lengthens the full passes that pause every
            # room (measured: per-room p99 lateness halved, overruns -40% at 1,000 players);
            # and what lives a while later is frozen on schedule too (gcpolicy.py).
            freeze_start_up()
            gc_policy = GcPolicy(settings.gc_freeze_seconds, settings.gc_sweep_seconds, settings.gc_young_objects)
            await tasks.start(gc_policy.run)
            app.state.registry = registry
            app.state.recordings = recordings
            app.state.leaderboard = leaderboard
            app.state.planners = planners
            app.state.authorizer = authorizer
            try:
                yield
            finally:
                await shutdown.finish(registry)  # drain, then save the rooms within the grace time
                tasks.cancel_scope.cancel()

    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    routes = [
        *page_routes(templates),
        *api_routes(),
        *admin_routes(templates),
        WebSocketRoute("/ws", shutdown.track(player_endpoint)),
        Mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=exception_handlers())
    app.state.settings = settings
    app.state.shares = AddressShares(settings.rooms_per_minute, settings.seats_per_address, settings.seat_seconds)
    app.state.trusted_proxies = trusted_networks(settings.trusted_proxies)
    app.state.metrics = metrics
    app.state.shutdown = shutdown
    return app


def peers_over(backend: Backend, settings: Settings) -> PeersFactory:
    """The rooms beyond this process: a cluster when the backend is shared, else none."""
    if not backend.shared:
        return NoPeers.over(backend, settings)
    return lambda rooms: Cluster(rooms, backend, settings)


app = create_app()
