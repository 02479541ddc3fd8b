"""Player authorization: what a connecting player offers, who they turn out to be.

An `Authorizer` is asked once per WebSocket connection, after the handshake is
accepted and before the player joins a room (web/websocket.py). It answers
with an `Identity`, or raises `ConnectionRefused` (`unauthorized`, or
`bad_name` for a name claim that breaks the contract's rule), which the
endpoint turns into an error frame and close code like any refusal.

With authorization off (the default) `OpenDoor` answers None: the player is
who their `name=` says, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import HTTPConnection

logger = logging.getLogger("asgi_mmo.auth")

#: a longer credential is refused unread (a JWT with a few claims is well under 2 KiB)
MAX_CREDENTIAL_CHARS = 8192


@dataclass(frozen=True, slots=True)
class Offer:
    """What a connecting player offers: a credential and what they ask for.

    The credential is `?auth=` on the socket URL (browsers cannot set headers on
    a WebSocket), else an `Authorization: Bearer` header.
    """

    credential: str | None
    room: str | None
    name: str | None
    game: str | None
    #: the handshake's Cookie header, passed on to an HTTP endpoint of the same site
    cookie: str | None = None

    @classmethod
    def of(cls, connection: HTTPConnection) -> Offer:
        query = connection.query_params
        return cls(
            credential=query.get("auth") or _bearer(connection.headers.get("authorization")),
            room=query.get("room"),
            name=query.get("name"),
            game=query.get("game"),
            cookie=connection.headers.get("cookie"),
        )


def _bearer(header: str | None) -> str | None:
    scheme, _, credential = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip() or None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who an authorizer says the player is."""

    #: the deployment's id of the player (a token's `sub`)
    subject: str
    #: the name to play under, already checked against the contract's rule; None: the `name=` offered
    name: str | None = None


class Authorizer(Protocol):
    """Decides whether a connecting player may play, and as whom."""

    async def authorize(self, offer: Offer) -> Identity | None:
        """The player's identity (None: no authorization, the player is their `name=`),
        or `ConnectionRefused`."""
        ...


class OpenDoor:
    """Authorization off: everyone is let in under the name they give."""

    async def authorize(self, offer: Offer) -> Identity | None:
        return None


def admitted(identity: Identity, offer: Offer) -> Identity:
    """`identity`, logged (the subject and room; never the credential)."""
    logger.info("player authorized sub=%r name=%r room=%r", identity.subject[:64], identity.name,
                (offer.room or "")[:32])
    return identity
