"""Settings read once from `ASGI_MMO_*` environment variables.

Every variable is listed in `ENVIRONMENT` with its meaning; README.md shows
the same table. Bad values raise `ConfigError` naming the variable, so the
server refuses to start rather than run with a surprise.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from asgi_mmo.exceptions import ConfigError

#: ASGI_MMO_REDIS_URL: these schemes name a Redis; `memory://` (like unset) keeps
#: everything in this process's memory (backends/base.py picks the backend)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
MEMORY_SCHEME = "memory://"

#: ASGI_MMO_AUTH's values, and the fields each one reads (asgi_mmo/auth/factory.py builds the authorizer)
AUTH_MODES = ("off", "jwt", "http")
AUTH_JWT_FIELDS = ("auth_jwt_key", "auth_jwks_url", "auth_jwt_algorithms", "auth_audience", "auth_issuer")
AUTH_HTTP_FIELDS = ("auth_url",)
AUTH_FIELDS_OF = {"off": (), "jwt": AUTH_JWT_FIELDS, "http": AUTH_HTTP_FIELDS}

#: variable name -> (field, meaning); the single source for docs and parsing.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "ASGI_MMO_REDIS_URL": ("redis_url", "Redis URL (redis://, rediss://, unix://) shared by several processes; "
                           "unset or memory://: one process, in memory"),
    "ASGI_MMO_ADMIN_TOKEN": ("admin_token", "admin bearer token; unset: a random one is made and printed at start"),
    "ASGI_MMO_DB": ("db_path", "SQLite file of the leaderboard"),
    "ASGI_MMO_ALLOWED_ORIGINS": ("allowed_origins", "comma-separated browser origins allowed besides the page's own"),
    "ASGI_MMO_WORKERS": ("workers", "gunicorn worker processes"),
    "ASGI_MMO_BIND": ("bind", "gunicorn address HOST:PORT"),
    "ASGI_MMO_LOG_LEVEL": ("log_level", "debug, info, warning or error"),
    "ASGI_MMO_MAX_MESSAGE_BYTES": ("max_message_bytes", "largest client frame; larger closes with 1009 too_big"),
    "ASGI_MMO_RATE_LIMIT": ("rate_limit", "client messages per second"),
    "ASGI_MMO_RATE_BURST": ("rate_burst", "client message burst"),
    "ASGI_MMO_FLOOD_SECONDS": ("flood_seconds", "seconds of continuous rate limiting before close 1008 flood"),
    "ASGI_MMO_CHAT_SENDS": ("chat_sends", "chat frames one player's lines may make its room send a second (a "
                            "line costs one per reader; bursts of two seconds' worth); past it a line answers "
                            "rate_limited; 0: no limit"),
    "ASGI_MMO_SLOW_CLIENT_SECONDS": ("slow_client_seconds",
                                     "seconds a client may take nothing before close 1008 too_slow"),
    "ASGI_MMO_SEAT_SECONDS": ("seat_seconds", "how long a disconnected player's seat is kept"),
    "ASGI_MMO_IDLE_ROOM_SECONDS": ("idle_room_seconds", "how long a room nobody ever joined is kept"),
    "ASGI_MMO_OUTBOX_FRAMES": ("outbox_frames", "frames queued per player before it counts as behind"),
    "ASGI_MMO_MAX_ROOMS": ("max_rooms", "rooms one process runs at most"),
    "ASGI_MMO_SHUTDOWN_GRACE_SECONDS": ("shutdown_grace_seconds", "time to tell players and save rooms at shutdown"),
    "ASGI_MMO_BOT_PROCESSES": ("bot_processes", "worker processes planning bots' paths; 0 plans on the event loop"),
    # The hardened serving path (`asgi-mmo serve`, gunicorn.conf.py; docs/operators.md)
    "ASGI_MMO_REQUEST_TIMEOUT_SECONDS": ("request_timeout_seconds", "seconds an HTTP client has to send a whole "
                                         "request (headers and body) before its connection is closed"),
    "ASGI_MMO_MAX_CONNECTIONS": ("max_connections", "connections (HTTP and WebSocket) one process serves at once; "
                                 "beyond, requests and upgrades answer 503"),
    "ASGI_MMO_ADMIN_SLOWDOWN_SECONDS": ("admin_slowdown_seconds", "longest delay of the answer to a wrong admin "
                                        "token, doubling per wrong token from one address; 0: off"),
    # Fair shares (docs/operators.md#fair-shares): per client address, and the event loop's time.
    "ASGI_MMO_TRUSTED_PROXIES": ("trusted_proxies", "comma-separated addresses or CIDRs of proxies whose "
                                 "X-Forwarded-For / Forwarded names the client (from any other peer they are ignored); "
                                 "none: no proxy is trusted"),
    "ASGI_MMO_ROOMS_PER_MINUTE": ("rooms_per_minute", "rooms one client address may make a minute (bursts as "
                                  "many); more answer 429 rate_limited; 0: no limit"),
    "ASGI_MMO_SEATS_PER_ADDRESS": ("seats_per_address", "seats one client address may hold, those kept for a "
                                   "reconnect included; more close 4429 busy; 0: no limit"),
    "ASGI_MMO_SYNC_SECONDS": ("sync_seconds", "a client's sync is answered at most once in this time; a sooner "
                              "one waits for it"),
    "ASGI_MMO_TICK_BUDGET": ("tick_budget", "share of the event loop's time the rooms' ticks may take together; "
                             "past it the heaviest rooms tick slower; 0: no budget"),
    "ASGI_MMO_GC_FREEZE_SECONDS": ("gc_freeze_seconds", "how often objects that lived that long are moved out of "
                                   "the garbage collector's full passes (gc.freeze); 0: only at start-up"),
    "ASGI_MMO_GC_SWEEP_SECONDS": ("gc_sweep_seconds", "how often the frozen objects get one full collection "
                                  "after all (their cyclic garbage); 0: never"),
    "ASGI_MMO_GC_YOUNG_OBJECTS": ("gc_young_objects", "tracked objects made (net) before the garbage collector's "
                                  "youngest pass (its first threshold); 0: Python's own (700)"),
    "ASGI_MMO_MAX_TICK_MS": ("max_tick_ms", "a new room whose tick is estimated to take longer than this is "
                             "refused 503 busy (it would hold every other room up); 0: no limit"),
    # Spectators and recordings (docs/spectators-and-replays.md)
    "ASGI_MMO_MAX_SPECTATORS": ("max_spectators", "spectators one room takes at most; beyond, close 4409 room_full"),
    "ASGI_MMO_RECORDINGS_DIR": ("recordings_dir", "directory where room recordings are written (made if missing)"),
    "ASGI_MMO_RECORDING_MAX_BYTES": ("recording_max_bytes", "a recording stops by itself at this many bytes on disk"),
    "ASGI_MMO_RECORDING_MAX_SECONDS": ("recording_max_seconds", "a recording stops by itself after this long"),
    "ASGI_MMO_RECORDING_KEYFRAME_SECONDS": ("recording_keyframe_seconds",
                                            "seconds between the full `state` keyframes of a recording"),
    "ASGI_MMO_MAX_RECORDINGS": ("max_recordings", "recordings one process writes at once"),
    # Player authorization (docs/auth.md); off unless ASGI_MMO_AUTH says otherwise.
    "ASGI_MMO_AUTH": ("auth", "player authorization: off (anyone plays under any name), jwt (a signed token) "
                      "or http (the deployment's endpoint decides)"),
    "ASGI_MMO_AUTH_JWT_KEY": ("auth_jwt_key", "jwt: the HS* shared secret, or an RS*/PS*/ES*/EdDSA public key "
                              "in PEM; @/path/to/file reads it from a file"),
    "ASGI_MMO_AUTH_JWKS_URL": ("auth_jwks_url", "jwt: an http(s) URL of a JSON Web Key Set (instead of a key)"),
    "ASGI_MMO_AUTH_JWT_ALGORITHMS": ("auth_jwt_algorithms", "jwt: comma-separated accepted algorithms; "
                                     "unset: the key's own (HS256 for a secret, RS256/ES256 for a JWKS)"),
    "ASGI_MMO_AUTH_AUDIENCE": ("auth_audience", "jwt: the `aud` a token must carry; unset: tokens with an `aud` "
                               "are refused"),
    "ASGI_MMO_AUTH_ISSUER": ("auth_issuer", "jwt: the `iss` a token must carry; unset: not checked"),
    "ASGI_MMO_AUTH_LEEWAY_SECONDS": ("auth_leeway_seconds", "jwt: clock skew allowed on `exp` and `nbf`"),
    "ASGI_MMO_AUTH_JWKS_CACHE_SECONDS": ("auth_jwks_cache_seconds", "jwt: how long a fetched key set is used"),
    "ASGI_MMO_AUTH_URL": ("auth_url", "http: the endpoint POSTed each player's credential; 2xx JSON "
                          "{\"sub\", \"name\"?} admits"),
    "ASGI_MMO_AUTH_TIMEOUT_SECONDS": ("auth_timeout_seconds", "the longest a key set fetch or an endpoint call "
                                      "may take before the player is refused"),
}


@dataclass(frozen=True, slots=True)
class Settings:
    #: a Redis URL, or None: one process, in memory (`memory://` and "" are read as None)
    redis_url: str | None = None
    admin_token: str | None = None
    db_path: str = "asgi-mmo.sqlite3"
    allowed_origins: tuple[str, ...] = ()
    workers: int = 1
    bind: str = "127.0.0.1:8000"
    log_level: str = "info"
    max_message_bytes: int = 4096
    rate_limit: float = 30.0
    rate_burst: int = 60
    flood_seconds: float = 5.0
    chat_sends: float = 2000.0
    slow_client_seconds: float = 10.0
    seat_seconds: float = 30.0
    idle_room_seconds: float = 60.0
    outbox_frames: int = 32
    max_rooms: int = 1000
    shutdown_grace_seconds: float = 5.0
    bot_processes: int = 1
    request_timeout_seconds: float = 10.0
    max_connections: int = 4096
    admin_slowdown_seconds: float = 0.0
    #: a proxy on this machine (haproxy beside the server) by default, as uvicorn trusts it
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    rooms_per_minute: int = 60
    seats_per_address: int = 200
    sync_seconds: float = 1.0
    tick_budget: float = 0.6
    max_tick_ms: float = 25.0
    gc_freeze_seconds: float = 1.0
    gc_sweep_seconds: float = 600.0
    gc_young_objects: int = 10_000
    max_spectators: int = 50
    recordings_dir: str = "recordings"
    recording_max_bytes: int = 50 * 1024 * 1024
    recording_max_seconds: float = 30 * 60.0
    recording_keyframe_seconds: float = 5.0
    max_recordings: int = 8
    auth: str = "off"
    #: the key's text (a file named `@path` is read at start); never shown in a repr
    auth_jwt_key: str | None = field(default=None, repr=False)
    auth_jwks_url: str | None = None
    #: unset: derived from the key at start (see `_check_auth`)
    auth_jwt_algorithms: tuple[str, ...] = ()
    auth_audience: str | None = None
    auth_issuer: str | None = None
    auth_leeway_seconds: float = 10.0
    auth_jwks_cache_seconds: float = 300.0
    auth_url: str | None = None
    auth_timeout_seconds: float = 3.0

    def __post_init__(self) -> None:
        if self.trusted_proxies in (("none",), ("",)):
            object.__setattr__(self, "trusted_proxies", ())
        positive = ("max_message_bytes", "rate_limit", "rate_burst", "flood_seconds", "slow_client_seconds",
                    "outbox_frames", "max_rooms", "workers", "auth_jwks_cache_seconds", "auth_timeout_seconds",
                    "request_timeout_seconds", "max_connections",
                    "recording_max_bytes", "recording_max_seconds", "recording_keyframe_seconds")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{_variable(name)} must be positive, got {getattr(self, name)!r}")
        for name in ("seat_seconds", "idle_room_seconds", "shutdown_grace_seconds", "bot_processes",
                     "auth_leeway_seconds", "admin_slowdown_seconds", "rooms_per_minute", "seats_per_address",
                     "sync_seconds", "tick_budget", "max_tick_ms", "gc_freeze_seconds", "gc_sweep_seconds",
                     "gc_young_objects", "max_spectators", "max_recordings", "chat_sends"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{_variable(name)} must not be negative, got {getattr(self, name)!r}")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise ConfigError(f"ASGI_MMO_LOG_LEVEL must be debug, info, warning or error, got {self.log_level!r}")
        if self.redis_url is not None and (not self.redis_url or self.redis_url.startswith(MEMORY_SCHEME)):
            # One meaning, one value: whoever reads `redis_url` (the backend factory,
            # the leaderboard, the check below) sees None, never a URL that is not Redis.
            object.__setattr__(self, "redis_url", None)
        if self.redis_url is not None and not self.redis_url.startswith(REDIS_SCHEMES):
            raise ConfigError(
                f"ASGI_MMO_REDIS_URL must be a redis://, rediss:// or unix:// URL, or memory:// "
                f"(one process, in memory), got {self.redis_url!r}"
            )
        if self.workers > 1 and self.redis_url is None:
            raise ConfigError(
                f"ASGI_MMO_WORKERS={self.workers} needs ASGI_MMO_REDIS_URL: several processes share rooms "
                "only through Redis (memory:// serves one process); set ASGI_MMO_REDIS_URL to a Redis URL "
                "or run one worker"
            )
        if self.tick_budget > 1:
            raise ConfigError(f"ASGI_MMO_TICK_BUDGET is a share of the event loop's time, 0 to 1, "
                              f"got {self.tick_budget!r}")
        _check_networks(self.trusted_proxies)
        _check_auth(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `ASGI_MMO_*` variables; unset or empty ones keep their default."""
        environ = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for variable, (name, _meaning) in ENVIRONMENT.items():
            raw = environ.get(variable, "").strip()
            if raw:
                values[name] = _convert(variable, raw, fields[name].default)
        return cls(**values)  # type: ignore[arg-type]


def _check_auth(settings: Settings) -> None:
    """ASGI_MMO_AUTH and the variables of its mode; a variable of another mode is refused, so a
    forgotten ASGI_MMO_AUTH=jwt cannot leave the server open while its key is configured."""
    mode = settings.auth
    if mode not in AUTH_MODES:
        raise ConfigError(f"ASGI_MMO_AUTH must be off, jwt or http, got {mode!r}")
    for name in (*AUTH_JWT_FIELDS, *AUTH_HTTP_FIELDS):
        if getattr(settings, name) and name not in AUTH_FIELDS_OF[mode]:
            raise ConfigError(f"{_variable(name)} is set but ASGI_MMO_AUTH is {mode}: set ASGI_MMO_AUTH to "
                              f"{'jwt' if name in AUTH_JWT_FIELDS else 'http'}, or unset {_variable(name)}")
    if mode == "jwt":
        from asgi_mmo.auth.keys import checked_algorithms, load_key, read_key_text

        if bool(settings.auth_jwt_key) == bool(settings.auth_jwks_url):
            raise ConfigError("ASGI_MMO_AUTH=jwt needs one of ASGI_MMO_AUTH_JWT_KEY (a secret or a PEM public key) "
                              "or ASGI_MMO_AUTH_JWKS_URL, not both")
        key = None
        if settings.auth_jwt_key:
            text = read_key_text(settings.auth_jwt_key)
            object.__setattr__(settings, "auth_jwt_key", text)
            key = load_key(text)
        else:
            _check_http_url("auth_jwks_url", settings.auth_jwks_url)
        object.__setattr__(settings, "auth_jwt_algorithms", checked_algorithms(settings.auth_jwt_algorithms, key))
    elif mode == "http":
        if not settings.auth_url:
            raise ConfigError("ASGI_MMO_AUTH=http needs ASGI_MMO_AUTH_URL, the endpoint that admits players")
        _check_http_url("auth_url", settings.auth_url)


def _check_networks(networks: tuple[str, ...]) -> None:
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"ASGI_MMO_TRUSTED_PROXIES lists addresses or CIDRs, got {network!r}") from None


def _check_http_url(name: str, url: str | None) -> None:
    if not (url or "").startswith(("http://", "https://")):
        raise ConfigError(f"{_variable(name)} must be an http:// or https:// URL, got {url!r}")


def _variable(field_name: str) -> str:
    return next(v for v, (f, _) in ENVIRONMENT.items() if f == field_name)


def _convert(variable: str, raw: str, default: object) -> object:
    if isinstance(default, tuple):
        return tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a number, got {raw!r}") from None
    if variable in ("ASGI_MMO_LOG_LEVEL", "ASGI_MMO_AUTH"):
        return raw.lower()
    return raw
