"""`ASGI_MMO_AUTH=jwt`: a signed token (JWT) names the player.

The token comes as `?auth=` (or `Authorization: Bearer`); PyJWT verifies it
with the configured key (`StaticKey`) or the key its `kid` names in a JSON Web
Key Set (`JwksKeys`). Checked: the signature, with one of the configured
algorithms that fits the key (never `none`); `exp` (required) and `nbf`
within a small leeway; `aud` and `iss` when configured. `sub` (required)
becomes the player's identity and `name`, when present, their name.

Fetching a key set is blocking I/O (PyJWKClient uses urllib), so it runs in a
worker thread, one at a time, within the configured timeout; a player whose
key cannot be fetched in time is refused, never left waiting.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import anyio
import anyio.to_thread
import jwt
from jwt import PyJWK, PyJWKClient, PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from asgi_mmo.auth.base import MAX_CREDENTIAL_CHARS, Identity, Offer, admitted
from asgi_mmo.auth.keys import PublicKey, VerifyingKey, fits
from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.protocol import refuse, validate_name

logger = logging.getLogger("asgi_mmo.auth")

#: an unknown `kid` refetches the key set at most this often (a flood of made-up kids
#: must not become a flood of requests to the identity provider)
REFRESH_COOLDOWN_SECONDS = 10.0
#: what a failing key set fetch raises in the worker thread (ValueError: the answer is not JSON)
FETCH_ERRORS = (PyJWKClientError, PyJWKSetError, ValueError)
#: claims every token must carry: who the player is, and when the token stops being good
REQUIRED_CLAIMS = ["exp", "sub"]


def refused(reason: str) -> ConnectionRefused:
    logger.debug("token refused: %s", reason)
    return refuse("unauthorized", reason)


class KeySource(Protocol):
    """Where the key that verifies a token comes from."""

    async def key_for(self, header: dict[str, Any]) -> VerifyingKey:
        """The key for a token with this (unverified) header, or `ConnectionRefused`."""
        ...


class StaticKey:
    """One configured key: a shared secret or a PEM public key."""

    def __init__(self, key: VerifyingKey) -> None:
        self._key = key

    async def key_for(self, header: dict[str, Any]) -> VerifyingKey:
        return self._key


class JwksKeys:
    """The keys of a JSON Web Key Set at `url`, fetched by PyJWKClient and cached.

    PyJWKClient keeps the set for `cache_seconds` and refetches it when a token
    names a `kid` it does not hold (key rotation), at most every
    `refresh_cooldown` seconds. A key found is remembered here too, so a cached
    lookup costs no thread. Lookups that need the client run one at a time; while
    a fetch outlives its caller's timeout, others are refused at once rather
    than queue up threads behind it.
    """

    def __init__(
        self, url: str, *, timeout: float, cache_seconds: float, refresh_cooldown: float = REFRESH_COOLDOWN_SECONDS
    ) -> None:
        self._client = PyJWKClient(
            url, cache_jwk_set=True, lifespan=cache_seconds, timeout=timeout, cooldown_duration=refresh_cooldown
        )
        self._url = url
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        #: kid -> (key, anyio time it is good until)
        self._known: dict[str, tuple[VerifyingKey, float]] = {}
        self._turn = anyio.Lock()
        self._fetching = threading.Lock()  # held by the worker thread, even one its caller gave up on

    async def key_for(self, header: dict[str, Any]) -> VerifyingKey:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise refused("the token names no key ('kid')")
        key = self._remembered(kid)
        if key is not None:
            return key
        with anyio.move_on_after(self._timeout) as waited:
            async with self._turn:
                key = self._remembered(kid)  # a lookup before ours may have found it
                if key is not None:
                    return key
                if self._fetching.locked():
                    raise self._unreachable("an earlier fetch still hangs")
                try:
                    jwk = await anyio.to_thread.run_sync(self._lookup, kid, abandon_on_cancel=True)
                except FETCH_ERRORS as error:
                    raise self._unreachable(str(error)[:200]) from None
        if waited.cancelled_caught:
            raise self._unreachable(f"no answer within {self._timeout} s")
        if jwk is None:
            raise refused("the token's key ('kid') is not in the key set")
        key = jwk.key
        if not isinstance(key, bytes | PublicKey):
            raise refused("the token's key is of a type that cannot verify it")
        self._remember(kid, key)
        return key

    def _lookup(self, kid: str) -> PyJWK | None:
        """In a worker thread: the key `kid` names (refetching the set if it is unknown),
        None when the set is good but holds no such key."""
        with self._fetching:
            try:
                return self._client.get_signing_key(kid)
            except PyJWKClientConnectionError:
                raise
            except PyJWKClientError:
                self._client.get_signing_keys()  # raises if the set itself is unusable
                return None

    def _remembered(self, kid: str) -> VerifyingKey | None:
        known = self._known.get(kid)
        if known is None or known[1] <= anyio.current_time():
            return None
        return known[0]

    def _remember(self, kid: str, key: VerifyingKey) -> None:
        now = anyio.current_time()
        self._known = {k: known for k, known in self._known.items() if known[1] > now}
        self._known[kid] = (key, now + self._cache_seconds)

    def _unreachable(self, why: str) -> ConnectionRefused:
        logger.warning("JWKS fetch failed url=%s: %s; players are refused until it answers", self._url, why)
        return refuse("unauthorized", "the server cannot check tokens right now; try again")


class JwtAuthorizer:
    """Admits a player whose token verifies; `sub` is who they are, `name` their name."""

    def __init__(
        self,
        keys: KeySource,
        algorithms: tuple[str, ...],
        *,
        audience: str | None = None,
        issuer: str | None = None,
        leeway: float = 10.0,
    ) -> None:
        assert algorithms and "none" not in algorithms, "a JWT authorizer needs real algorithms"
        self._keys = keys
        self._algorithms = algorithms
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway

    async def authorize(self, offer: Offer) -> Identity:
        token = offer.credential
        if not token:
            raise refused("this server admits players with a token: pass it as ?auth=<token>")
        if len(token) > MAX_CREDENTIAL_CHARS:
            raise refused("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise refused("the token is not a JWT") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            raise refused(f"tokens signed with {str(algorithm)[:16]!r} are not accepted")
        key = await self._keys.key_for(header)
        if not fits(algorithm, key):
            raise refused(f"the token's key cannot verify {algorithm}")
        claims = self._verified(token, key, algorithm)
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.strip():
            raise refused("the token's subject ('sub') is empty")
        name = claims.get("name")
        if name is not None and not isinstance(name, str):
            raise refuse("bad_name", "the token's name claim is not a string")
        return admitted(Identity(subject, validate_name(name) if name is not None else None), offer)

    def _verified(self, token: str, key: VerifyingKey, algorithm: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token, key, algorithms=[algorithm], audience=self._audience, issuer=self._issuer,
                leeway=self._leeway, options={"require": REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError:
            raise refused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise refused("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise refused("the token is meant for another audience ('aud')") from None
        except jwt.InvalidIssuerError:
            raise refused("the token is from another issuer ('iss')") from None
        except jwt.MissingRequiredClaimError as missing:
            raise refused(f"the token has no {missing.claim!r} claim") from None
        except jwt.PyJWTError:
            raise refused("the token's signature or claims are invalid") from None
