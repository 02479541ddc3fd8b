"""`ASGI_MMO_AUTH=http`: the deployment's own endpoint decides who plays.

Each connecting player's offer is POSTed to `ASGI_MMO_AUTH_URL` as JSON
`{"token", "room", "name", "game"}`, with the token also as
`Authorization: Bearer` and the handshake's cookies as `Cookie` (a browser
sends its cookies of the game's site on the WebSocket handshake). A 2xx answer
with a JSON object `{"sub": "...", "name": "..."?}` admits the player; any
other status refuses them. An endpoint that does not answer within the timeout,
fails (5xx), or answers 2xx with something else than that object refuses the
player too, and is logged: the deployment has a problem to fix.
"""

from __future__ import annotations

import logging
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType

import anyio
import httpx

from asgi_mmo.auth.base import MAX_CREDENTIAL_CHARS, Identity, Offer, admitted
from asgi_mmo.exceptions import ConnectionRefused
from asgi_mmo.protocol import refuse, validate_name

logger = logging.getLogger("asgi_mmo.auth")

#: a 2xx answer longer than this is not the small object the endpoint is to send
MAX_ANSWER_BYTES = 16 * 1024


class HttpAuthorizer:
    """Asks `url` about every player; owns its HTTP client (`async with`)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self._url = url
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> HttpAuthorizer:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,
            # A cookie the endpoint sets must not ride along with the next player's request.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def authorize(self, offer: Offer) -> Identity:
        assert self._client is not None, "use HttpAuthorizer in `async with`"
        token = offer.credential
        if token is not None and len(token) > MAX_CREDENTIAL_CHARS:
            raise refuse("unauthorized", "the token is too long")
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if offer.cookie:
            headers["Cookie"] = offer.cookie
        body = {"token": token, "room": offer.room, "name": offer.name, "game": offer.game}
        try:
            with anyio.fail_after(self._timeout):
                answer = await self._client.post(self._url, json=body, headers=headers)
        except (httpx.HTTPError, TimeoutError) as error:
            raise self._broken(f"no answer: {type(error).__name__} {error}"[:200]) from None
        if answer.is_server_error:
            raise self._broken(f"status {answer.status_code}")
        if not answer.is_success:
            logger.debug("authorization endpoint refused status=%s", answer.status_code)
            raise refuse("unauthorized", "not authorized to play here")
        return admitted(self._identity(answer), offer)

    def _identity(self, answer: httpx.Response) -> Identity:
        if len(answer.content) > MAX_ANSWER_BYTES:
            raise self._broken(f"a {len(answer.content)}-byte answer")
        try:
            claims = answer.json()
        except ValueError:
            raise self._broken("an answer that is not JSON") from None
        subject = claims.get("sub") if isinstance(claims, dict) else None
        if not isinstance(subject, str) or not subject.strip():
            raise self._broken("an answer without a string 'sub'")
        name = claims.get("name")
        if name is not None and not isinstance(name, str):
            raise refuse("bad_name", "the name the server was given is not a string")
        return Identity(subject, validate_name(name) if name is not None else None)

    def _broken(self, what: str) -> ConnectionRefused:
        logger.warning("authorization endpoint failed url=%s: %s; the player is refused", self._url, what)
        return refuse("unauthorized", "the server cannot check who you are right now; try again")
