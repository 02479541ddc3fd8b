"""Settings read once from `ASGI_MMO_*` environment variables.

Every variable is listed in `ENVIRONMENT` with its meaning; README.md shows
the same table. Bad values raise `ConfigError` naming the variable, so the
server refuses to start rather than run with a surprise.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from asgi_mmo.exceptions import ConfigError

#: ASGI_MMO_REDIS_URL: these schemes name a Redis; `memory://` (like unset) keeps
#: everything in this process's memory (backends/base.py picks the backend)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
MEMORY_SCHEME = "memory://"

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
    "ASGI_MMO_SLOW_CLIENT_SECONDS": ("slow_client_seconds",
                                     "seconds a client may take nothing before close 1008 too_slow"),
    "ASGI_MMO_SEAT_SECONDS": ("seat_seconds", "how long a disconnected player's seat is kept"),
    "ASGI_MMO_IDLE_ROOM_SECONDS": ("idle_room_seconds", "how long a room nobody ever joined is kept"),
    "ASGI_MMO_OUTBOX_FRAMES": ("outbox_frames", "frames queued per player before it counts as behind"),
    "ASGI_MMO_MAX_ROOMS": ("max_rooms", "rooms one process runs at most"),
    "ASGI_MMO_SHUTDOWN_GRACE_SECONDS": ("shutdown_grace_seconds", "time to tell players and save rooms at shutdown"),
    "ASGI_MMO_BOT_PROCESSES": ("bot_processes", "worker processes planning bots' paths; 0 plans on the event loop"),
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
    slow_client_seconds: float = 10.0
    seat_seconds: float = 30.0
    idle_room_seconds: float = 60.0
    outbox_frames: int = 32
    max_rooms: int = 1000
    shutdown_grace_seconds: float = 5.0
    bot_processes: int = 1

    def __post_init__(self) -> None:
        positive = ("max_message_bytes", "rate_limit", "rate_burst", "flood_seconds", "slow_client_seconds",
                    "outbox_frames", "max_rooms", "workers")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{_variable(name)} must be positive, got {getattr(self, name)!r}")
        for name in ("seat_seconds", "idle_room_seconds", "shutdown_grace_seconds", "bot_processes"):
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
    if variable == "ASGI_MMO_LOG_LEVEL":
        return raw.lower()
    return raw
