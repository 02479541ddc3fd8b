"""Typed access to the registry and the settings `create_app` keeps in `app.state` (read by
every endpoint)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from asgi_mmo.registry import RoomRegistry
    from asgi_mmo.settings import Settings


def registry_of(connection: HTTPConnection) -> RoomRegistry:
    registry: RoomRegistry = connection.app.state.registry
    return registry


def settings_of(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings
