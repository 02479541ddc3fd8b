"""The game page as a player meets it (issue 14, "Playing"), in a real chromium against a
real uvicorn: the start grace, name labels, the own snake, the death card, the score list,
one row per player, and who is in a room before joining."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from asgi_mmo.games.snake.rules import PALETTE
from tests.browser_support import ARROWS, Pages, join, watching
from tests.servers import ServerProcess, create_room, run_uvicorn

if TYPE_CHECKING:  # the module loads without Playwright; require_chromium says what is missing
    from playwright.sync_api import Browser, Expect, Page

pytestmark = pytest.mark.browser

SIZES = [(390, 844), (1280, 800)]
# static/snake-view.js ME_COLOR: the own snake's colour
ME_COLOR = (0x2E, 0xE6, 0xA8)


@pytest.fixture(scope="module")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("ui-play-server")
    with run_uvicorn(env={"ASGI_MMO_DB": str(work / "leaderboard.sqlite3")}, cwd=work) as running:
        yield running


def head_pixel(page: Page) -> tuple[int, int, int]:
    """The canvas colour at the middle of the own snake's head, in CSS px of the view."""
    rgb: list[int] = page.evaluate(
        """() => {
        const v = __mmo.view.snakeView, me = v.mySnake(), L = v._layout();
        const [x, y] = me.body[0];
        const px = Math.round((L.ox + (x + 0.5) * L.cell) * v.dpr);
        const py = Math.round((L.oy + (y + 0.5) * L.cell) * v.dpr);
        return Array.from(v.ctx.getImageData(px, py, 1, 1).data.slice(0, 3));
    }"""
    )
    return rgb[0], rgb[1], rgb[2]


def test_a_new_snake_stands_with_a_countdown_until_a_key_starts_it(server: ServerProcess, new_page: Pages) -> None:
    # Fast ticks on a small field: without the grace a snake hits a wall within 2 s.
    rate = 24
    room = create_room(server.url, width=40, height=30, tick_rate=rate)
    page = new_page()
    # The watcher is in the room before the page joins and reads every tick in order, so the
    # grace is checked in the room's own ticks from the snake's first one: however late the
    # watcher reads them on a busy machine, they say what the server did.
    with watching(server.ws_url, name="Watcher", room=room) as watcher:
        player = join(page, server.url, room, "Stander")
        page.wait_for_selector("#start-hint", state="visible")
        assert "press a key or swipe to start" in page.inner_text("#start-hint")
        assert page.evaluate("() => __mmo.view.snakeView.waitingSince !== null")  # the ring is drawn
        # the own snake wears the accent (no bot's colour), brightened towards white at the head
        assert "#2ee6a8" not in [c.lower() for c in PALETTE]
        red, green, blue = head_pixel(page)
        assert green > 200 and green > red + 40 and blue > red, (red, green, blue)
        watcher.wait_for("the page's snake", lambda: watcher.snake(player) is not None)
        first, body = watcher.tick, watcher.snake_of(player)["body"]
        stood, deadline = 0, time.monotonic() + 60
        # the grace is 3 s: 2.5 s of ticks without a key
        while watcher.tick < first + int(2.5 * rate) and time.monotonic() < deadline:
            watcher.pump(5.0)
            snake = watcher.snake_of(player)
            assert snake["alive"] and snake["body"] == body, "the snake moved or died without a key"
            assert snake.get("waiting"), snake
            stood += 1
        assert watcher.tick >= first + int(2.5 * rate), "the room stopped ticking"
        assert stood >= 2 * rate, stood  # ticks, not a state that skipped them
        # a key in the direction it faces starts it all the same
        direction = watcher.snake_of(player)["dir"]
        key = ARROWS[direction]
        page.keyboard.press(key)
        watcher.wait_for("the snake moving", lambda: watcher.snake_of(player)["body"] != body, timeout=10.0)
        assert "waiting" not in watcher.snake_of(player)
    page.wait_for_selector("#start-hint", state="hidden")
    assert new_page.errors[page] == []


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_death_card_sits_at_the_fields_edge(
    server: ServerProcess, new_page: Pages, width: int, height: int
) -> None:
    room = create_room(server.url, width=40, height=30, tick_rate=24)
    page = new_page(width, height)
    join(page, server.url, room, "Crasher")
    direction = page.evaluate("() => __mmo.view.mine().dir")
    key = ARROWS[direction]
    page.keyboard.press(key)  # starts it; straight on into the wall
    page.wait_for_selector("#dead", state="visible", timeout=8000)
    card = page.locator("#dead").bounding_box()
    stage = page.locator("#stage").bounding_box()
    assert card is not None and stage is not None
    middle_y = stage["y"] + stage["height"] / 2
    assert card["y"] > middle_y, "the death card covers the middle of the field"
    assert card["y"] + card["height"] <= stage["y"] + stage["height"]
    assert card["x"] >= stage["x"] and card["x"] + card["width"] <= stage["x"] + stage["width"]
    assert card["height"] < stage["height"] * 0.3
    page.keyboard.press("Space")
    page.wait_for_selector("#dead", state="hidden")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_name_labels_never_overlap_nor_leave_the_field(
    server: ServerProcess, new_page: Pages, width: int, height: int
) -> None:
    room = create_room(server.url, width=40, height=30, bots=30, tick_rate=10)
    page = new_page(width, height)
    join(page, server.url, room, "Labelled")
    for _ in range(12):
        page.wait_for_timeout(150)  # a frame later: the snakes have moved
        frame = page.evaluate(
            """() => {
            const v = __mmo.view.snakeView, L = v._layout(), s = v.snapshot;
            return {labels: v.labels || [], w: s.width * L.cell, h: s.height * L.cell,
                    cw: v.cssW - L.ox, ch: v.cssH - L.oy, left: -L.ox, top: -L.oy};
        }"""
        )
        labels = frame["labels"]
        assert labels, "no name is drawn"
        for i, a in enumerate(labels):
            assert a["x"] >= max(0, frame["left"]) and a["y"] >= max(0, frame["top"]), a
            assert a["x"] + a["w"] <= min(frame["w"], frame["cw"]) + 0.01, a
            assert a["y"] + a["h"] <= min(frame["h"], frame["ch"]) + 0.01, a
            for b in labels[i + 1 :]:
                apart = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                apart = apart or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
                assert apart, f"labels overlap: {a} {b}"
        # the own name always gets its place while the snake is on the field
        if page.evaluate("() => __mmo.view.mine().alive"):
            assert "Labelled" in [label["text"] for label in labels]


def test_a_long_score_list_scrolls_by_whole_rows_and_says_how_many_more(
    server: ServerProcess, new_page: Pages, expect: Expect
) -> None:
    room = create_room(server.url, width=60, height=40, bots=16, tick_rate=5)
    page = new_page(1280, 800)
    join(page, server.url, room, "Counter")
    expect(page.locator("#scores li")).to_have_count(17)
    page.wait_for_selector("#scores-more", state="visible")

    def visible_rows() -> int:
        """Rows inside the list's visible box; fails on a row cut by its edge."""
        shown: int = page.evaluate(
            """() => {
            const list = document.getElementById("scores").getBoundingClientRect();
            let inside = 0;
            for (const li of document.querySelectorAll("#scores li")) {
                const r = li.getBoundingClientRect();
                if (r.bottom <= list.top + 0.5 || r.top >= list.bottom - 0.5) continue;
                if (r.top < list.top - 0.5 || r.bottom > list.bottom + 0.5) throw new Error("a row is cut");
                inside += 1;
            }
            return inside;
        }"""
        )
        return shown

    shown = visible_rows()
    assert 3 <= shown < 17
    expect(page.locator("#scores-more")).to_have_text(f"+{17 - shown} more ▾")
    page.click("#scores-more")  # scrolls a page on
    page.wait_for_function("() => document.getElementById('scores').scrollTop > 0")
    page.wait_for_timeout(600)  # the smooth scroll ends on a row (scroll-snap)
    visible_rows()
    assert new_page.errors[page] == []


def test_one_row_per_player_and_a_closed_tab_resumes_its_seat(server: ServerProcess, new_page: Pages) -> None:
    room = create_room(server.url, width=60, height=40, bots=2, tick_rate=5)
    page = new_page()
    player = join(page, server.url, room, "Ghost")
    # the same player id twice in the picture shows once, and counts once
    page.evaluate(
        """() => {
        const snap = __mmo.client.snapshot;
        snap.snakes.push(JSON.parse(JSON.stringify(snap.snakes.find((s) => s.id === __mmo.client.player))));
    }"""
    )
    page.wait_for_function("() => Number(document.getElementById('app').dataset.tick) > 0")
    page.wait_for_timeout(600)
    assert page.locator(f"#scores li[data-id='{player}']").count() == 1
    assert page.text_content("#players-count") == "1 playing · 2 bots"
    # a tab that navigates away (or closes) leaves its seat to the next tab of this browser
    page.goto(server.url + "/")
    again = page.context.new_page()
    again.goto(f"{server.url}/play/{room}?name=Ghost")
    again.wait_for_selector("#app[data-player]")
    assert again.get_attribute("#app", "data-player") == player
    again.wait_for_function("() => document.querySelectorAll('#scores li').length === 3")
    assert again.locator("#scores li", has_text="Ghost").count() == 1
    assert again.text_content("#players-count") == "1 playing · 2 bots"


@pytest.mark.parametrize("size", SIZES, ids=["phone", "desktop"])
def test_a_seat_kept_for_an_away_player_shows_dimmed_as_away_and_is_not_counted(
    server: ServerProcess, new_page: Pages, size: tuple[int, int]
) -> None:
    """Issue 14: "Ghost" drops, and opens the game again in a browser without the seat's token
    under the same name: a new seat (a name is no proof), and the kept one shows as away."""
    room = create_room(server.url, width=40, height=30, bots=0, tick_rate=5)
    first = new_page()
    kept = join(first, server.url, room, "Ghost")
    first.context.close()  # the socket drops: the room keeps the seat for seat_seconds
    page = new_page(*size)
    mine = join(page, server.url, room, "Ghost")
    assert mine != kept
    page.wait_for_selector(f"#scores li.away[data-id='{kept}']")
    away_row = page.locator(f"#scores li[data-id='{kept}']")
    own_row = page.locator(f"#scores li[data-id='{mine}']")
    assert away_row.locator(".away-tag").text_content() == "away"
    assert float(away_row.evaluate("(li) => getComputedStyle(li).opacity")) <= 0.6  # dimmed
    assert "away" not in (own_row.get_attribute("class") or "") and own_row.locator(".away-tag").count() == 0
    assert float(own_row.evaluate("(li) => getComputedStyle(li).opacity")) == 1
    assert page.text_content("#players-count") == "1 playing · 1 away"
    assert page.locator("#scores li", has_text="Ghost").count() == 2
    assert new_page.errors[page] == []


def test_an_invite_link_says_who_is_there_before_the_name(server: ServerProcess, new_page: Pages) -> None:
    room = create_room(server.url, width=40, height=30, bots=3, tick_rate=5)
    host = new_page()
    join(host, server.url, room, "Host")
    guest = new_page(390, 844)
    guest.goto(f"{server.url}/play/{room}")
    guest.wait_for_selector("#name-form", state="visible")
    guest.wait_for_selector("#room-people", state="visible")
    assert guest.inner_text("#room-people") == "1 player and 3 bots here"
    assert "Nobody here yet" not in guest.inner_text("#stage") + guest.inner_text(".side")
    # the count follows the room while the form waits (GET /api/rooms)
    second = new_page()
    join(second, server.url, room, "Second")
    guest.wait_for_function(
        "() => document.getElementById('room-people').textContent.startsWith('2 players')", timeout=8000
    )
    guest.fill("#name-input", "Guest")
    guest.click("#name-form button[type=submit]")
    guest.wait_for_selector("#app[data-player]")
    guest.wait_for_selector("#room-people", state="hidden")
