"""Player authorization (asgi_mmo/auth/): real tokens made with PyJWT, real keys made with
cryptography, a JWKS and an authorization endpoint served over HTTP on loopback, and a real
`asgi-mmo serve` process at the end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed

from asgi_mmo.auth.base import Offer
from asgi_mmo.auth.tokens import JwksKeys, JwtAuthorizer
from asgi_mmo.exceptions import ConfigError, ConnectionRefused
from asgi_mmo.settings import Settings
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.servers import ROOT, connect, create_room, free_port, run_uvicorn
from tests.wsclient import ClientFactory, expect_close, ws_url

SECRET = "a-shared-secret-of-forty-eight-characters-exact!"
AUDIENCE = "asgi-mmo-test"
ISSUER = "https://id.example"
TIMEOUT = 0.5  # the authorizer's; a hanging JWKS or endpoint must not hold a handshake longer


# ---- keys and tokens --------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def make_token(key: Any, algorithm: str = "HS256", headers: dict[str, Any] | None = None, **claims: Any) -> str:
    """A token signed by `key`; `sub` and a minute's `exp` unless given (None drops a claim)."""
    now = int(time.time())
    body = {"sub": "user-1", "exp": now + 60, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm, headers=headers)


def part(data: bytes) -> str:
    """One base64url part of a token."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token put together by hand, with no signature: what an attacker sends (alg none)."""
    return part(json.dumps(header).encode()) + "." + part(json.dumps(claims).encode()) + "."


def hs256_with(secret: bytes, claims: dict[str, Any]) -> str:
    """An HS256 token made with `secret`, whatever it is (a public key's PEM, for alg confusion)."""
    unsigned = unsigned_token({"alg": "HS256", "typ": "JWT"}, claims).rstrip(".")
    return unsigned + "." + part(hmac.new(secret, unsigned.encode(), hashlib.sha256).digest())


def tampered(token: str) -> str:
    """`token` with its subject changed and its signature kept."""
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return f"{head}.{part(json.dumps({**claims, 'sub': 'admin'}).encode())}.{signature}"


def jwk_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        entry = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        alg = "RS256"
    else:
        entry = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        alg = "ES256"
    return {**entry, "kid": kid, "use": "sig", "alg": alg}


# ---- a tiny HTTP server on loopback (the JWKS, the deployment's endpoint) ---------

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalHttp:
    """`answer(request)` decides each answer. `hang` holds every answer until released;
    `drip` sends the headers, then a byte every 50 ms until released: each read is quick,
    the whole answer never comes (a timeout per read does not end it)."""

    url: str
    answer: Callable[[Seen], Answer]
    seen: list[Seen] = field(default_factory=list)
    hang: threading.Event = field(default_factory=threading.Event)
    drip: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def json(self, status: int, body: object, **headers: str) -> None:
        self.answer = lambda _seen: (status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode())


@pytest.fixture
def local_http() -> Iterator[LocalHttp]:
    def not_set(_seen: Seen) -> Answer:
        return 404, {}, b""

    state = LocalHttp("", not_set)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            state.seen.append(seen)
            if state.hang.is_set():
                state.release.wait(10)
            status, headers, body = state.answer(seen)
            try:
                if state.drip.is_set():
                    self.send_response(status)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    while not state.release.wait(0.05):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    return
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server gave up waiting (the timeout tests): there is no one to answer

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}/nobody"


# ---- settings ---------------------------------------------------------------------


def test_authorization_is_off_by_default_and_a_token_offered_changes_nothing(client: TestClient) -> None:
    assert Settings.from_env({}).auth == "off"
    with client.websocket_connect(ws_url(name="alice", auth="anything")) as ws:
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["state"]["snakes"][0]["name"] == "alice"


@pytest.mark.parametrize(("environ", "variable"), [
    ({"ASGI_MMO_AUTH": "yes"}, "ASGI_MMO_AUTH"),
    ({"ASGI_MMO_AUTH_JWT_KEY": SECRET}, "ASGI_MMO_AUTH_JWT_KEY"),  # a key, but authorization left off
    ({"ASGI_MMO_AUTH_URL": "http://auth.example/"}, "ASGI_MMO_AUTH_URL"),
    ({"ASGI_MMO_AUTH": "jwt"}, "ASGI_MMO_AUTH_JWT_KEY"),
    ({"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWT_KEY": SECRET, "ASGI_MMO_AUTH_JWKS_URL": "http://x/"},
     "ASGI_MMO_AUTH_JWKS_URL"),
    ({"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWT_KEY": "short"}, "ASGI_MMO_AUTH_JWT_KEY"),
    ({"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWT_KEY": "@/no/such/file"}, "ASGI_MMO_AUTH_JWT_KEY"),
    ({"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWT_KEY": SECRET, "ASGI_MMO_AUTH_JWT_ALGORITHMS": "RS256"},
     "ASGI_MMO_AUTH_JWT_ALGORITHMS"),
    ({"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWT_KEY": SECRET, "ASGI_MMO_AUTH_JWT_ALGORITHMS": "none"},
     "ASGI_MMO_AUTH_JWT_ALGORITHMS"),
    ({"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWKS_URL": "file:///etc/keys"}, "ASGI_MMO_AUTH_JWKS_URL"),
    ({"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWKS_URL": "http://x/", "ASGI_MMO_AUTH_JWT_ALGORITHMS": "HS256"},
     "ASGI_MMO_AUTH_JWT_ALGORITHMS"),
    ({"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWT_KEY": SECRET, "ASGI_MMO_AUTH_URL": "http://x/"}, "ASGI_MMO_AUTH_URL"),
    ({"ASGI_MMO_AUTH": "http"}, "ASGI_MMO_AUTH_URL"),
    ({"ASGI_MMO_AUTH": "http", "ASGI_MMO_AUTH_URL": "auth.example"}, "ASGI_MMO_AUTH_URL"),
    ({"ASGI_MMO_AUTH": "http", "ASGI_MMO_AUTH_URL": "http://x/", "ASGI_MMO_AUTH_AUDIENCE": "a"},
     "ASGI_MMO_AUTH_AUDIENCE"),
    ({"ASGI_MMO_AUTH": "http", "ASGI_MMO_AUTH_URL": "http://x/", "ASGI_MMO_AUTH_TIMEOUT_SECONDS": "0"},
     "ASGI_MMO_AUTH_TIMEOUT_SECONDS"),
])
def test_a_bad_combination_names_its_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(environ)


def test_keys_come_from_files_and_pick_their_algorithms(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    (tmp_path / "rsa.pem").write_text(public_pem(rsa_key))
    (tmp_path / "ec.pem").write_text(public_pem(ec_key))
    (tmp_path / "secret").write_text(SECRET + "\n")
    jwt_env = {"ASGI_MMO_AUTH": "JWT"}
    from_rsa = Settings.from_env({**jwt_env, "ASGI_MMO_AUTH_JWT_KEY": f"@{tmp_path / 'rsa.pem'}"})
    assert from_rsa.auth == "jwt" and from_rsa.auth_jwt_algorithms == ("RS256",)
    assert from_rsa.auth_jwt_key == public_pem(rsa_key).strip()
    assert SECRET not in repr(Settings.from_env({**jwt_env, "ASGI_MMO_AUTH_JWT_KEY": f"@{tmp_path / 'secret'}"}))
    assert Settings.from_env({**jwt_env, "ASGI_MMO_AUTH_JWT_KEY": f"@{tmp_path / 'ec.pem'}"}).auth_jwt_algorithms == (
        "ES256",
    )
    jwks = Settings.from_env({**jwt_env, "ASGI_MMO_AUTH_JWKS_URL": "https://id.example/jwks.json"})
    assert jwks.auth_jwt_algorithms == ("RS256", "ES256")
    both = Settings.from_env({**jwt_env, "ASGI_MMO_AUTH_JWT_KEY": f"@{tmp_path / 'rsa.pem'}",
                              "ASGI_MMO_AUTH_JWT_ALGORITHMS": "RS256,PS256"})
    assert both.auth_jwt_algorithms == ("RS256", "PS256")


def test_a_private_key_or_an_ec_algorithm_for_an_rsa_key_is_refused(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    private = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ConfigError, match="private key"):
        Settings(auth="jwt", auth_jwt_key=private)
    with pytest.raises(ConfigError, match="ASGI_MMO_AUTH_JWT_ALGORITHMS"):
        Settings(auth="jwt", auth_jwt_key=public_pem(rsa_key), auth_jwt_algorithms=("ES256",))
    with pytest.raises(ConfigError, match="ASGI_MMO_AUTH_JWT_ALGORITHMS"):
        Settings(auth="jwt", auth_jwt_key=public_pem(ec_key), auth_jwt_algorithms=("ES384",))  # another curve


def test_a_bad_configuration_stops_serve_naming_the_variable() -> None:
    env = {"ASGI_MMO_AUTH": "jwt", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "asgi_mmo.cli", "serve"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "ASGI_MMO_AUTH_JWT_KEY" in done.stderr


# ---- a token verified with a configured key -----------------------------------------


@pytest.fixture
def hs256(make_client: ClientFactory) -> TestClient:
    return make_client(auth="jwt", auth_jwt_key=SECRET, auth_audience=AUDIENCE, auth_issuer=ISSUER)


def good_claims() -> dict[str, Any]:
    return {"aud": AUDIENCE, "iss": ISSUER}


def test_a_valid_token_admits_the_player_under_its_name(hs256: TestClient) -> None:
    token = make_token(SECRET, name="Ada L.", **good_claims())
    with hs256.websocket_connect(ws_url(name="someone", auth=token)) as ws:
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome"
        assert [s["name"] for s in welcome["state"]["snakes"]] == ["Ada L."]


def test_without_a_name_claim_the_name_offered_is_played(hs256: TestClient) -> None:
    with hs256.websocket_connect(ws_url(name="bob", auth=make_token(SECRET, **good_claims()))) as ws:
        assert [s["name"] for s in ws.receive_json()["state"]["snakes"]] == ["bob"]
    with hs256.websocket_connect(ws_url(name="<b>", auth=make_token(SECRET, **good_claims()))) as ws:
        expect_close(ws, 4400, "bad_name")  # the name offered still follows the rule


def test_a_bearer_header_works_for_clients_that_can_send_one(hs256: TestClient) -> None:
    headers = {"Authorization": f"Bearer {make_token(SECRET, **good_claims())}"}
    with hs256.websocket_connect(ws_url(name="bot-client"), headers=headers) as ws:
        assert ws.receive_json()["type"] == "welcome"


@pytest.mark.parametrize(("name", "error", "close"), [
    ("<script>", "bad_name", 4400),
    ("a name far too long for it", "bad_name", 4400),
    (42, "bad_name", 4400),
])
def test_a_bad_name_claim_is_refused_bad_name(hs256: TestClient, name: object, error: str, close: int) -> None:
    with hs256.websocket_connect(ws_url(name="fine", auth=make_token(SECRET, name=name, **good_claims()))) as ws:
        expect_close(ws, close, error)


REFUSED_TOKENS: dict[str, Callable[[], str | None]] = {
    "missing": lambda: None,
    "garbage": lambda: "not-a-token",
    "three garbage parts": lambda: "a.b.c",
    "expired": lambda: make_token(SECRET, exp=int(time.time()) - 60, **good_claims()),
    "not yet valid": lambda: make_token(SECRET, nbf=int(time.time()) + 60, **good_claims()),
    "wrong audience": lambda: make_token(SECRET, aud="another-game", iss=ISSUER),
    "no audience": lambda: make_token(SECRET, iss=ISSUER),
    "wrong issuer": lambda: make_token(SECRET, aud=AUDIENCE, iss="https://evil.example"),
    "no expiry": lambda: make_token(SECRET, exp=None, **good_claims()),
    "no subject": lambda: make_token(SECRET, sub=None, **good_claims()),
    "empty subject": lambda: make_token(SECRET, sub="  ", **good_claims()),
    "bad signature": lambda: make_token("another-secret-that-is-also-long-enough-to-sign!", **good_claims()),
    "tampered claims": lambda: tampered(make_token(SECRET, **good_claims())),
    "alg none": lambda: unsigned_token({"alg": "none", "typ": "JWT"},
                                       {"sub": "x", "exp": int(time.time()) + 60, **good_claims()}),
    "alg HS512 not accepted": lambda: make_token(SECRET + SECRET, algorithm="HS512", **good_claims()),
    "too long": lambda: "x" * 10_000,
}


@pytest.mark.parametrize("case", REFUSED_TOKENS)
def test_a_refused_token_closes_4403_unauthorized(hs256: TestClient, case: str) -> None:
    token = REFUSED_TOKENS[case]()
    with hs256.websocket_connect(ws_url(name="eve", auth=token)) as ws:
        expect_close(ws, 4403, "unauthorized")


def test_a_small_clock_skew_is_allowed(hs256: TestClient) -> None:
    token = make_token(SECRET, exp=int(time.time()) - 3, nbf=int(time.time()) + 3, **good_claims())
    with hs256.websocket_connect(ws_url(name="skewed", auth=token)) as ws:
        assert ws.receive_json()["type"] == "welcome"


def test_an_rs256_token_verifies_with_the_public_key(
    make_client: ClientFactory, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = public_pem(rsa_key)
    client = make_client(auth="jwt", auth_jwt_key=pem)
    with client.websocket_connect(ws_url(name="x", auth=make_token(rsa_key, "RS256", name="Rosa"))) as ws:
        assert [s["name"] for s in ws.receive_json()["state"]["snakes"]] == ["Rosa"]
    refused = [
        make_token(other_rsa_key, "RS256"),  # signed by someone else
        make_token(SECRET),  # HS256: not an algorithm of this key
        # alg confusion: HS256 keyed with the public key's PEM, which an attacker can read
        hs256_with(pem.encode(), {"sub": "x", "exp": int(time.time()) + 60}),
    ]
    for token in refused:
        with client.websocket_connect(ws_url(name="x", auth=token)) as ws:
            expect_close(ws, 4403, "unauthorized")


# ---- a token verified with a key of a JWKS --------------------------------------------


async def test_jwks_keys_are_fetched_once_and_cached(
    local_http: LocalHttp, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    local_http.json(200, {"keys": [jwk_of(rsa_key, "r1"), jwk_of(ec_key, "e1")]})
    authorizer = jwks_authorizer(local_http)
    for _ in range(3):
        identity = await authorizer.authorize(offer(make_token(rsa_key, "RS256", headers={"kid": "r1"}, name="Rae")))
        assert identity.subject == "user-1" and identity.name == "Rae"
    identity = await authorizer.authorize(offer(make_token(ec_key, "ES256", headers={"kid": "e1"}, sub="u2")))
    assert identity.subject == "u2" and identity.name is None
    assert len(local_http.seen) == 1


async def test_an_unknown_kid_refetches_the_set_after_a_rotation(
    local_http: LocalHttp, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    local_http.json(200, {"keys": [jwk_of(rsa_key, "2024")]})
    authorizer = jwks_authorizer(local_http, refresh_cooldown=0)
    await authorizer.authorize(offer(make_token(rsa_key, "RS256", headers={"kid": "2024"})))
    local_http.json(200, {"keys": [jwk_of(other_rsa_key, "2025")]})  # the provider rotates its key
    identity = await authorizer.authorize(offer(make_token(other_rsa_key, "RS256", headers={"kid": "2025"}, sub="n")))
    assert identity.subject == "n" and len(local_http.seen) == 2
    with pytest.raises(ConnectionRefused) as refused:  # a kid nobody published: refused after one more look
        await authorizer.authorize(offer(make_token(other_rsa_key, "RS256", headers={"kid": "made-up"})))
    assert refused.value.code == "unauthorized" and len(local_http.seen) == 3


async def test_made_up_kids_do_not_flood_the_identity_provider(
    local_http: LocalHttp, rsa_key: rsa.RSAPrivateKey
) -> None:
    local_http.json(200, {"keys": [jwk_of(rsa_key, "k")]})
    authorizer = jwks_authorizer(local_http, refresh_cooldown=60)
    await authorizer.authorize(offer(make_token(rsa_key, "RS256", headers={"kid": "k"})))
    for kid in ("x1", "x2", "x3"):
        with pytest.raises(ConnectionRefused):
            await authorizer.authorize(offer(make_token(rsa_key, "RS256", headers={"kid": kid})))
    assert len(local_http.seen) == 1  # within the cooldown, no refetch


@pytest.mark.parametrize("case", ["no kid", "HS256 token", "key of another type"])
async def test_jwks_tokens_that_cannot_fit_a_key_are_refused(
    local_http: LocalHttp, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, case: str
) -> None:
    local_http.json(200, {"keys": [jwk_of(rsa_key, "r"), jwk_of(ec_key, "e")]})
    token = {
        "no kid": lambda: make_token(rsa_key, "RS256"),
        "HS256 token": lambda: make_token(SECRET, headers={"kid": "r"}),
        # an RS256 token naming the EC key: the key's type decides, not the token
        "key of another type": lambda: make_token(rsa_key, "RS256", headers={"kid": "e"}),
    }[case]()
    with pytest.raises(ConnectionRefused) as refused:
        await jwks_authorizer(local_http).authorize(offer(token))
    assert refused.value.code == "unauthorized" and refused.value.close_code == 4403


@pytest.mark.parametrize("failure", ["unreachable", "status 500", "not JSON", "no keys"])
async def test_a_broken_jwks_refuses_and_is_logged(
    local_http: LocalHttp, rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    url = closed_port_url() if failure == "unreachable" else local_http.url + "/jwks"
    if failure == "status 500":
        local_http.json(500, {"error": "oops"})
    elif failure == "not JSON":
        local_http.answer = lambda _seen: (200, {"Content-Type": "text/html"}, b"<html>sign in</html>")
    elif failure == "no keys":
        local_http.json(200, {"keys": []})
    authorizer = JwtAuthorizer(JwksKeys(url, timeout=TIMEOUT, cache_seconds=60), ("RS256",))
    with caplog.at_level(logging.WARNING, "asgi_mmo.auth"), pytest.raises(ConnectionRefused) as refused:
        await authorizer.authorize(offer(make_token(rsa_key, "RS256", headers={"kid": "k"})))
    assert refused.value.code == "unauthorized"
    assert any("JWKS fetch failed" in record.getMessage() for record in caplog.records)


async def test_a_hanging_jwks_refuses_within_the_timeout_and_known_keys_still_work(
    local_http: LocalHttp, rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    local_http.json(200, {"keys": [jwk_of(rsa_key, "k")]})
    keys = JwksKeys(local_http.url + "/jwks", timeout=TIMEOUT, cache_seconds=60, refresh_cooldown=0)
    authorizer = JwtAuthorizer(keys, ("RS256",))
    await authorizer.authorize(offer(make_token(rsa_key, "RS256", headers={"kid": "k"})))
    local_http.drip.set()  # from now on the provider hangs
    unknown = make_token(rsa_key, "RS256", headers={"kid": "new"})
    waits = []
    with caplog.at_level(logging.WARNING, "asgi_mmo.auth"):
        for _ in range(2):  # the second comes while the first refetch still hangs in its thread
            started = time.monotonic()
            with pytest.raises(ConnectionRefused) as refused:
                await authorizer.authorize(offer(unknown))
            waits.append(time.monotonic() - started)
            assert refused.value.code == "unauthorized"
    # the first waits out the timeout (not the hanging provider); the second is refused at once
    assert TIMEOUT <= waits[0] < TIMEOUT + 1.0 and waits[1] < TIMEOUT / 2
    assert len(local_http.seen) == 2  # and starts no thread of its own behind the hanging one
    reasons = [r.getMessage() for r in caplog.records if "JWKS fetch failed" in r.getMessage()]
    assert "no answer within" in reasons[0] and "still hangs" in reasons[1]
    with anyio.fail_after(TIMEOUT / 2):  # a player whose key is known gets in meanwhile, without waiting
        assert (await authorizer.authorize(offer(make_token(rsa_key, "RS256", headers={"kid": "k"})))).subject
    local_http.release.set()
    with anyio.fail_after(5):  # the abandoned thread ends once the drip stops
        while keys._fetching.locked():
            await anyio.sleep(0.01)


def jwks_authorizer(local_http: LocalHttp, refresh_cooldown: float = 10.0) -> JwtAuthorizer:
    keys = JwksKeys(local_http.url + "/jwks", timeout=TIMEOUT, cache_seconds=60, refresh_cooldown=refresh_cooldown)
    return JwtAuthorizer(keys, ("RS256", "ES256"))


def offer(token: str | None, **fields: str) -> Offer:
    return Offer(credential=token, room=fields.get("room"), name=fields.get("name"), game=fields.get("game"))


def test_the_app_verifies_with_a_jwks(
    make_client: ClientFactory, local_http: LocalHttp, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    local_http.json(200, {"keys": [jwk_of(ec_key, "e")]})
    client = make_client(auth="jwt", auth_jwks_url=local_http.url + "/jwks", auth_timeout_seconds=TIMEOUT)
    with client.websocket_connect(ws_url(name="x", auth=make_token(ec_key, "ES256", headers={"kid": "e"},
                                                                   name="Eve C"))) as ws:
        assert [s["name"] for s in ws.receive_json()["state"]["snakes"]] == ["Eve C"]


# ---- the deployment's own endpoint ---------------------------------------------------


@pytest.fixture
def endpoint(make_client: ClientFactory, local_http: LocalHttp) -> tuple[TestClient, LocalHttp]:
    client = make_client(auth="http", auth_url=local_http.url + "/authorize", auth_timeout_seconds=TIMEOUT)
    return client, local_http


def test_the_endpoint_admits_and_names_the_player(endpoint: tuple[TestClient, LocalHttp]) -> None:
    client, server = endpoint
    server.json(200, {"sub": "acct-7", "name": "Seven"}, **{"Set-Cookie": "session=endpoint-set; Path=/"})
    url = ws_url(name="asked", room=None, game="snake", auth="opaque-credential")
    with client.websocket_connect(url, headers={"Cookie": "site_session=abc"}) as ws:
        assert [s["name"] for s in ws.receive_json()["state"]["snakes"]] == ["Seven"]
    seen = server.seen[0]
    assert seen.path == "/authorize"
    assert json.loads(seen.body) == {"token": "opaque-credential", "room": None, "name": "asked", "game": "snake"}
    assert seen.headers["authorization"] == "Bearer opaque-credential"
    assert seen.headers["cookie"] == "site_session=abc"
    server.json(200, {"sub": "acct-8"})
    with client.websocket_connect(ws_url(name="eight")) as ws:
        welcome = ws.receive_json()  # the same room: Seven's seat is kept while away
        assert {(s["id"] == welcome["player"], s["name"]) for s in welcome["state"]["snakes"]} == {
            (False, "Seven"), (True, "eight")}
    # the endpoint's cookie stayed with nobody: the next player's request did not carry it
    assert "cookie" not in server.seen[1].headers and "authorization" not in server.seen[1].headers


@pytest.mark.parametrize(("status", "body", "logged"), [
    (401, {"error": "who are you"}, False),
    (403, {"sub": "x"}, False),  # the status decides, not the body
    (500, {"error": "boom"}, True),
    (200, {"name": "no sub"}, True),
    (200, ["sub", "x"], True),
])
def test_the_endpoint_refuses(
    endpoint: tuple[TestClient, LocalHttp], caplog: pytest.LogCaptureFixture, status: int, body: object, logged: bool
) -> None:
    client, server = endpoint
    server.json(status, body)
    with caplog.at_level(logging.WARNING, "asgi_mmo.auth"), client.websocket_connect(ws_url(name="x")) as ws:
        expect_close(ws, 4403, "unauthorized")
    assert any("endpoint failed" in r.getMessage() for r in caplog.records) == logged


def test_a_bad_name_from_the_endpoint_is_bad_name(endpoint: tuple[TestClient, LocalHttp]) -> None:
    client, server = endpoint
    server.json(200, {"sub": "x", "name": "<img src=x>"})
    with client.websocket_connect(ws_url(name="x")) as ws:
        expect_close(ws, 4400, "bad_name")


def test_a_hanging_endpoint_refuses_within_the_timeout(
    endpoint: tuple[TestClient, LocalHttp], caplog: pytest.LogCaptureFixture
) -> None:
    client, server = endpoint
    server.json(200, {"sub": "x"})
    server.hang.set()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "asgi_mmo.auth"), client.websocket_connect(ws_url(name="x")) as ws:
        expect_close(ws, 4403, "unauthorized")
    assert time.monotonic() - started < TIMEOUT + 1.0
    assert any("endpoint failed" in r.getMessage() for r in caplog.records)


def test_an_unreachable_endpoint_refuses(make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(auth="http", auth_url=closed_port_url(), auth_timeout_seconds=TIMEOUT)
    with caplog.at_level(logging.WARNING, "asgi_mmo.auth"), client.websocket_connect(ws_url(name="x")) as ws:
        expect_close(ws, 4403, "unauthorized")
    assert any("endpoint failed" in r.getMessage() for r in caplog.records)


# ---- end to end: a real `asgi-mmo serve` ----------------------------------------------


@pytest.mark.e2e
def test_a_real_server_admits_by_token_refuses_with_4403_and_logs_no_token(
    tmp_path: Path, local_http: LocalHttp, rsa_key: rsa.RSAPrivateKey
) -> None:
    local_http.json(200, {"keys": [jwk_of(rsa_key, "live")]})
    env = {
        "ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWKS_URL": local_http.url + "/jwks",
        "ASGI_MMO_AUTH_AUDIENCE": AUDIENCE, "ASGI_MMO_AUTH_ISSUER": ISSUER,
        "ASGI_MMO_DB": str(tmp_path / "board.sqlite3"), "ASGI_MMO_BOT_PROCESSES": "0",
    }
    good = make_token(rsa_key, "RS256", headers={"kid": "live"}, name="Live One", **good_claims())
    expired = make_token(rsa_key, "RS256", headers={"kid": "live"}, exp=int(time.time()) - 120, **good_claims())
    with run_uvicorn(env=env, cwd=tmp_path) as server:
        with connect(f"{server.ws_url}?name=ignored&auth={good}", open_timeout=5) as ws:
            welcome = json.loads(ws.recv(timeout=5))
            assert welcome["type"] == "welcome"
            assert [s["name"] for s in welcome["state"]["snakes"]] == ["Live One"]
        for token in (expired, ""):
            with connect(f"{server.ws_url}?name=eve&auth={token}", open_timeout=5) as ws:
                error = json.loads(ws.recv(timeout=5))
                assert error["type"] == "error" and error["code"] == "unauthorized"
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        log = server.log()
    assert "auth=[redacted]" in log
    assert good not in log and expired not in log
    assert good.split(".")[1] not in log  # not even the claims part
    assert "code=unauthorized" in log


def test_settings_replace_keeps_a_file_key(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET)
    settings = Settings(auth="jwt", auth_jwt_key=f"@{tmp_path / 'secret'}")
    assert replace(settings, seat_seconds=1.0).auth_jwt_key == SECRET  # make_client's replace() reruns the checks


# ---- the game page passes ?auth= on to the socket ---------------------------------------


@pytest.mark.browser
def test_the_game_page_hands_its_auth_parameter_to_the_socket(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    env = {"ASGI_MMO_AUTH": "jwt", "ASGI_MMO_AUTH_JWT_KEY": SECRET, "ASGI_MMO_DB": str(tmp_path / "board.sqlite3"),
           "ASGI_MMO_BOT_PROCESSES": "0"}
    token = make_token(SECRET, sub="player-9", name="Claimed")
    with run_uvicorn(env=env, cwd=tmp_path) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            room = create_room(server.url)
            page.goto(f"{server.url}/play/{room}?name=typed&auth={token}")
            page.wait_for_selector("#app[data-player]", timeout=10_000)
            expect(page.locator("#scores li.me")).to_contain_text("Claimed")
            assert errors == []
        finally:
            browser.close()
        log = server.log()
    assert token not in log and "auth=[redacted]" in log
