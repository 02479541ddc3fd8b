"""The movement formula in docs/arena.md, run as JavaScript in chromium, gives
the very doubles the rules compute: what client-side prediction relies on."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asgi_mmo.games.arena import geometry
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, require_chromium

pytestmark = pytest.mark.browser

DOC = Path(__file__).parent.parent / "docs" / "arena.md"
STEPS = 60


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def documented_js() -> str:
    blocks = re.findall(r"```js\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/arena.md holds one JavaScript block: the movement formula"
    return str(blocks[0])


def cases(seed: int) -> list[dict[str, Any]]:
    """Ships with random sticks (some longer than 1), speeds, tick lengths and fields."""
    rng = random.Random(seed)
    sticks = [rng.uniform(-1, 1) for _ in range(4)] + [-1, 0, 1, 0.5, -0.0]
    found = []
    for _ in range(300):
        width, height = rng.choice([10, 60, 40, 1000, 137]), rng.choice([10, 40, 999])
        found.append({
            "x": geometry.quantize(rng.uniform(0.8, width - 0.8)),
            "y": geometry.quantize(rng.uniform(0.8, height - 0.8)),
            "sticks": [[rng.choice(sticks), rng.choice(sticks)] for _ in range(STEPS)],
            "speed": rng.choice([12.0, 1.0, 100.0, rng.uniform(1, 100)]),
            "dt": 1 / rng.choice([1, 7, 10, 20, 30, 60]),
            "width": width, "height": height, "r": 0.8,
        })  # fmt: skip
    return found


def python_paths(found: list[dict[str, Any]]) -> list[list[list[float]]]:
    paths = []
    for case in found:
        x, y, path = case["x"], case["y"], []
        for mx, my in case["sticks"]:
            vx, vy = geometry.velocity(mx, my, case["speed"])
            x, y = geometry.advance(x, y, vx, vy, case["dt"], case["width"], case["height"], case["r"])
            path.append([vx, vy, x, y])
        paths.append(path)
    return paths


RUN_JS = """(cases) => JSON.stringify(JSON.parse(cases).map((c) => {
  let x = c.x, y = c.y;
  return c.sticks.map(([mx, my]) => {
    const [vx, vy] = velocity(mx, my, c.speed);
    [x, y] = advance(x, y, vx, vy, c.dt, c.width, c.height, c.r);
    return [vx, vy, x, y];
  });
}))"""


@pytest.mark.parametrize("seed", [1, 2])
def test_javascript_predicts_the_servers_positions_to_the_last_bit(page: Any, seed: int) -> None:
    page.add_script_tag(content=documented_js())
    found = cases(seed)
    in_js = json.loads(page.evaluate(RUN_JS, json.dumps(found)))
    expected = python_paths(found)
    assert len(in_js) == len(expected) == 300
    for case, ours, theirs in zip(found, expected, in_js, strict=True):
        assert ours == theirs, case  # == on floats: exactly the same doubles
