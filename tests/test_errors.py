"""web/errors.py: each exception a route raises answers its status and code, from one table.

A tiny app holds the handlers, as Starlette's own tests do for a framework behaviour;
the real app's answers are in test_api.py and test_admin.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from asgi_mmo.exceptions import BackendUnavailable, BadRequest, NotFound, ServerDraining, Unauthorized
from asgi_mmo.registry import RegistryFull
from asgi_mmo.scores.leaderboard import LeaderboardUnavailable
from asgi_mmo.web.errors import ERROR_ANSWERS, exception_handlers

PROTOCOL_DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"

RAISED: dict[str, Exception] = {
    "bad": BadRequest("'limit' must be an integer"),
    "token": Unauthorized("send the admin token"),
    "missing": NotFound("no room 'x'"),
    "full": RegistryFull("this process runs 2 rooms"),
    "draining": ServerDraining("the server is going down"),
    "backend": BackendUnavailable("redis://10.0.0.5:6379 refused the connection"),
    "scores": LeaderboardUnavailable("database is locked"),
}


class Boom(Exception):
    """Not in the table: a bug, not an answer."""


def make_app() -> Starlette:
    async def raising(request: Request) -> Response:
        raise RAISED[request.path_params["what"]]

    async def boom(request: Request) -> Response:
        raise Boom("a bug")

    async def page(request: Request) -> Response:
        return PlainTextResponse("a page")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        raise BackendUnavailable("redis down")

    routes = [
        Route("/api/raise/{what}", raising, methods=["GET"]),
        Route("/api/boom", boom, methods=["GET"]),
        Route("/admin/api/rooms", page, methods=["GET"]),
        Route("/page", page, methods=["GET"]),
        WebSocketRoute("/ws", socket),
    ]
    return Starlette(routes=routes, exception_handlers=exception_handlers())


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app())


@pytest.mark.parametrize(
    ("what", "status", "code", "message"),
    [
        ("bad", 422, "bad_request", "'limit' must be an integer"),
        ("token", 401, "unauthorized", "send the admin token"),
        ("missing", 404, "not_found", "no room 'x'"),
        ("full", 503, "busy", "this process runs 2 rooms"),
        ("draining", 503, "server_shutdown", "the server is going down"),
        ("backend", 503, "unavailable", "the shared backend cannot be reached right now; try again"),
        ("scores", 503, "unavailable", "the leaderboard cannot be read right now"),
    ],
)
def test_each_exception_answers_its_status_code_and_message(
    client: TestClient, what: str, status: int, code: str, message: str
) -> None:
    answer = client.get(f"/api/raise/{what}")
    assert answer.status_code == status
    assert answer.json() == {"error": {"code": code, "message": message}}
    assert answer.headers["cache-control"] == "no-store"


def test_a_backend_error_does_not_show_its_internals(client: TestClient) -> None:
    assert "10.0.0.5" not in client.get("/api/raise/backend").text
    assert "locked" not in client.get("/api/raise/scores").text


def test_unauthorized_names_the_scheme(client: TestClient) -> None:
    answer = client.get("/api/raise/token")
    assert answer.headers["www-authenticate"] == 'Bearer realm="asgi-mmo admin"'
    assert "www-authenticate" not in client.get("/api/raise/missing").headers


def test_an_exception_not_in_the_table_stays_a_server_error(client: TestClient) -> None:
    with pytest.raises(Boom):
        client.get("/api/boom")
    answer = TestClient(make_app(), raise_server_exceptions=False).get("/api/boom")
    assert answer.status_code == 500


@pytest.mark.parametrize("path", ["/api/nope", "/api", "/admin/api/nope", "/admin/api/rooms/x/y"])
def test_unknown_api_paths_answer_json_404(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_a_wrong_method_on_the_api_answers_json_405_with_allow(client: TestClient) -> None:
    answer = client.delete("/admin/api/rooms")
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"
    assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD"}


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/nope", 404), ("GET", "/apiary", 404), ("POST", "/page", 405)]
)
def test_pages_keep_starlettes_plain_text_errors(client: TestClient, method: str, path: str, status: int) -> None:
    answer = client.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text in ("Not Found", "Method Not Allowed")


def test_under_a_root_path_the_api_still_answers_json() -> None:
    outer = Starlette(routes=[Mount("/game", app=make_app())])
    answer = TestClient(outer).get("/game/api/nope")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_a_websocket_endpoints_exception_is_not_swallowed(client: TestClient) -> None:
    """The handlers answer HTTP only: what escapes a socket endpoint reaches the server, as before."""
    with pytest.raises(BackendUnavailable), client.websocket_connect("/ws") as ws:
        ws.receive_text()


def _http_error_rows() -> set[tuple[int, str]]:
    text = PROTOCOL_DOC.read_text()
    section = text.split("### HTTP errors", 1)[1].split("\n#", 1)[0]
    return {(int(status), code) for status, code in re.findall(r"^\| (\d{3}) \| `(\w+)` \|", section, re.MULTILINE)}


def test_the_docs_table_of_http_errors_is_the_code_s() -> None:
    answered = {(answer.status, answer.code) for answer in ERROR_ANSWERS.values()}
    from_starlette = {(404, "not_found"), (405, "method_not_allowed")}
    assert _http_error_rows() == answered | from_starlette
