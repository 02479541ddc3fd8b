"""The admin API, the dashboard page, the admin token and the event log lines."""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed

from asgi_mmo.exceptions import BackendUnavailable
from asgi_mmo.web.admin import TOKEN_VARIABLE, settle_admin_token
from tests.apps import registry_of, settings_of
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.servers import connect, run_uvicorn
from tests.wsclient import ClientFactory, create_room, expect_close, next_of, ws_url

TOKEN = "operator-secret"
ROOM_STATS = {
    "id", "game", "private", "players", "bots", "max_players", "tick_rate", "tick", "created_at",
    "tick_ms", "overruns", "msgs_in", "msgs_out", "bytes_out", "worker",
}
PLAYER_FIELDS = {"id", "name", "bot", "score", "alive", "connected_s", "latency_ms", "queue"}
ADMIN_ROUTES = [
    ("GET", "/admin/api/rooms"),
    ("GET", "/admin/api/rooms/{room}"),
    ("DELETE", "/admin/api/rooms/{room}"),
    ("GET", "/admin/api/rooms/no-such-room"),
    ("GET", "/metrics"),
]


@pytest.fixture
def admin(make_client: ClientFactory) -> TestClient:
    return make_client(admin_token=TOKEN)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong"),
        bearer(TOKEN + "x"),
        bearer(TOKEN[:-1]),
        bearer(""),
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ],
    ids=["missing", "wrong", "longer", "shorter", "empty", "no-scheme", "basic"],
)
def test_every_admin_route_refuses_a_missing_or_wrong_token_and_shows_nothing(
    admin: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    room = create_room(admin, private=True)
    answer = admin.request(method, path.format(room=room), headers=headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": {"code": "unauthorized", "message": answer.json()["error"]["message"]}}
    assert room not in answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    # a refused DELETE closed nothing
    assert admin.get(f"/admin/api/rooms/{room}", headers=bearer()).status_code == 200


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_the_right_token_opens_every_admin_route(admin: TestClient, method: str, path: str) -> None:
    room = create_room(admin)
    answer = admin.request(method, path.format(room=room), headers={"Authorization": f"bearer  {TOKEN} "})
    assert answer.status_code == (404 if "no-such-room" in path else 204 if method == "DELETE" else 200)


def test_the_room_list_has_every_room_stats_field_after_real_ticks(admin: TestClient) -> None:
    public = create_room(admin, tick_rate=30, bots=2, max_players=8)
    hidden = create_room(admin, private=True)
    with admin.websocket_connect(ws_url(name="alice", room=public)) as ws:
        next_of(ws, "welcome")
        ticks = [next_of(ws, "tick") for _ in range(8)]
        for t in range(5):
            ws.send_json({"type": "ping", "t": t})
            next_of(ws, "pong")
        listed = admin.get("/admin/api/rooms", headers=bearer()).json()["rooms"]
    by_id = {room["id"]: room for room in listed}
    assert set(by_id) == {public, hidden}  # the private room too
    stats = by_id[public]
    assert ROOM_STATS <= set(stats)
    assert stats["game"] == "snake" and stats["private"] is False and by_id[hidden]["private"] is True
    assert stats["players"] == 1 and stats["bots"] == 2 and stats["max_players"] == 8
    assert stats["tick_rate"] == 30 and stats["tick"] >= ticks[-1]["tick"]
    tick_ms = stats["tick_ms"]
    assert 0 < tick_ms["p50"] <= tick_ms["p99"] <= tick_ms["max"] < 250
    assert stats["overruns"] >= 0
    assert stats["slots_skipped"] >= 0 and (stats["overruns"] > 0 or stats["slots_skipped"] == 0)  # (an extension)
    assert stats["msgs_in"] == 5
    assert stats["msgs_out"] >= 8 + 5  # the ticks and pongs this player took
    assert stats["bytes_out"] > 100 * 8
    assert stats["worker"] == f"{socket.gethostname()}:{os.getpid()}"
    assert stats["created_at"] > 0


def test_one_room_lists_its_players_with_latency_and_queue(admin: TestClient) -> None:
    room = create_room(admin, bots=1)
    with admin.websocket_connect(ws_url(name="alice", room=room)) as ws:
        welcome = next_of(ws, "welcome")
        ws.send_json({"type": "ping", "t": 1, "rtt": 42.25})
        next_of(ws, "pong")
        answer = admin.get(f"/admin/api/rooms/{room}", headers=bearer())
    assert answer.status_code == 200
    detail = answer.json()
    assert ROOM_STATS - {"players"} <= set(detail)
    players = {p["id"]: p for p in detail["players"]}
    assert len(players) == 2
    alice = players[welcome["player"]]
    assert PLAYER_FIELDS <= set(alice)
    assert alice["name"] == "alice" and alice["bot"] is False and alice["latency_ms"] == 42.2
    assert alice["queue"] >= 0 and alice["connected_s"] >= 0 and alice["alive"] is True
    bot = next(p for p in players.values() if p["bot"])
    assert bot["latency_ms"] is None


def test_an_unknown_room_is_404_not_found(admin: TestClient) -> None:
    for method in ("GET", "DELETE"):
        answer = admin.request(method, "/admin/api/rooms/nope", headers=bearer())
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", ["/admin/api/rooms", "/admin/api/rooms/{room}", "/metrics"])
def test_a_wrong_method_asks_for_the_token_first_then_answers_405(admin: TestClient, path: str) -> None:
    path = path.format(room=create_room(admin))
    assert admin.put(path).status_code == 401
    answer = admin.put(path, headers=bearer())
    assert answer.status_code == 405
    if path.startswith("/admin/api/"):
        assert answer.json()["error"]["code"] == "method_not_allowed"
        assert answer.headers["cache-control"] == "no-store"


def test_an_unknown_admin_path_is_404_not_found(admin: TestClient) -> None:
    answer = admin.get("/admin/api/nothing-here", headers=bearer())
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_an_unreachable_backend_answers_503_unavailable_and_nothing_is_stored(
    admin: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(*args: object) -> None:
        raise BackendUnavailable("redis://127.0.0.1:1 does not answer")

    registry = registry_of(admin)
    for method in ("room_statistics", "room_details", "close_anywhere"):
        monkeypatch.setattr(registry, method, unreachable)
    for method, path in [("GET", "/admin/api/rooms"), ("GET", "/admin/api/rooms/x"), ("DELETE", "/admin/api/rooms/x")]:
        answer = admin.request(method, path, headers=bearer())
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "unavailable"
        assert answer.headers["cache-control"] == "no-store"


def test_closing_a_room_reaches_its_players_as_4001(admin: TestClient) -> None:
    room = create_room(admin)
    with admin.websocket_connect(ws_url(name="alice", room=room)) as ws:
        next_of(ws, "welcome")
        next_of(ws, "tick")
        answer = admin.delete(f"/admin/api/rooms/{room}", headers=bearer())
        assert answer.status_code == 204 and answer.content == b""
        expect_close(ws, 4001, "room_closed")
    assert admin.get(f"/admin/api/rooms/{room}", headers=bearer()).status_code == 404
    assert room not in {r["id"] for r in admin.get("/admin/api/rooms", headers=bearer()).json()["rooms"]}


def test_the_dashboard_loads_without_the_token_and_its_files_come_from_this_app(admin: TestClient) -> None:
    page = admin.get("/admin")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert TOKEN not in page.text
    for asset in ("/static/admin.js", "/static/admin.css"):
        assert asset in page.text
        assert admin.get(asset).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    script = admin.get("/static/admin.js").text
    assert "innerHTML" not in script and "sessionStorage" in script and "localStorage" not in script


def test_an_unset_token_is_made_once_and_printed(
    make_client: ClientFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(admin_token=None)
    token = settings_of(client).admin_token
    assert token and len(token) >= 24
    printed = capsys.readouterr().err
    assert printed.count(token) == 1
    assert client.get("/admin/api/rooms", headers=bearer(token)).status_code == 200


def test_the_server_that_starts_workers_settles_the_token_in_their_environment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ: dict[str, str] = {}
    token = settle_admin_token(environ)
    assert token and environ[TOKEN_VARIABLE] == token
    assert capsys.readouterr().err.count(token) == 1
    assert settle_admin_token(environ) is None  # already settled: kept, not printed again
    assert environ[TOKEN_VARIABLE] == token and capsys.readouterr().err == ""
    assert settle_admin_token({TOKEN_VARIABLE: "set-by-operator"}) is None


def test_events_are_logged_one_line_each_with_room_and_player_ids(
    admin: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asgi_mmo")
    room = create_room(admin)
    with admin.websocket_connect(ws_url(name="alice", room=room)) as ws:
        player = next_of(ws, "welcome")["player"]
        ws.send_json({"type": "leave"})
        expect_close(ws, 1000, None)
    with admin.websocket_connect(ws_url(name="bad<name>", room=room)) as ws:
        expect_close(ws, 4400, "bad_name")
    admin.delete(f"/admin/api/rooms/{room}", headers=bearer())
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("asgi_mmo")]
    assert all("\n" not in line for line in lines)
    expected = [
        f"room created room={room} ",
        f"player joined room={room} player={player} ",
        f"player left room={room} player={player} reason=leave",
        "player refused room=",
        f"room closed by admin room={room}",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, lines)


@pytest.mark.e2e
@pytest.mark.browser
def test_the_dashboard_in_chromium_signs_in_follows_a_room_live_and_closes_it(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    env = {"ASGI_MMO_ADMIN_TOKEN": TOKEN, "ASGI_MMO_DB": str(tmp_path / "board.sqlite3")}
    with run_uvicorn(env=env, cwd=tmp_path) as server, sync_playwright() as playwright:
        room = httpx.post(server.url + "/api/rooms", json={"bots": 2}).json()["id"]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            failures: list[str] = []
            page.on("pageerror", lambda error: failures.append(str(error)))
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(server.url + "/admin")
            page.fill("#token", "wrong")
            page.click("#login-form button")
            expect(page.locator("#login-error")).to_have_text("That token was refused.")
            page.fill("#token", TOKEN)
            page.click("#login-form button")
            row = page.locator(f"#rooms-body tr[data-room='{room}']")
            expect(row).to_contain_text("0 / 32")
            with connect(f"{server.ws_url}?name=Zoë&room={room}") as ws:
                assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
                ws.send(json.dumps({"type": "ping", "t": 1, "rtt": 7}))
                expect(row).to_contain_text("1 / 32")  # live: she joined after the page loaded
                row.locator("button.link").click()
                players = page.locator("#players-body")
                expect(players).to_contain_text("Zoë")
                expect(players.locator("tr", has_text="Zoë")).to_contain_text("7.00")
                expect(players.locator("tr", has_text="bot")).to_have_count(2)
                drawn = "id => { const c = document.getElementById(id); const d = c.getContext('2d')" \
                    ".getImageData(0, 0, c.width, c.height).data; let n = 0;" \
                    " for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }"
                assert page.evaluate(drawn, "chart-players") > 1000  # the canvas chart has a picture
                page.click("#room-close")
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        ws.recv(timeout=5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            expect(row).to_have_count(0)
            expect(page.locator("#room-panel")).to_be_hidden()
            assert page.evaluate("sessionStorage.getItem('asgi-mmo-admin-token')") == TOKEN
            assert page.evaluate("localStorage.length") == 0
            assert failures == []
        finally:
            browser.close()
