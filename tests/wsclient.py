"""Helpers for talking to `/ws` through Starlette's TestClient."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

#: a message off the wire: a JSON object, read by key
Message = dict[str, Any]


class ClientFactory(Protocol):
    """The `make_client` fixture: a TestClient (lifespan running) on an app with these settings changed."""

    def __call__(self, **overrides: Any) -> TestClient: ...


def ws_url(**query: str | None) -> str:
    return "/ws?" + urlencode({k: v for k, v in query.items() if v is not None})


def next_of(ws: WebSocketTestSession, kind: str, limit: int = 200) -> Message:
    """The next message of type `kind`, skipping others (ticks arrive all the time)."""
    for _ in range(limit):
        message: Message = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind!r} within {limit} messages")


def expect_close(ws: WebSocketTestSession, code: int, error: str | None, limit: int = 500) -> Message | None:
    """Read until the server closes with `code`; the last error frame seen must be `error`."""
    last_error: Message | None = None
    with pytest.raises(WebSocketDisconnect) as closed:
        for _ in range(limit):
            message = ws.receive_json()
            if message["type"] == "error":
                last_error = message
    assert closed.value.code == code
    if error is None:
        assert last_error is None
    else:
        assert last_error is not None and last_error["code"] == error, last_error
    return last_error


def create_room(client: TestClient, **settings: object) -> str:
    answer = client.post("/api/rooms", json=settings)
    assert answer.status_code == 201, answer.text
    room: str = answer.json()["id"]
    return room
