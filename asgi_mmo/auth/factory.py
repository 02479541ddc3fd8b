"""`open_authorizer(settings)`: the authorizer ASGI_MMO_AUTH names, for the app's lifespan.

Each kind is imported only when chosen (PyJWT and its cryptography are not
loaded by a server that does not use them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_mmo.auth.base import Authorizer, OpenDoor
from asgi_mmo.settings import Settings


@asynccontextmanager
async def open_authorizer(settings: Settings) -> AsyncIterator[Authorizer]:
    """The authorizer for these settings (validated already), open for the block."""
    if settings.auth == "jwt":
        yield _jwt_authorizer(settings)
    elif settings.auth == "http":
        from asgi_mmo.auth.endpoint import HttpAuthorizer

        assert settings.auth_url is not None
        async with HttpAuthorizer(settings.auth_url, timeout=settings.auth_timeout_seconds) as authorizer:
            yield authorizer
    else:
        yield OpenDoor()


def _jwt_authorizer(settings: Settings) -> Authorizer:
    from asgi_mmo.auth.keys import load_key
    from asgi_mmo.auth.tokens import JwksKeys, JwtAuthorizer, KeySource, StaticKey

    keys: KeySource
    if settings.auth_jwt_key:
        keys = StaticKey(load_key(settings.auth_jwt_key))
    else:
        assert settings.auth_jwks_url is not None
        keys = JwksKeys(
            settings.auth_jwks_url, timeout=settings.auth_timeout_seconds,
            cache_seconds=settings.auth_jwks_cache_seconds,
        )
    return JwtAuthorizer(
        keys, settings.auth_jwt_algorithms, audience=settings.auth_audience, issuer=settings.auth_issuer,
        leeway=settings.auth_leeway_seconds,
    )
