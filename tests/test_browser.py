"""The lobby and game pages in a real chromium, against a real uvicorn process."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest

from tests.browser_support import (
    ARROWS,
    Pages,
    attribute,
    join,
    normalised,
    roomier_turn,
    watching,
)
from tests.servers import ServerProcess, create_room, run_uvicorn

if TYPE_CHECKING:  # the module loads without Playwright; require_chromium says what is missing
    from playwright.sync_api import Browser, Expect, Page

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.__pwned=1>"
# Background and arena colours of the canvas (static/snake-view.js).
BACKGROUND = {(7, 10, 18), (11, 17, 32)}


@pytest.fixture(scope="module")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("browser-server")
    with run_uvicorn(env={"ASGI_MMO_DB": str(work / "leaderboard.sqlite3")}, cwd=work) as running:
        yield running


def swipe(page: Page, dx: int, dy: int) -> None:
    """A touch swipe over the field, as pointer events (Playwright only taps)."""
    page.evaluate(
        """([dx, dy]) => {
        const stage = document.getElementById("stage");
        const box = stage.getBoundingClientRect();
        const x = box.left + box.width / 2, y = box.top + box.height / 2;
        const fire = (type, f) => stage.dispatchEvent(new PointerEvent(type, {
          pointerId: 7, pointerType: "touch", isPrimary: true, bubbles: true,
          clientX: x + dx * f, clientY: y + dy * f}));
        fire("pointerdown", 0); fire("pointermove", 0.5); fire("pointermove", 1); fire("pointerup", 1);
    }""",
        [dx, dy],
    )


def test_two_pages_see_each_other(server: ServerProcess, new_page: Pages, expect: Expect) -> None:
    room = create_room(server.url, width=40, height=30)
    ann, bob = new_page(), new_page(390, 844)
    join(ann, server.url, room, "Ann")
    join(bob, server.url, room, "Bob")
    for page in (ann, bob):
        expect(page.locator("#scores li", has_text="Ann")).to_have_count(1)
        expect(page.locator("#scores li", has_text="Bob")).to_have_count(1)
        # each row holds the name and the score as text
        assert re.search(r"Ann\b.*\b\d+", page.inner_text("#scores li:has-text('Ann')"), re.S)
        assert new_page.errors[page] == []
    expect(ann.locator("#scores li.me")).to_contain_text("Ann")
    expect(bob.locator("#scores li.me")).to_contain_text("Bob")


#: how the page is told to turn a snake besides the arrow keys: a WASD key, a finger's swipe (its dx, dy)
WASD = {"up": "KeyW", "down": "KeyS", "left": "KeyA", "right": "KeyD"}
SWIPES = {"up": (0, -60), "down": (0, 60), "left": (-60, 0), "right": (60, 0)}


def test_arrow_key_turns_the_snake_on_the_server(server: ServerProcess, new_page: Pages) -> None:
    # A big field at a slow tick rate, each turn away from the nearer wall: a snake that has
    # 48 cells or more ahead lives 10 s on this field whatever the machine's load.
    side = 100
    room = create_room(server.url, width=side, height=side, tick_rate=5)
    page = new_page()
    sent: list[str] = []  # what the page sent: a failure says whether the turn left the page
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame)[:120])))
    steering: list[tuple[str, Callable[[str], None]]] = [
        ("an arrow key", lambda way: page.keyboard.press(ARROWS[way])),
        ("WASD", lambda way: page.keyboard.press(WASD[way])),
        ("a finger swiping over the field", lambda way: swipe(page, *SWIPES[way])),
    ]
    # a spectator, so that no snake of the watcher's crosses the page's
    with watching(server.ws_url, name="Watcher", room=room, spectate=True) as watcher:
        player = join(page, server.url, room, "Steerer")
        watcher.wait_for("the page's snake", lambda: watcher.snake(player) is not None)

        def turns(how: str, steer: Callable[[str], None]) -> None:
            before = copy.deepcopy(watcher.snake_of(player))  # (the watcher's ticks change it in place)
            wanted = roomier_turn(before["body"][0], before["dir"], side, side)
            steer(wanted)
            watcher.wait_for(
                lambda: (
                    f"{how} turning the snake {wanted} "
                    f"(it was {before}, is {watcher.snake(player)}; the page sent {sent})"
                ),
                lambda: watcher.snake_of(player)["dir"] == wanted,
            )
            assert watcher.snake_of(player)["alive"], how

        for how, steer in steering:
            turns(how, steer)


def test_the_pages_picture_matches_the_servers(server: ServerProcess, new_page: Pages) -> None:
    """static/snake-delta.js and asgi_mmo.games.snake.rules.apply_delta agree, tick by tick."""
    room = create_room(server.url, width=30, height=20, bots=3, tick_rate=20)
    page = new_page()
    join(page, server.url, room, "Mirror")
    with watching(server.ws_url, name="Watcher", room=room) as watcher:

        def reached(tick: int) -> Callable[[], bool]:
            return lambda: watcher.tick >= tick

        watcher.keep_history = True
        compared = 0
        for key in ["ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft", "Space"] * 2:
            page.keyboard.press(key)  # steer in a small square; respawn if dead
            seen = page.evaluate("() => ({tick: __mmo.client.tick, state: __mmo.client.snapshot})")
            watcher.wait_for(f"tick {seen['tick']}", reached(seen["tick"]))
            if seen["tick"] in watcher.history:
                assert normalised(seen["state"]) == watcher.history[seen["tick"]]
                compared += 1
            watcher.wait_for("a few more ticks", reached(seen["tick"] + 3))
        assert compared >= 8


def test_a_dropped_connection_resumes_the_same_snake(server: ServerProcess, new_page: Pages) -> None:
    room = create_room(server.url, width=60, height=40, tick_rate=5)
    page = new_page()
    player = join(page, server.url, room, "Stayer")
    page.evaluate("() => __mmo.client.ws.close(4000)")  # as if the network dropped it
    page.wait_for_function("() => __mmo.client.status === 'reconnecting'")
    page.wait_for_function("() => __mmo.client.status === 'open'")
    assert page.get_attribute("#app", "data-player") == player
    tick = int(attribute(page, "#app", "data-tick"))
    page.wait_for_function("t => Number(document.getElementById('app').dataset.tick) > t", arg=tick + 2)
    # a reload resumes the seat too (its token is in sessionStorage)
    page.reload()
    page.wait_for_selector("#app[data-player]")
    assert page.get_attribute("#app", "data-player") == player
    assert "name=Stayer" in page.url


def test_canvas_draws_the_field(server: ServerProcess, new_page: Pages) -> None:
    room = create_room(server.url, width=40, height=30, bots=3)
    page = new_page()
    join(page, server.url, room, "Painter")
    page.wait_for_function("() => Number(document.getElementById('app').dataset.tick) > 0")
    page.wait_for_timeout(300)
    stats = page.evaluate(
        """() => {
        const c = document.getElementById("game");
        const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const colours = new Set();
        let bright = 0;
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
          colours.add(`${r},${g},${b}`);
          if (Math.max(r, g, b) > 120) bright++;
        }
        return {w: c.width, h: c.height, cssW: c.clientWidth, dpr: devicePixelRatio,
                bright, colours: [...colours].slice(0, 5000)};
    }"""
    )
    assert stats["w"] == round(stats["cssW"] * stats["dpr"])  # backing store follows the pixel ratio
    others = {tuple(map(int, c.split(","))) for c in stats["colours"]} - BACKGROUND
    assert len(others) > 20
    assert stats["bright"] > 500  # snakes, food and the border glow


def test_hostile_chat_is_shown_as_text(server: ServerProcess, new_page: Pages, expect: Expect) -> None:
    room = create_room(server.url)
    page = new_page()
    join(page, server.url, room, "Reader")
    with watching(server.ws_url, name="Mallory", room=room) as watcher:
        watcher.send({"type": "chat", "text": HOSTILE})
        page.fill("#chat-input", HOSTILE + " typed")
        page.press("#chat-input", "Enter")
        expect(page.locator("#chat-log li")).to_have_count(2)
        log = page.inner_text("#chat-log")
        assert HOSTILE in log and HOSTILE + " typed" in log
        assert "Mallory" in log
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#chat-log img").count() == 0
        assert new_page.errors[page] == []


def test_hostile_name_is_refused_in_words(server: ServerProcess, new_page: Pages, expect: Expect) -> None:
    room = create_room(server.url)
    page = new_page()
    page.goto(f"{server.url}/play/{room}?name={quote(HOSTILE)}")
    expect(page.locator("#banner")).to_contain_text("name can't be used")
    expect(page.locator("#name-form")).to_be_visible()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0
    # a good name from the form then joins
    page.fill("#name-input", "Honest")
    page.press("#name-input", "Enter")
    expect(page.locator("#scores li.me")).to_contain_text("Honest")
    assert "name=Honest" in page.url


def test_lobby_lists_rooms_and_creates_one(server: ServerProcess, new_page: Pages, expect: Expect) -> None:
    room = create_room(server.url)
    page = new_page(390, 844)
    page.goto(server.url + "/")
    expect(page.locator("#rooms-body")).to_contain_text(room)
    expect(page.locator("#leaders-empty, #leaderboard li").first).to_be_visible()
    # Play quick-joins, and the address becomes the room's
    page.fill("#name", "Quick")
    page.click("#play")
    page.wait_for_url(re.compile(r"/play/(?!quick)[^/?]+\?name=Quick"))
    expect(page.locator("#scores li.me")).to_contain_text("Quick")
    assert attribute(page, "#app", "data-room") in page.url
    # the name is remembered; Create makes a room and opens it
    page.goto(server.url + "/")
    expect(page.locator("#name")).to_have_value("Quick")
    page.fill("#name", "Maker")
    page.click("#create-form label:has-text('Private')")
    page.click("#create")
    page.wait_for_url(re.compile(r"/play/[^/?]+\?name=Maker"))
    expect(page.locator("#scores li.me")).to_contain_text("Maker")
    assert new_page.errors[page] == []


def test_the_page_plays_on_after_a_server_restart(new_page: Pages, expect: Expect, tmp_path: Path) -> None:
    env = {"ASGI_MMO_DB": str(tmp_path / "leaderboard.sqlite3"), "ASGI_MMO_SHUTDOWN_GRACE_SECONDS": "1"}
    page = new_page()
    with run_uvicorn(env=env, cwd=tmp_path) as first:
        room = create_room(first.url)
        join(page, first.url, room, "Phoenix")
        expect(page.locator("#scores li.me")).to_contain_text("Phoenix")
        first.stop()
        expect(page.locator("#app")).to_have_attribute("data-status", re.compile("reconnecting|connecting"))
        port = first.port
    with run_uvicorn(env=env, port=port, cwd=tmp_path) as second:
        # the seat died with the old process: the page quick-joins a new room under the same name
        page.wait_for_function(
            "r => document.getElementById('app').dataset.room !== r && "
            "document.getElementById('app').dataset.status === 'open'",
            arg=room,
            timeout=15_000,
        )
        new_room = attribute(page, "#app", "data-room")
        assert f"/play/{new_room}?" in page.url and "name=Phoenix" in page.url
        expect(page.locator("#scores li.me")).to_contain_text("Phoenix")
        tick = int(page.get_attribute("#app", "data-tick") or 0)
        page.wait_for_function("t => Number(document.getElementById('app').dataset.tick) > t", arg=tick + 3)
        rooms = {r["id"]: r for r in httpx.get(second.url + "/api/rooms").json()["rooms"]}
        assert rooms[new_room]["players"] == 1
