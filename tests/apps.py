"""Typed access, for tests, to what `create_app` keeps in `app.state` and to a TestClient's event loop.

`app.state` answers any attribute as `Any`; these helpers check the kind of what they hand back,
so a test that reaches into a running app gets a real type and a clear failure if the app changed.
"""

from __future__ import annotations

from typing import TypeVar

from anyio.from_thread import BlockingPortal
from starlette.applications import Starlette
from starlette.testclient import TestClient

from asgi_mmo.offload import PlannerPool
from asgi_mmo.registry import RoomRegistry
from asgi_mmo.scores.leaderboard import Leaderboard
from asgi_mmo.settings import Settings
from asgi_mmo.shutdown import GracefulShutdown

T = TypeVar("T")

#: a running app, or the TestClient in front of one
AppLike = Starlette | TestClient


def app_of(app: AppLike) -> Starlette:
    if isinstance(app, Starlette):
        return app
    assert isinstance(app.app, Starlette), f"the TestClient wraps {type(app.app).__name__}, not the Starlette app"
    return app.app


def portal_of(client: TestClient) -> BlockingPortal:
    """The portal onto the client's event loop: there only while the client (and so the lifespan) runs."""
    assert client.portal is not None, "the TestClient is not running: use `with TestClient(app):`"
    return client.portal


def _kept(app: AppLike, name: str, kind: type[T]) -> T:
    value = getattr(app_of(app).state, name)
    assert isinstance(value, kind), f"app.state.{name} is {type(value).__name__}, not {kind.__name__}"
    return value


def registry_of(app: AppLike) -> RoomRegistry:
    """Set while the lifespan runs (and kept after it ended)."""
    return _kept(app, "registry", RoomRegistry)


def leaderboard_of(app: AppLike) -> Leaderboard:
    return _kept(app, "leaderboard", Leaderboard)


def planners_of(app: AppLike) -> PlannerPool:
    return _kept(app, "planners", PlannerPool)


def settings_of(app: AppLike) -> Settings:
    return _kept(app, "settings", Settings)


def shutdown_of(app: AppLike) -> GracefulShutdown:
    return _kept(app, "shutdown", GracefulShutdown)
