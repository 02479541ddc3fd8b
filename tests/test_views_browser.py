"""static/snake-view-delta.js and the Python view applier agree, tick by tick, in chromium.

The frames come from a view room stepped in this process (as in tests/test_views.py);
the page applies them with the JavaScript module and hands back its picture after
every frame, which must equal the Python picture's.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from asgi_mmo.games.snake.viewdelta import ViewPicture, inside
from tests.test_views import Viewer, stepping, view_room

if TYPE_CHECKING:  # the module loads without Playwright; require_chromium says what is missing
    from playwright.sync_api import Browser

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
