"""The key a JWT is verified with, and which algorithms fit it.

Read at start by settings.py (so a bad key stops the server with the
variable's name) and by the JWT authorizer. The algorithm is never taken from
a token alone: a token's `alg` must be in the configured list *and* fit the
key's type, which keeps a public key from being used as an HMAC secret and a
JWKS entry of one type from verifying a token of another.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, SECP384R1, SECP521R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from asgi_mmo.exceptions import ConfigError

KEY_VARIABLE = "ASGI_MMO_AUTH_JWT_KEY"
ALGORITHMS_VARIABLE = "ASGI_MMO_AUTH_JWT_ALGORITHMS"

#: HMAC algorithms and the shortest secret each accepts (RFC 7518 3.2: at least the hash's size)
HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
#: each ECDSA algorithm is defined for one curve
EC_CURVES = {"ES256": SECP256R1.name, "ES384": SECP384R1.name, "ES512": SECP521R1.name}
EDDSA = "EdDSA"
SUPPORTED = (*HMAC_MIN_BYTES, *RSA_ALGORITHMS, *EC_CURVES, EDDSA)
#: what a JWKS is trusted for when no list is configured (the common identity providers' choice)
JWKS_DEFAULT = ("RS256", "ES256")

PublicKey = RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey | Ed448PublicKey
#: NIST SP 800-131A; PyJWT warns on every token below it
MIN_RSA_BITS = 2048
#: a shared secret (bytes) or a public key
VerifyingKey = bytes | PublicKey


def read_key_text(raw: str) -> str:
    """The key itself: `raw`, or the contents of the file `@path` names."""
    if not raw.startswith("@"):
        return raw
    path = Path(raw[1:]).expanduser()
    try:
        return path.read_text().strip()
    except OSError as error:
        raise ConfigError(f"{KEY_VARIABLE} names the file {str(path)!r}, which cannot be read: {error}") from None


def load_key(text: str) -> VerifyingKey:
    """A PEM public key, or else the text as an HMAC secret."""
    if not text.startswith("-----BEGIN"):
        return text.encode()
    if "PRIVATE KEY" in text.split("\n", 1)[0]:
        raise ConfigError(f"{KEY_VARIABLE} holds a private key: give the server the public key only")
    try:
        key = load_pem_public_key(text.encode())
    except ValueError as error:
        raise ConfigError(f"{KEY_VARIABLE} is not a PEM public key (-----BEGIN PUBLIC KEY-----): {error}") from None
    if not isinstance(key, PublicKey):
        raise ConfigError(f"{KEY_VARIABLE} is a {type(key).__name__}; JWTs are signed with RSA, EC or Ed25519/Ed448")
    if isinstance(key, RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ConfigError(f"{KEY_VARIABLE} is a {key.key_size}-bit RSA key; use at least {MIN_RSA_BITS} bits")
    return key


def fits(algorithm: str, key: VerifyingKey) -> bool:
    """Whether a token signed with `algorithm` can be verified with `key`."""
    if isinstance(key, bytes):
        return algorithm in HMAC_MIN_BYTES
    if isinstance(key, RSAPublicKey):
        return algorithm in RSA_ALGORITHMS
    if isinstance(key, EllipticCurvePublicKey):
        return EC_CURVES.get(algorithm) == key.curve.name
    return algorithm == EDDSA


def default_algorithms(key: VerifyingKey) -> tuple[str, ...]:
    """The algorithm a key of this type is normally used with."""
    if isinstance(key, bytes):
        return ("HS256",)
    if isinstance(key, RSAPublicKey):
        return ("RS256",)
    if isinstance(key, EllipticCurvePublicKey):
        return tuple(name for name, curve in EC_CURVES.items() if curve == key.curve.name)
    return (EDDSA,)


def checked_algorithms(configured: tuple[str, ...], key: VerifyingKey | None) -> tuple[str, ...]:
    """The accepted algorithms: `configured`, each supported and fitting the key (`None`: a JWKS,
    whose keys are public), or the key's default ones when none are configured."""
    algorithms = configured or (JWKS_DEFAULT if key is None else default_algorithms(key))
    if not algorithms:
        raise ConfigError(f"{KEY_VARIABLE} is an EC key on a curve no JWT algorithm uses")
    for algorithm in algorithms:
        if algorithm not in SUPPORTED:
            raise ConfigError(
                f"{ALGORITHMS_VARIABLE} names {algorithm!r}; supported (case-sensitive): {', '.join(SUPPORTED)}"
            )
        if key is None and algorithm in HMAC_MIN_BYTES:
            raise ConfigError(f"{ALGORITHMS_VARIABLE} names {algorithm}, a shared-secret algorithm, with a JWKS URL")
        if key is not None and not fits(algorithm, key):
            kind = "a shared secret" if isinstance(key, bytes) else f"a {type(key).__name__}"
            raise ConfigError(f"{ALGORITHMS_VARIABLE} names {algorithm}, which {KEY_VARIABLE} ({kind}) cannot verify")
        if isinstance(key, bytes) and len(key) < HMAC_MIN_BYTES[algorithm]:
            raise ConfigError(
                f"{KEY_VARIABLE} is {len(key)} bytes; {algorithm} needs a secret of at least "
                f"{HMAC_MIN_BYTES[algorithm]} bytes (for instance: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
    return algorithms
