"""The pages on a phone and the dashboard (issue 14, "Phones" and "Operating"), in a real
chromium against a real uvicorn: nothing wider than the screen, Invite on phones, the
folded score list, the field's size on upright and turned phones, the lobby's touch help,
and the dashboard's rows and rates."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser_support import Pages, join
from tests.servers import ServerProcess, create_room, run_uvicorn

if TYPE_CHECKING:  # the module loads without Playwright; require_chromium says what is missing
    from playwright.sync_api import Browser, Expect, Page

pytestmark = pytest.mark.browser

ADMIN_TOKEN = "phones-test-token"


@pytest.fixture(scope="module")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("ui-phones-server")
    env = {"ASGI_MMO_DB": str(work / "leaderboard.sqlite3"), "ASGI_MMO_ADMIN_TOKEN": ADMIN_TOKEN}
    with run_uvicorn(env=env, cwd=work) as running:
        yield running


def assert_fits(page: Page, what: str) -> None:
    widths: list[int] = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1], f"{what} is {widths[0]} px wide in a {widths[1]} px screen"


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/admin")
    page.fill("#token", ADMIN_TOKEN)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#dashboard", state="visible")


@pytest.mark.parametrize("width", [390, 1280])
def test_no_page_is_wider_than_the_screen(server: ServerProcess, new_page: Pages, width: int) -> None:
    room = create_room(server.url, width=40, height=30, bots=14, tick_rate=5)
    page = new_page(width, 844 if width < 500 else 800)
    page.goto(server.url + "/")
    page.wait_for_selector("#rooms-body tr")
    assert_fits(page, "the lobby")
    join(page, server.url, room, "Wide")
    page.wait_for_selector("#scores li.me")
    assert_fits(page, "the game page")
    sign_in(page, server.url)
    page.wait_for_selector(f"#rooms-body tr[data-room='{room}']")
    page.click(f"#rooms-body tr[data-room='{room}'] td:nth-child(2)")
    page.wait_for_selector("#players-body tr")
    assert_fits(page, "the dashboard with a room open")
    for table in ("#rooms", "#players"):  # a wide table scrolls inside its card
        wrap = page.evaluate(f"() => document.querySelector('{table}').parentElement.getBoundingClientRect().right")
        assert wrap <= width


def test_a_phone_gets_the_field_invite_and_folded_scores(
    server: ServerProcess, new_page: Pages, expect: Expect
) -> None:
    room = create_room(server.url, width=40, height=30, bots=14, tick_rate=5)
    page = new_page(390, 844, touch=True)
    page.add_init_script("navigator.share = (data) => { window.__shared = data; return Promise.resolve(); };")
    player = join(page, server.url, room, "Thumb")
    expect(page.locator("#copy-link")).to_be_visible()
    page.click("#copy-link")
    page.wait_for_function("() => window.__shared !== undefined")
    shared = page.evaluate("() => window.__shared.url")
    assert shared == f"{server.url}/play/{room}"
    # folded: the field on top, the top three and the own row below it
    expect(page.locator("#scores li")).to_have_count(15)
    expect(page.locator(f"#scores li[data-id='{player}']")).to_be_visible()
    rank = int(page.inner_text(f"#scores li[data-id='{player}'] .rank"))
    expect(page.locator("#scores li:visible")).to_have_count(3 if rank <= 3 else 4)
    stage = page.locator("#stage").bounding_box()
    scores = page.locator("#panel-scores").bounding_box()
    assert stage is not None and scores is not None
    assert stage["width"] == 390 and stage["height"] > 1.5 * scores["height"]
    chat = page.locator("#chat-input").bounding_box()
    assert chat is not None and chat["y"] + chat["height"] < 844  # the chat fits on the first screen too
    page.click("#scores-toggle")
    expect(page.locator("#scores-toggle")).to_have_attribute("aria-expanded", "true")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#scores li')].filter((li) => li.offsetHeight).length > 5"
    )
    expect(page.locator("#scores-more")).to_be_visible()
    assert_fits(page, "the game page with the scores open")
    assert new_page.errors[page] == []


def test_the_lobby_speaks_of_touch_too(server: ServerProcess, new_page: Pages) -> None:
    page = new_page(390, 844)
    page.goto(server.url + "/")
    page.wait_for_function("() => document.getElementById('game-touch-controls').textContent.length > 0")
    footer = page.inner_text(".footer")
    assert "Arrows" in footer and re.search(r"swipe", footer, re.I)
    widths = page.evaluate("() => [...document.querySelectorAll('.card')].map((c) => c.getBoundingClientRect().width)")
    assert len(set(widths)) == 1, widths  # one width for every card on a phone


def test_the_dashboard_opens_a_room_on_a_row_click_and_keeps_rates(server: ServerProcess, new_page: Pages) -> None:
    keep = create_room(server.url, width=40, height=30, bots=6, tick_rate=20)
    gone = create_room(server.url, width=40, height=30, bots=6, tick_rate=20)
    players = [new_page(), new_page()]
    join(players[0], server.url, keep, "Keeper")
    join(players[1], server.url, gone, "Leaver")
    page = new_page()
    sign_in(page, server.url)
    page.wait_for_selector(f"#rooms-body tr[data-room='{gone}']")
    page.click(f"#rooms-body tr[data-room='{keep}'] td:nth-child(5)")  # a plain cell, not the id
    page.wait_for_selector("#room-panel", state="visible")
    page.wait_for_function(f"() => document.getElementById('room-id').textContent === '{keep}'")
    page.wait_for_selector("#players-body tr")
    page.wait_for_function("() => /\\/s$/.test(document.getElementById('t-msgs').textContent)")
    # a room closes: the tiles stay rates, never a running total
    answer = httpx.delete(
        f"{server.url}/admin/api/rooms/{gone}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5.0
    )
    assert answer.status_code == 204
    page.wait_for_selector(f"#rooms-body tr[data-room='{gone}']", state="detached")
    for _ in range(3):  # three polls after it
        before = page.inner_text("#status-text")
        page.wait_for_function("t => document.getElementById('status-text').textContent !== t", arg=before)
        assert page.inner_text("#t-msgs").endswith("/s"), page.inner_text("#t-msgs")
        assert page.inner_text("#t-bytes").endswith("/s"), page.inner_text("#t-bytes")
    assert new_page.errors[page] == []


#: the page's boxes, in CSS px of the viewport: [x, y, width, height]
BOXES_JS = """() => {
  const box = (el) => { const b = el.getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; };
  const q = (s) => document.querySelector(s);
  const stage = box(q('#stage'));
  const v = __mmo.view.snakeView, L = v._layout(), snap = __mmo.client.snapshot;
  return {
    stage, topbar: box(q('.topbar')), scores: box(q('#panel-scores')), chat: box(q('.panel-chat')),
    chatInput: box(q('#chat-input')), mine: box(q('#scores li.me')), follow: Boolean(L.follow),
    field: [stage[0] + L.ox, stage[1] + L.oy, snap.width * L.cell, snap.height * L.cell],
    page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight, innerWidth, innerHeight],
  };
}"""


def overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    across = a[0] < b[0] + b[2] - 0.5 and b[0] < a[0] + a[2] - 0.5
    return across and a[1] < b[1] + b[3] - 0.5 and b[1] < a[1] + a[3] - 0.5


def inside(inner: Sequence[float], outer: Sequence[float]) -> bool:
    return (
        inner[0] >= outer[0] - 0.5 and inner[1] >= outer[1] - 0.5
        and inner[0] + inner[2] <= outer[0] + outer[2] + 0.5 and inner[1] + inner[3] <= outer[1] + outer[3] + 0.5
    )  # fmt: skip


@pytest.mark.parametrize(
    ("width", "height", "field"),
    [(390, 844, (49, 49)), (390, 844, (40, 30)), (844, 390, (49, 49)), (844, 390, (40, 30)),
     (667, 375, (49, 49)), (1280, 800, (49, 49))],
    ids=["portrait-49x49", "portrait-40x30", "landscape-49x49", "landscape-40x30", "small-landscape", "desktop"],
)  # fmt: skip
def test_a_plain_room_s_field_takes_what_the_screen_gives_whole_and_uncovered(
    server: ServerProcess, new_page: Pages, width: int, height: int, field: tuple[int, int]
) -> None:
    """Issue 14: on a phone the field got 390x293 px while the scores took the rest. Now the
    field's box keeps the field's aspect at the full width of an upright phone (a square field:
    390 x 390) and the whole height of a turned one, the whole field is drawn in it, and the
    folded scores and the chat stay on the screen beside or below it, nothing overlapping."""
    room = create_room(server.url, width=field[0], height=field[1], bots=6, tick_rate=5)
    page = new_page(width, height, touch=width < 1000)
    join(page, server.url, room, "Field")
    page.wait_for_selector("#scores li.me")
    page.wait_for_timeout(300)  # the layout settles (fonts, the scores' fit)
    boxes = page.evaluate(BOXES_JS)
    stage, drawn = boxes["stage"], boxes["field"]
    screen = [0, 0, width, height]
    assert not boxes["follow"], "the whole field is drawn, no camera following a part of it"
    assert inside(drawn, stage) and inside(stage, screen), (drawn, stage)
    assert abs(drawn[2] / drawn[3] - field[0] / field[1]) * drawn[3] <= 2  # the field's own aspect
    assert boxes["page"][0] <= width, "nothing wider than the screen"
    for name in ("topbar", "scores", "chat"):
        assert not overlap(stage, boxes[name]), f"the field overlaps the {name}"
    assert not overlap(boxes["scores"], boxes["chat"])
    if width < height:  # upright: the full width, at the field's aspect
        assert stage[2] == width and abs(stage[2] / stage[3] - field[0] / field[1]) * stage[3] <= 2
        if field == (49, 49):
            assert stage[3] >= 0.45 * height and drawn[3] >= 0.9 * stage[3]
        # the folded scores start on the first screen, under the field
        assert boxes["scores"][1] >= stage[1] + stage[3] and boxes["scores"][1] + 40 <= height
    else:
        assert inside(boxes["mine"], screen) and inside(boxes["chatInput"], screen)
        assert boxes["page"][1] <= height, "a turned phone's page does not scroll"
        if height < 500:  # a turned phone: the field takes the whole height, the rest a column beside it
            assert stage[1] == 0 and stage[3] == height and stage[2] >= 0.6 * width
            assert drawn[3] >= 0.9 * height
            # the scores folded to the top three and the own row, all on the screen
            assert page.locator("#scores li.me").is_visible()
            shown = "() => [...document.querySelectorAll('#scores li')].filter((li) => li.offsetHeight).length"
            assert page.evaluate(shown) <= 4
        else:  # the desktop layout as it was: a top bar, the field, a 300 px column
            assert stage[1] == boxes["topbar"][3] and stage[2] == width - 300
    assert new_page.errors[page] == []
