"""View rooms in chromium: the JavaScript view applier, and the world on the game page.

The applier: the frames come from a view room stepped in this process (as in
tests/test_views.py); the page applies them with static/snake-view-delta.js and hands
back its picture after every frame, which must equal the Python picture's.

The game page, against a real uvicorn, at a phone's size and a desktop's: in a view room
the canvas fills the window, the camera keeps the own head well inside it while the snake
crosses the field, a resize (or a phone turned) asks the server for the view that fits
(once it settles), the minimap is drawn with the player's rectangle, and the lobby's
world button puts two players into the one world.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import orjson
import pytest

from asgi_mmo.games.snake.viewdelta import ViewPicture, inside
from tests.browser_support import ARROWS, Pages, attribute, join, roomier_turn
from tests.servers import ServerProcess, connect, create_room, run_uvicorn
from tests.test_views import Viewer, stepping, view_room

if TYPE_CHECKING:  # the module loads without Playwright; require_chromium says what is missing
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

MODULE = Path(__file__).resolve().parent.parent / "static" / "snake-view-delta.js"
ORIGIN = "http://views.test"
FIELD = (60, 40)
EVERYTHING = {"x": 0, "y": 0, "width": FIELD[0], "height": FIELD[1]}

Recording = list[tuple[dict[str, Any], list[dict[str, Any]], list[Any]]]


async def _record() -> Recording:
    """Per viewer: its welcome, its frames, and the Python picture after each frame."""
    rng = random.Random(11)
    room = view_room(*FIELD, bots=8, seed=4)
    recorded: Recording = []
    async with stepping() as tasks:
        viewers = [Viewer(room, tasks, name, size) for name, size in (("a", (16, 16)), ("b", (24, 20)))]
        frames: list[list[dict[str, Any]]] = [[] for _ in viewers]
        pictures: list[list[Any]] = [[] for _ in viewers]
        for step in range(1, 201):
            room.step(step / 10)
            for index, viewer in enumerate(viewers):
                for frame in viewer.take():
                    if frame["type"] in ("tick", "state"):
                        frames[index].append(frame)
                        pictures[index].append(inside(viewer.picture.snapshot(), EVERYTHING))
                if rng.random() < 0.2:
                    viewer.send({"dir": rng.choice(["up", "down", "left", "right"])})
                if rng.random() < 0.1:
                    viewer.send({"respawn": True})
            if step % 50 == 0:
                viewers[0].connection.needs_state = True
        for index, viewer in enumerate(viewers):
            recorded.append((viewer.welcome, frames[index], pictures[index]))
    return recorded


@pytest.fixture(scope="module")
def recording() -> Recording:
    with ThreadPoolExecutor(1) as thread:  # its own event loop, away from Playwright's
        return thread.submit(anyio.run, _record).result()


APPLY = """async ([welcome, frames]) => {
  const m = await import("/snake-view-delta.js");
  let picture = m.viewPicture(welcome.view, welcome.state);
  const seen = [];
  for (const frame of frames) {
    if (frame.type === "state") picture = m.viewPicture(frame.view, frame.state);
    else m.applyViewTick(picture, frame);
    seen.push(m.viewSnapshot(picture));
  }
  return seen;
}"""


def test_the_javascript_view_applier_agrees_with_the_python_one(browser: Browser, recording: Recording) -> None:
    page = browser.new_page()
    page.route(f"{ORIGIN}/", lambda route: route.fulfill(body="<!doctype html><title>views</title>",
                                                          content_type="text/html"))  # fmt: skip
    page.route(f"{ORIGIN}/snake-view-delta.js",
               lambda route: route.fulfill(body=MODULE.read_text(), content_type="text/javascript"))  # fmt: skip
    page.goto(f"{ORIGIN}/")
    compared = 0
    for welcome, frames, pictures in recording:
        seen = page.evaluate(APPLY, [welcome, frames])
        assert len(seen) == len(frames) == len(pictures)
        for tick, (picture, python) in enumerate(zip(seen, pictures, strict=True)):
            assert inside(picture, EVERYTHING) == python, f"frame {tick}"
            compared += 1
        assert ViewPicture.of(welcome["view"], welcome["state"]).view == welcome["view"]
    assert compared >= 390
    page.close()


# ---- the game page in a view room ------------------------------------------------------------

SIZES = [(390, 844), (1280, 800)]
STEPS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


@pytest.fixture(scope="module")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("views-browser-server")
    with run_uvicorn(env={"ASGI_MMO_DB": str(work / "leaderboard.sqlite3")}, cwd=work) as running:
        yield running


#: what the page shows: the canvas, the own head on it, the view the server holds, the wanted one
LOOK = """() => {
  const v = __mmo.view.snakeView, s = __mmo.client.snapshot, me = v.mySnake();
  const c = document.getElementById("game"), box = c.getBoundingClientRect();
  return {canvas: {x: box.x, y: box.y, width: box.width, height: box.height, css: [c.clientWidth, c.clientHeight]},
          window: {width: innerWidth, height: innerHeight,
                   scrollW: document.scrollingElement.scrollWidth, scrollH: document.scrollingElement.scrollHeight},
          head: v.headOnScreen(), view: s && s.view, field: s && [s.width, s.height],
          wanted: __mmo.view.wantedView(), cell: v.viewCell(), minimap: v.minimapBox,
          me: me && {alive: me.alive, dir: me.dir, waiting: Boolean(me.waiting), head: me.body[0] || null}};
}"""

#: the view the page wants now is the one the server holds (clamped to the field)
HOLDS_WANTED = """() => {
  const s = __mmo.client.snapshot, w = __mmo.view.wantedView();
  return Boolean(s && s.view && w && s.view.width === Math.min(w.width, s.width)
                 && s.view.height === Math.min(w.height, s.height));
}"""


def look(page: Page) -> dict[str, Any]:
    seen: dict[str, Any] = page.evaluate(LOOK)
    return seen


def steer(page: Page, me: dict[str, Any], field: list[int]) -> None:
    """Keep going; turn before a wall, towards the side with more room."""
    if me["waiting"]:
        page.keyboard.press(ARROWS[me["dir"]])
        return
    (x, y), (dx, dy) = me["head"], STEPS[me["dir"]]
    if 6 <= x + dx * 6 < field[0] - 6 and 6 <= y + dy * 6 < field[1] - 6:
        return
    page.keyboard.press(ARROWS[roomier_turn(me["head"], me["dir"], *field)])


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_in_a_view_room_the_field_fills_the_window_and_the_head_stays_well_inside(
    server: ServerProcess, new_page: Pages, width: int, height: int
) -> None:
    phone = width < 760
    room = create_room(server.url, view=True, width=200, height=140, tick_rate=24)
    page = new_page(width, height, touch=phone)
    join(page, server.url, room, "Roamer")
    assert attribute(page, "#app", "data-view") == "true"
    page.wait_for_function(HOLDS_WANTED, timeout=30_000)  # the size asked on connecting is the one that fits
    seen = look(page)
    canvas, window = seen["canvas"], seen["window"]
    # the field fills the window: the whole width on a phone (the scores float over it), all
    # but the side panel on a desktop; all the height under the top bar; nothing scrolls
    assert canvas["y"] < 60 and abs(canvas["y"] + canvas["height"] - height) < 1
    assert canvas["x"] == 0 and canvas["width"] >= (width if phone else width - 310)
    assert window["scrollW"] <= width and window["scrollH"] <= height
    # the view asked for is the cells that cover the canvas at the page's cell size
    cell = seen["cell"]
    assert cell >= 14
    css_width, css_height = canvas["css"]
    assert seen["wanted"] == {"width": math.ceil(css_width / cell), "height": math.ceil(css_height / cell)}
    rects: set[tuple[int, int]] = set()
    inside_count = 0
    deadline = time.monotonic() + 60  # (a few seconds, unless the machine is very busy)
    while (inside_count < 20 or len(rects) < 3) and time.monotonic() < deadline:
        seen = look(page)
        me, head = seen["me"], seen["head"]
        if me is None or not me["alive"]:
            page.keyboard.press("Space")  # (a stone or a wall: play again)
        else:
            steer(page, me, seen["field"])
        if head is not None and me is not None and me["alive"] and not me["waiting"]:
            margin = 3 * head["cell"]  # well inside: at least 3 cells from every edge
            assert margin <= head["x"] <= head["width"] - margin, seen
            assert margin <= head["y"] <= head["height"] - margin, seen
            inside_count += 1
            rects.add((seen["view"]["x"], seen["view"]["y"]))
        page.wait_for_timeout(80)
    assert inside_count >= 20
    assert len(rects) >= 3, "the snake crossed the field: its view moved"
    # the minimap: drawn in the top left corner with the player's rectangle, from a `minimap`
    page.wait_for_function(
        "() => __mmo.view.snakeView.minimapBox && __mmo.view.snakeView.minimapBox.tick !== null", timeout=30_000
    )
    box = look(page)["minimap"]
    assert box["x"] >= 0 and box["y"] >= 0 and box["width"] >= 60
    assert box["x"] + box["width"] < canvas["width"] / 2 and box["y"] + box["height"] < canvas["height"] / 2
    mark = box["mark"]  # the player's rectangle on the minimap, as last drawn
    assert box["x"] <= mark["x"] and mark["x"] + mark["width"] <= box["x"] + box["width"] + 1
    white = page.evaluate(
        """() => new Promise((done) => requestAnimationFrame(() => {
        const v = __mmo.view.snakeView, d = v.dpr, mark = v.minimapBox.mark;
        const px = Math.floor((mark.x + 0.5) * d), py = Math.floor((mark.y + mark.height / 2) * d);
        done(Array.from(v.ctx.getImageData(px, py, 1, 1).data.slice(0, 3)));
    }))"""
    )
    assert min(white) > 200, f"the player's rectangle is marked in white: {white}"
    if phone:  # the folded scores float over the field, clear of the minimap
        scores = page.locator("#panel-scores").bounding_box()
        assert scores is not None and scores["x"] > canvas["x"] + box["x"] + box["width"]
        assert not page.is_visible("#chat-form")
    assert new_page.errors[page] == []


@pytest.mark.parametrize(("before", "after"), [((1280, 800), (900, 620)), ((390, 844), (844, 390))])
def test_a_resize_asks_for_the_view_that_fits_once_it_settles(
    server: ServerProcess, new_page: Pages, before: tuple[int, int], after: tuple[int, int]
) -> None:
    room = create_room(server.url, view=True, width=300, height=300, tick_rate=10)
    page = new_page(*before, touch=before[0] < 760)
    join(page, server.url, room, "Turner")
    page.wait_for_function(HOLDS_WANTED, timeout=30_000)
    old = look(page)
    page.evaluate(
        """() => {
        const client = __mmo.client, send = client._send.bind(client);
        window.__views = [];
        client._send = (msg) => {
          if (msg.type === "view") window.__views.push({ msg, at: performance.now() });
          send(msg);
        };
    }"""
    )
    # a drag of the window's corner: many sizes within a moment, then the last one stays
    steps = 6
    for i in range(1, steps + 1):
        page.set_viewport_size({
            "width": before[0] + (after[0] - before[0]) * i // steps,
            "height": before[1] + (after[1] - before[1]) * i // steps,
        })  # fmt: skip
        page.wait_for_timeout(30)
    page.wait_for_function(HOLDS_WANTED, timeout=30_000)
    new = look(page)
    assert (new["view"]["width"], new["view"]["height"]) != (old["view"]["width"], old["view"]["height"])
    sent = page.evaluate("() => window.__views")
    # once the size settles (on a busy machine a step may settle too), never more than one
    # every half second, and the last one is the size that fits
    assert 1 <= len(sent) <= steps, sent
    assert all(later["at"] - earlier["at"] >= 490 for earlier, later in itertools.pairwise(sent)), sent
    assert sent[-1]["msg"] == {"type": "view", **new["wanted"]}
    assert new_page.errors[page] == []


def test_the_minimap_arrives_at_most_once_a_second_on_a_real_socket(server: ServerProcess) -> None:
    room = create_room(server.url, view=True, width=200, height=200, bots=4)
    arrivals: list[tuple[float, int]] = []
    with connect(f"{server.ws_url}?name=Ann&room={room}&view=32x24", open_timeout=10) as ws:
        started = time.monotonic()
        while time.monotonic() - started < 3.3:
            message = orjson.loads(ws.recv(timeout=5))
            if message["type"] == "minimap":
                arrivals.append((time.monotonic(), message["tick"]))
        elapsed = time.monotonic() - started
    assert 2 <= len(arrivals) <= elapsed + 1.5, arrivals  # the first at once, then one a second
    for (before, tick_before), (after, tick_after) in itertools.pairwise(arrivals):
        assert tick_after > tick_before
        # the server keeps a second between two; a busy machine may bunch them a little
        assert after - before > 0.6, arrivals


def test_the_lobby_s_world_button_puts_two_players_into_the_one_world(server: ServerProcess, new_page: Pages) -> None:
    pages = [new_page(1280, 800), new_page(390, 844, touch=True)]
    for page, name in zip(pages, ["Ann", "Bea"], strict=True):
        page.goto(f"{server.url}/")
        page.fill("#name", name)
        page.click("#play-world")
        page.wait_for_url("**/play/world?**", timeout=30_000)
        page.wait_for_selector("#app[data-player]", timeout=30_000)
        assert attribute(page, "#app", "data-room") == "world"
        assert attribute(page, "#app", "data-view") == "true"
    rooms = httpx.get(f"{server.url}/api/rooms", timeout=5.0).json()["rooms"]
    worlds = [entry for entry in rooms if entry["id"] == "world"]
    assert len(worlds) == 1 and worlds[0]["view"] is True
    deadline = time.monotonic() + 10
    while worlds[0]["players"] != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        worlds = [e for e in httpx.get(f"{server.url}/api/rooms", timeout=5.0).json()["rooms"] if e["id"] == "world"]
    assert worlds[0]["players"] == 2
    for page in pages:
        assert new_page.errors[page] == []
