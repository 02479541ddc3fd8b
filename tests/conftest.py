from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from asgi_mmo.app import create_app
from asgi_mmo.settings import Settings
from tests.wsclient import ClientFactory

IN_CI = os.environ.get("CI", "").lower() == "true"
#: chromium and its pages, for every module that drives a browser
pytest_plugins = ["tests.browser_fixtures"]


def require(condition: bool, what: str) -> None:
    """Skip a test whose tool is missing, but fail in CI, where nothing may silently skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} is not available")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Bots plan inline here: spawning a worker pool per app would slow every test;
    # tests of the pool itself open one on purpose.
    return Settings(seat_seconds=30.0, idle_room_seconds=60.0, db_path=str(tmp_path / "board.sqlite3"), bot_processes=0)


@pytest.fixture
def make_client(settings: Settings) -> Iterator[ClientFactory]:
    """`make_client(**overrides)`: a TestClient (lifespan running) on an app with those settings."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(replace(settings, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()
