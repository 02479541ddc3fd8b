"""The lobby and game pages as HTML (asgi_mmo/web/pages.py): which game a page loads, the
404 page of a room that does not exist, and the shell every page shares (templates/base.html,
game.html). The pages in a browser: tests/test_browser*.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from asgi_mmo.exceptions import BackendUnavailable
from asgi_mmo.games.catalog import DEFAULT_GAME
from tests.wsclient import ClientFactory


def app_attributes(html: str) -> dict[str, str]:
    """The data-* attributes of the game page's #app element."""
    match = re.search(r'<div id="app"(.*?)>', html, re.S)
    assert match, "no #app in the page"
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', match.group(1)))


def make_room(client: TestClient, **settings: object) -> str:
    answer = client.post("/api/rooms", json=settings)
    assert answer.status_code == 201, answer.text
    room: str = answer.json()["id"]
    return room


@pytest.mark.parametrize("game", ["snake", "arena"])
def test_a_rooms_page_loads_the_rooms_game(client: TestClient, game: str) -> None:
    room = make_room(client, game=game)
    page = client.get(f"/play/{room}", params={"game": "snake" if game == "arena" else "arena"})
    assert page.status_code == 200
    app = app_attributes(page.text)
    assert app["game"] == game  # the room's, whatever the address says
    assert app["game-module"] == f"/static/games/{game}.js"
    assert f'<link rel="modulepreload" href="/static/games/{game}.js">' in page.text
    assert client.get(app["game-module"]).status_code == 200


def test_a_room_of_another_process_is_found_in_the_directory(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = client.app.state.registry  # type: ignore[attr-defined]
    asked: list[str] = []

    async def details(room_id: str) -> dict[str, Any] | None:
        asked.append(room_id)
        return {"id": room_id, "game": "arena", "players": []} if room_id == "elsewhere" else None

    monkeypatch.setattr(registry, "room_details", details)
    page = client.get("/play/elsewhere")
    assert page.status_code == 200 and app_attributes(page.text)["game"] == "arena"
    assert client.get("/play/nowhere").status_code == 404
    assert asked == ["elsewhere", "nowhere"]


def test_quick_play_loads_the_asked_game_or_the_default(client: TestClient) -> None:
    assert app_attributes(client.get("/play/quick").text)["game"] == DEFAULT_GAME
    app = app_attributes(client.get("/play/quick", params={"game": "arena", "name": "Ann"}).text)
    assert (app["game"], app["quick"]) == ("arena", "true")
    missing = client.get("/play/quick", params={"game": "chess"})
    assert missing.status_code == 404 and "No such game" in missing.text


def test_an_unknown_room_answers_a_404_page_without_the_game(client: TestClient) -> None:
    page = client.get("/play/%3Cb%3Egone", headers={"host": "game.example:8000"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"  # the room may exist later
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "No such room" in page.text and "does not exist" in page.text
    assert "&lt;b&gt;gone" in page.text and "<b>gone" not in page.text
    assert 'href="/"' in page.text  # the way back to the lobby
    assert "play.js" not in page.text and 'id="name-form"' not in page.text


def test_an_unreachable_directory_answers_a_503_page(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unreachable(room_id: str) -> None:
        raise BackendUnavailable("redis://127.0.0.1:1 does not answer")

    monkeypatch.setattr(client.app.state.registry, "room_details", unreachable)  # type: ignore[attr-defined]
    page = client.get("/play/somewhere")
    assert page.status_code == 503
    assert "be reached right now" in page.text and "127.0.0.1" not in page.text


def test_the_lobby_names_the_default_game_and_where_game_modules_are(client: TestClient) -> None:
    page = client.get("/")
    assert f'data-default-game="{DEFAULT_GAME}"' in page.text
    assert 'data-game-module="/static/games/GAME.js"' in page.text


class _Elements(HTMLParser):
    """Every element's tag and attributes, in document order, and which of them stand in <head>."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.head: list[tuple[str, dict[str, str]]] = []
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if self._in_head:
            self.head.append(element)
        self._in_head = self._in_head or tag == "head"

    def handle_endtag(self, tag: str) -> None:
        self._in_head = self._in_head and tag != "head"


def elements_of(html: str) -> _Elements:
    parsed = _Elements()
    parsed.feed(html)
    return parsed


def test_every_page_wears_the_same_shell(make_client: ClientFactory, tmp_path: Path) -> None:
    client = make_client(admin_token="secret", recordings_dir=str(tmp_path / "recordings"))
    made = client.post("/api/rooms", json={"record": True}, headers={"Authorization": "Bearer secret"})
    assert made.status_code == 201, made.text
    room, recording = made.json()["id"], made.json()["recording"]
    pages = {"lobby": "/", "play": f"/play/{room}", "watch": f"/watch/{room}", "replay": f"/replay/{recording}",
             "missing": "/play/nowhere", "admin": "/admin"}  # fmt: skip
    for page, path in pages.items():
        html = client.get(path).text
        assert html.startswith('<!doctype html>\n<html lang="en">'), page
        head = elements_of(html).head
        metas = {attrs.get("name", "charset"): attrs.get("content", attrs.get("charset")) for tag, attrs in head
                 if tag == "meta"}  # fmt: skip
        links = [(attrs["rel"], attrs["href"]) for tag, attrs in head if tag == "link"]
        links = [link for link in links if link[0] != "modulepreload"]  # the game page's module, seen elsewhere
        dashboard = page == "admin"  # a page for operators' screens, not a game on a phone
        assert (metas["charset"], metas["color-scheme"]) == ("utf-8", "dark"), page
        viewport = "width=device-width, initial-scale=1" + ("" if dashboard else ", viewport-fit=cover")
        assert metas["viewport"] == viewport, page
        assert ("theme-color" in metas) is not dashboard, page
        assert (metas.get("robots") == "noindex") is (page in ("admin", "replay")), page
        look = "/static/admin.css" if dashboard else "/static/style.css"
        assert links[:3] == [("icon", "/static/icons/favicon.svg"), ("stylesheet", "/static/palette.css"),
                             ("stylesheet", look)], page  # fmt: skip
        scripts = [attrs["src"] for tag, attrs in head if tag == "script"]
        assert scripts == ([] if page == "missing" else [f"/static/{page}.js"]), page  # its own script, no other


@pytest.mark.parametrize(("page", "back"), [("play", "/"), ("watch", "/"), ("replay", "/admin")])
def test_the_room_pages_share_the_game_layout(make_client: ClientFactory, tmp_path: Path, page: str, back: str) -> None:
    client = make_client(admin_token="secret", recordings_dir=str(tmp_path / "recordings"))
    made = client.post("/api/rooms", json={"record": True, "game": "arena"}, headers={"Authorization": "Bearer secret"})
    assert made.status_code == 201, made.text
    html = client.get(f"/{page}/{made.json()['recording' if page == 'replay' else 'id']}").text
    app = app_attributes(html)
    assert (app["game"], app["game-module"]) == ("arena", "/static/games/arena.js")
    elements = elements_of(html).elements
    body = next(attrs for tag, attrs in elements if tag == "body")
    assert body["class"] == "play"
    brand = next(attrs for tag, attrs in elements if tag == "a" and "brand" in attrs.get("class", ""))
    assert (brand["class"], brand["href"]) == ("brand brand-small", back)
    ids = [attrs["id"] for _, attrs in elements if "id" in attrs]
    assert ids.count("game") == 1 and ids.count("scores") == 1 and ids.count("chat-log") == 1
    assert ids.index("app") < ids.index("stage") < ids.index("scores") < ids.index("chat-log")
