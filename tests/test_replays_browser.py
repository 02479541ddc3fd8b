"""The spectator's and replay pages in a real chromium against a real uvicorn: the lobby's
Watch link shows a live room without taking a seat, and the replay page plays, pauses and
seeks a recording, drawing the same picture the Python delta applier makes of it."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from asgi_mmo.games.snake.delta import apply_delta
from asgi_mmo.replays import read_recording
from tests.browser_support import Pages, watching
from tests.servers import ServerProcess, create_room, run_uvicorn

if TYPE_CHECKING:  # the module loads without Playwright; require_chromium says what is missing
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

TOKEN = "replay-page-admin"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("replay-pages")
    env = {"ASGI_MMO_ADMIN_TOKEN": TOKEN, "ASGI_MMO_RECORDINGS_DIR": str(work / "recordings"),
           "ASGI_MMO_RECORDING_KEYFRAME_SECONDS": "1", "ASGI_MMO_DB": str(work / "board.sqlite3")}  # fmt: skip
    with run_uvicorn(env=env, cwd=work) as running:
        yield running


def tick_of(page: Page) -> int:
    return int(page.get_attribute("#app", "data-tick") or "-1")


def snakes_of(snapshot: dict[str, Any]) -> list[tuple[str, list[list[int]], int]]:
    return sorted((s["id"], s["body"], s["score"]) for s in snapshot["snakes"])


def test_the_lobbys_watch_link_shows_a_live_room_without_a_seat(server: ServerProcess, new_page: Pages) -> None:
    room = create_room(server.url, bots=2, tick_rate=10)
    with watching(server.ws_url, name="Player1", room=room) as player:
        page = new_page()
        page.goto(server.url + "/")
        link = page.locator(f"#rooms-body tr:has-text('{room}') a.room-watch")
        link.wait_for()
        assert link.inner_text() == "Watch"
        link.click()
        page.wait_for_url(f"**/watch/{room}")
        page.wait_for_selector('#app[data-spectator="true"]')
        assert page.is_visible("#watching") and page.inner_text("#watching").lower() == "watching"
        first = tick_of(page)
        deadline = time.monotonic() + 10
        while tick_of(page) < first + 5:  # the picture follows the room, tick after tick
            assert time.monotonic() < deadline, "the page's picture does not follow the room"
            player.pump(0.1)
        page.wait_for_function("() => document.querySelector('#scores').textContent.includes('Player1')")
        listed = next(r for r in httpx.get(server.url + "/api/rooms").json()["rooms"] if r["id"] == room)
        assert (listed["players"], listed["spectators"]) == (1, 1), "watching takes no seat"
        assert page.evaluate("() => __mmo.client.player") is None
    assert not new_page.errors.get(page), new_page.errors.get(page)


def test_a_spectator_page_moves_its_camera_in_a_view_room(server: ServerProcess, new_page: Pages) -> None:
    room = create_room(server.url, view=True, width=200, height=150, bots=4, tick_rate=10)
    with watching(server.ws_url, name="Player1", room=room) as player:
        page = new_page()
        page.goto(f"{server.url}/watch/{room}")
        page.wait_for_selector('#app[data-spectator="true"]')
        start = page.evaluate("() => __mmo.keeper.view")
        assert (start["width"], start["height"]) == (64, 40), "the default view size"
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowDown")
        deadline = time.monotonic() + 10
        corner = (start["x"] + 24, start["y"] + 8)  # three steps right, one down, of 8 cells
        while (now := page.evaluate("() => __mmo.keeper.view")) and (now["x"], now["y"]) != corner:
            assert time.monotonic() < deadline, (now, corner)
            player.pump(0.1)
        # The picture is the view's: what the page draws lies inside its rectangle.
        shown = page.evaluate("() => __mmo.keeper.snapshot")
        view = page.evaluate("() => __mmo.keeper.view")
        size = view["bucket"]  # the picture holds the buckets the rectangle touches, nothing beyond
        columns = range(view["x"] // size * size, ((view["x"] + view["width"] - 1) // size + 1) * size)
        rows = range(view["y"] // size * size, ((view["y"] + view["height"] - 1) // size + 1) * size)
        assert shown["food"] and all(x in columns and y in rows for x, y, *_ in shown["food"])
    assert not new_page.errors.get(page), new_page.errors.get(page)


def record(server: ServerProcess, room: str, ticks: int) -> str:
    """A recording of `ticks` ticks of `room`, played meanwhile by a steering player."""
    with watching(server.ws_url, name="Recorded", room=room) as player:
        started = httpx.post(f"{server.url}/admin/api/rooms/{room}/recording", headers=ADMIN, timeout=5)
        assert started.status_code == 201, started.text
        first = player.tick
        seq = 0
        while player.tick < first + ticks:
            player.pump(0.2)
            seq += 1
            player.send({"type": "input", "seq": seq, "data": {"dir": ["up", "left", "down", "right"][seq % 4]}})
        stopped = httpx.delete(f"{server.url}/admin/api/rooms/{room}/recording", headers=ADMIN, timeout=10)
        assert stopped.status_code == 200, stopped.text
    recording: str = started.json()["id"]
    return recording


def test_the_replay_page_plays_pauses_and_seeks(server: ServerProcess, new_page: Pages) -> None:
    room = create_room(server.url, bots=3, tick_rate=20)
    recording = record(server, room, 50)
    downloaded = httpx.get(f"{server.url}/admin/api/recordings/{recording}", headers=ADMIN, timeout=5).content
    path = Path(server.log_path.parent) / f"{recording}.copy.jsonl.gz"
    path.write_bytes(downloaded)
    _header, welcome, *rest = read_recording(path)
    frames = [welcome, *(line for line in rest if line["type"] in ("tick", "state"))]
    page = new_page()
    page.goto(f"{server.url}/replay/{recording}")
    page.fill("#token", "wrong")  # the admin token is asked for, and a wrong one refused
    page.click("#login button[type=submit]")
    page.wait_for_selector("#login-error", state="visible")
    page.fill("#token", TOKEN)
    page.click("#login button[type=submit]")
    page.wait_for_selector('#app[data-status="paused"]')
    assert tick_of(page) == welcome["tick"]
    assert page.evaluate("() => __replay.frames.length") == len(frames)
    page.click("#play")
    page.wait_for_function(f"() => Number(document.querySelector('#app').dataset.tick) >= {welcome['tick'] + 5}")
    page.click("#play")  # pause
    page.wait_for_selector('#app[data-status="paused"]')
    paused_at = tick_of(page)
    page.wait_for_timeout(300)
    assert tick_of(page) == paused_at, "a paused replay stands still"
    # Seek (the slider) to a frame past a keyframe; the page's picture equals the Python applier's.
    target = len(frames) - 3
    page.evaluate(
        f"() => {{ const s = document.querySelector('#seek'); s.value = '{target}';"
        " s.dispatchEvent(new Event('input')); }"
    )
    assert tick_of(page) == frames[target]["tick"]
    snapshot = copy.deepcopy(welcome["state"])
    for frame in frames[1 : target + 1]:
        snapshot = copy.deepcopy(frame["state"]) if frame["type"] == "state" else apply_delta(snapshot, frame)
    shown = json.loads(page.evaluate("() => JSON.stringify(__replay.snapshot)"))
    assert snakes_of(shown) == snakes_of(snapshot)
    assert sorted(map(tuple, shown["food"])) == sorted(map(tuple, snapshot["food"]))
    # Back to the start, faster, to the end: it stops there by itself.
    page.select_option("#speed", "4")
    page.evaluate("() => __replay.seek(0)")
    assert tick_of(page) == welcome["tick"]
    page.click("#play")
    page.wait_for_function(f"() => Number(document.querySelector('#app').dataset.tick) === {frames[-1]['tick']}")
    page.wait_for_selector('#app[data-status="paused"]')
    assert page.inner_text("#play") == "Play"
    assert not new_page.errors.get(page), new_page.errors.get(page)


def test_the_dashboard_watches_records_and_replays_a_room(server: ServerProcess, new_page: Pages) -> None:
    room = create_room(server.url, bots=2, tick_rate=20, private=True)
    with watching(server.ws_url, name="Player1", room=room) as player:
        page = new_page()
        page.goto(server.url + "/admin")
        page.fill("#token", TOKEN)
        page.click("#login-form button")
        row = page.locator(f'#rooms-body tr[data-room="{room}"]')
        row.wait_for()
        # (The rooms table is redrawn every poll: a click is dispatched to the row's button as it is
        # now, rather than waiting for a button that stands still for two frames under load.)
        with page.expect_popup() as opened:
            row.locator('button[data-action="watch"]').dispatch_event("click")
        watcher = opened.value
        watcher.wait_for_url(f"**/watch/{room}")
        watcher.wait_for_selector('#app[data-spectator="true"]')  # a private room too
        row.locator('button[data-action="record"]:has-text("Record")').dispatch_event("click")
        row.locator('button[data-action="record"]:has-text("Stop recording")').wait_for()
        deadline = time.monotonic() + 10
        while "watching" not in row.inner_text():  # the players column counts the spectator
            assert time.monotonic() < deadline, row.inner_text()
            player.pump(0.1)
        while True:  # ten ticks of the room on record
            running = httpx.get(f"{server.url}/admin/api/rooms/{room}/recording", headers=ADMIN, timeout=5).json()
            if running["last_tick"] - running["first_tick"] >= 10:
                break
            assert time.monotonic() < deadline + 10, running
            player.pump(0.1)
        row.locator('button[data-action="record"]:has-text("Stop recording")').dispatch_event("click")
        row.locator('button[data-action="record"]:has-text("Record")').wait_for()
        listed = page.locator("#recordings-body tr", has_text=room).first
        listed.wait_for()
        listed.locator("td", has_text="stopped").wait_for()
        with page.expect_popup() as replaying:
            listed.locator("a", has_text="Replay").click()
        replay = replaying.value
        replay.wait_for_selector('#app[data-status="paused"]')  # the dashboard's token, same tab storage
        assert replay.evaluate("() => __replay.frames.length") > 10
    for shown in (page, watcher, replay):
        assert not new_page.errors.get(shown), new_page.errors.get(shown)
