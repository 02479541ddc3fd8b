from __future__ import annotations

import pytest

from asgi_mmo.exceptions import ConfigError
from asgi_mmo.settings import ENVIRONMENT, Settings


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.redis_url is None and settings.workers == 1 and settings.bind == "127.0.0.1:8000"


def test_reads_every_kind_of_variable() -> None:
    settings = Settings.from_env({
        "ASGI_MMO_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
        "ASGI_MMO_RATE_LIMIT": "12.5",
        "ASGI_MMO_MAX_MESSAGE_BYTES": "2048",
        "ASGI_MMO_LOG_LEVEL": "DEBUG",
        "ASGI_MMO_DB": "/tmp/x.sqlite3",
        "ASGI_MMO_ADMIN_TOKEN": "",
    })
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.rate_limit == 12.5
    assert settings.max_message_bytes == 2048
    assert settings.log_level == "debug"
    assert settings.db_path == "/tmp/x.sqlite3"
    assert settings.admin_token is None


@pytest.mark.parametrize("variable, value", [
    ("ASGI_MMO_RATE_LIMIT", "fast"),
    ("ASGI_MMO_MAX_MESSAGE_BYTES", "0"),
    ("ASGI_MMO_SEAT_SECONDS", "-1"),
    ("ASGI_MMO_LOG_LEVEL", "loud"),
])
def test_bad_values_name_their_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_several_workers_without_redis_are_refused() -> None:
    with pytest.raises(ConfigError, match="ASGI_MMO_REDIS_URL"):
        Settings.from_env({"ASGI_MMO_WORKERS": "4"})


def test_several_workers_cannot_share_an_in_memory_backend() -> None:
    with pytest.raises(ConfigError, match="ASGI_MMO_REDIS_URL"):
        Settings.from_env({"ASGI_MMO_WORKERS": "4", "ASGI_MMO_REDIS_URL": "memory://"})


@pytest.mark.parametrize("url", ["memory://", "memory://anything", ""])
def test_memory_url_means_one_process_in_memory(url: str) -> None:
    assert Settings.from_env({"ASGI_MMO_REDIS_URL": url}).redis_url is None
    assert Settings(redis_url=url).redis_url is None  # the leaderboard and the backend read None


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.example:6380/1", "unix:///run/redis.sock"])
def test_redis_urls_are_kept(url: str) -> None:
    settings = Settings.from_env({"ASGI_MMO_REDIS_URL": url, "ASGI_MMO_WORKERS": "4"})
    assert settings.redis_url == url and settings.workers == 4


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "memcached://x"])
def test_other_url_schemes_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="ASGI_MMO_REDIS_URL"):
        Settings.from_env({"ASGI_MMO_REDIS_URL": url})


def test_every_variable_maps_to_a_field() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert {field for field, _ in ENVIRONMENT.values()} <= fields
