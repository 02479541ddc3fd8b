"""Typed access to what `create_app` keeps in `app.state` (set there, read by every endpoint)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:  # importing metrics.py loads prometheus-client, which gunicorn's master must not do early
    from asgi_mmo.metrics import Metrics
    from asgi_mmo.registry import RoomRegistry
    from asgi_mmo.scores.leaderboard import Leaderboard
    from asgi_mmo.settings import Settings


def registry_of(connection: HTTPConnection) -> RoomRegistry:
    registry: RoomRegistry = connection.app.state.registry
    return registry


def settings_of(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def leaderboard_of(connection: HTTPConnection) -> Leaderboard:
    leaderboard: Leaderboard = connection.app.state.leaderboard
    return leaderboard


def metrics_of(connection: HTTPConnection) -> Metrics:
    metrics: Metrics = connection.app.state.metrics
    return metrics
