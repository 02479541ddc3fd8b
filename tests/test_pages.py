"""The lobby and game pages as HTML (asgi_mmo/web/pages.py): which game a page loads, and the
404 page of a room that does not exist. The pages in a browser: tests/test_browser*.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from asgi_mmo.exceptions import BackendUnavailable
from asgi_mmo.games.catalog import DEFAULT_GAME


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
