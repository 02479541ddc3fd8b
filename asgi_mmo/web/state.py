"""Typed access to the registry, the settings and the per-address shares `create_app` keeps in
`app.state` (read by every endpoint)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from asgi_mmo.addresses import client_address

if TYPE_CHECKING:
    from asgi_mmo.fairshare import AddressShares
    from asgi_mmo.registry import RoomRegistry
    from asgi_mmo.settings import Settings


def registry_of(connection: HTTPConnection) -> RoomRegistry:
    registry: RoomRegistry = connection.app.state.registry
    return registry


def settings_of(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def shares_of(connection: HTTPConnection) -> AddressShares:
    shares: AddressShares = connection.app.state.shares
    return shares


def client_of(connection: HTTPConnection) -> str:
    """The address this request's shares count under (`ASGI_MMO_TRUSTED_PROXIES` decides whom
    a forwarded header may name)."""
    return client_address(connection.scope, connection.app.state.trusted_proxies)
