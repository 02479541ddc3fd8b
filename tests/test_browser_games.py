"""Both games in a real chromium: the lobby's game list and options, the arena page (its
picture, its score list, its shots) and its netcode under a slow network, the 404 page."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from asgi_mmo.games.arena.delta import apply_delta as apply_arena_delta
from tests.browser_support import (
    Pages,
    attribute,
    delaying_proxy,
    join,
    watching,
)
from tests.servers import ServerProcess, create_room, run_uvicorn

if TYPE_CHECKING:  # the module loads without Playwright; require_chromium says what is missing
    from playwright.sync_api import Browser, Expect, Page

pytestmark = pytest.mark.browser

#: each way, on the socket of the netcode test: a round trip of 300 ms
DELAY = 0.150


@pytest.fixture(scope="module")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("browser-games-server")
    with run_uvicorn(env={"ASGI_MMO_DB": str(work / "leaderboard.sqlite3")}, cwd=work) as running:
        yield running


def sent_inputs(page: Page) -> list[dict[str, Any]]:
    """Every `input` message the page sends from now on, as it goes out (newest last)."""
    inputs: list[dict[str, Any]] = []

    def on_socket(socket: Any) -> None:
        def on_frame(payload: str | bytes) -> None:
            message = json.loads(payload)
            if message.get("type") == "input":
                inputs.append(message)

        socket.on("framesent", on_frame)

    page.on("websocket", on_socket)
    return inputs


def created_rooms(page: Page) -> list[tuple[int, dict[str, Any]]]:
    """The status and body of every `POST /api/rooms` the page makes from now on (read as it
    passes, before the page navigates away)."""
    answers: list[tuple[int, dict[str, Any]]] = []

    def through(route: Any) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        response = route.fetch()
        answers.append((response.status, response.json()))
        route.fulfill(response=response)

    page.route("**/api/rooms", through)
    return answers


def own_ship(page: Page) -> dict[str, Any]:
    ship: dict[str, Any] | None = page.evaluate(
        "() => __mmo.client.snapshot.ships.find((s) => s.id === __mmo.client.player) || null"
    )
    assert ship is not None, "the page's own ship is not in its snapshot"
    return ship


def test_the_lobby_lists_the_games_and_makes_a_room_with_an_option(
    server: ServerProcess, new_page: Pages, expect: Expect
) -> None:
    games = {g["name"]: g for g in httpx.get(server.url + "/api/games").json()["games"]}
    assert {"snake", "arena"} <= set(games)
    page = new_page()
    page.goto(server.url + "/")
    for info in games.values():
        choice = page.locator(f".game-choice[data-game='{info['name']}']")
        expect(choice).to_contain_text(info["title"])
        expect(choice).to_contain_text(info["description"])
    expect(page.locator("#game-options")).to_be_hidden()  # snake has no options of its own
    page.fill("#name", "Maker")
    page.click(".game-choice[data-game='arena']")
    # a field per option, from its spec: type, range, default, description
    for option, spec in games["arena"]["options"].items():
        field = page.locator(f"#opt-{option}")
        expect(field).to_have_value(re.compile(rf"^{spec['default']:g}(\.0)?$"))
        assert field.get_attribute("min") == f"{spec['minimum']:g}"
        assert field.get_attribute("max") == f"{spec['maximum']:g}"
        expect(page.locator(f"#opt-{option}-help")).to_contain_text(spec["description"])
    # the server's 422 is shown in words, and no room is made
    page.fill("#opt-hit_points", "99")
    page.click("#create")
    expect(page.locator("#create-error")).to_contain_text("'hit_points' must be between 1 and 10")
    assert "/play/" not in page.url
    # a good value makes the room, which uses it
    page.fill("#opt-hit_points", "5")
    made = created_rooms(page)
    page.click("#create")
    page.wait_for_url(re.compile(r"/play/"))
    (status, room), *_ = made
    assert status == 201, room
    assert room["game"] == "arena" and room["options"]["hit_points"] == 5
    assert room["options"]["ship_speed"] == games["arena"]["options"]["ship_speed"]["default"]
    page.wait_for_url(re.compile(rf"/play/{room['id']}\?name=Maker"))
    expect(page.locator("#app")).to_have_attribute("data-game", "arena")
    expect(page.locator("#scores li.me")).to_contain_text("Maker")
    assert page.evaluate("() => __mmo.client.snapshot.rules.hit_points") == 5
    # the lobby remembers the game; Play quick-joins that game
    page.goto(server.url + "/")
    expect(page.locator(".game-choice[data-game='arena'] input")).to_be_checked()
    page.click("#play")
    page.wait_for_url(re.compile(r"/play/(?!quick)[^/?]+\?name=Maker&game=arena"))
    assert page.evaluate("() => __mmo.client.game") == "arena"
    assert new_page.errors[page] == []


def test_the_arena_page_draws_ships_and_lists_scores(server: ServerProcess, new_page: Pages, expect: Expect) -> None:
    room = create_room(server.url, game="arena", bots=3, tick_rate=20, options={"hit_points": 10})
    page = new_page()
    inputs = sent_inputs(page)
    join(page, server.url, room, "Gunner")
    expect(page.locator("#app")).to_have_attribute("data-game", "arena")
    expect(page.locator("#scores li")).to_have_count(4)
    expect(page.locator("#scores li.me")).to_contain_text("Gunner")
    for row in page.locator("#scores li").all_inner_texts():
        assert re.search(r"\S.*\b\d+\s*$", row, re.S), row  # a name, then the score
    expect(page.locator("#controls")).to_contain_text("mouse aims")
    page.wait_for_function("() => __mmo.view.drawn && __mmo.view.interpolator.frames.length > 3")
    # the canvas shows every ship in its colour, backed at the pixel ratio
    colours = page.evaluate("() => __mmo.client.snapshot.ships.filter((s) => s.alive).map((s) => s.color)")
    stats = page.evaluate(
        """(colours) => {
        const c = document.getElementById("game");
        const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const want = colours.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
        const found = want.map(() => 0);
        for (let i = 0; i < data.length; i += 4) {
          want.forEach(([r, g, b], k) => {
            if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 12) found[k]++;
          });
        }
        return {found, w: c.width, cssW: c.clientWidth, dpr: devicePixelRatio};
    }""",
        colours,
    )
    assert stats["w"] == round(stats["cssW"] * stats["dpr"])
    assert len(stats["found"]) >= 3 and all(n > 10 for n in stats["found"]), stats["found"]
    # a click fires: the input says which tick the player saw, and a tracer is drawn at once
    box = page.locator("#game").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5)
    page.wait_for_function("() => __mmo.view.localShots.length > 0")
    page.wait_for_function("() => __mmo.client.pendingInputs === 0")
    shots = [m for m in inputs if m["data"].get("fire")]
    assert shots, inputs
    shot = shots[-1]["data"]
    assert isinstance(shot["seen"], int) and isinstance(shot["aim"], float | int)
    assert shot["seen"] <= page.evaluate("() => __mmo.client.tick")
    assert all(abs(m["data"].get("aim", 0)) <= 3.141592653589793 for m in inputs)
    assert new_page.errors[page] == []


def test_own_ship_answers_at_once_and_ends_where_the_server_puts_it(server: ServerProcess, new_page: Pages) -> None:
    """The netcode under 150 ms each way: prediction moves the own ship on the next frame,
    long before the server could answer, and after the key is let go it rests exactly
    where the server says it is."""
    room = create_room(server.url, game="arena", width=100, height=60, tick_rate=20)
    page = new_page()
    with (
        delaying_proxy(server.port, DELAY) as port,
        watching(server.ws_url, name="Watcher", room=room, apply_delta=apply_arena_delta) as watcher,
    ):
        player = join(page, f"http://127.0.0.1:{port}", room, "Pilot")
        page.wait_for_function(f"() => __mmo.client.rtt >= {2 * DELAY * 1000 * 0.95}")  # the delay is real
        page.wait_for_function("() => __mmo.view.drawn && __mmo.view.predictor.aligned")  # an ack came
        start = own_ship(page)
        key = "KeyD" if start["x"] < 50 else "KeyA"
        page.keyboard.down(key)
        page.wait_for_function(
            "() => __mmo.view.lastStickSent?.stick[0] && __mmo.view.frame >= __mmo.view.lastStickSent.frame + 4"
        )
        answer = page.evaluate(
            """() => {
            const sent = __mmo.view.lastStickSent;
            const trail = __mmo.view.trail;
            const before = trail.filter((d) => d.frame <= sent.frame).pop();
            const moved = trail.find((d) => d.frame > sent.frame && d.x !== before.x);
            return {sent, before, moved, rtt: __mmo.client.rtt};
        }"""
        )
        assert answer["moved"] is not None, answer
        frames = answer["moved"]["frame"] - answer["sent"]["frame"]
        waited = answer["moved"]["at"] - answer["sent"]["at"]
        assert frames <= 2, answer  # drawn moved on the next frame or the one after
        assert waited < answer["rtt"] / 3, answer  # far sooner than the server could say so
        assert (answer["moved"]["x"] - answer["before"]["x"]) * (1 if key == "KeyD" else -1) > 0
        page.wait_for_timeout(500)  # some ticks of flight
        page.keyboard.up(key)
        # once every input is acknowledged, the prediction is the server's position
        page.wait_for_function(
            """() => __mmo.client.pendingInputs === 0 && __mmo.view.predictor.pending.length === 0
                && __mmo.client.snapshot.ships.find((s) => s.id === __mmo.client.player).vx === 0"""
        )
        page.wait_for_function("t => __mmo.client.tick > t + 3", arg=page.evaluate("() => __mmo.client.tick"))
        final = page.evaluate(
            """() => {
            const server = __mmo.client.snapshot.ships.find((s) => s.id === __mmo.client.player);
            const predicted = __mmo.view.predictor.state;
            return {tick: __mmo.client.tick, server, predicted, drawn: __mmo.view.drawn};
        }"""
        )
        server_ship, predicted, drawn = final["server"], final["predicted"], final["drawn"]
        assert abs(predicted["x"] - server_ship["x"]) < 1e-6 and abs(predicted["y"] - server_ship["y"]) < 1e-6
        assert abs(drawn["x"] - server_ship["x"]) < 1e-6 and abs(drawn["y"] - server_ship["y"]) < 1e-6
        assert abs(server_ship["x"] - start["x"]) > 3  # it went somewhere: ~0.5 s at 12 units/s
        # and that is where the server has it, as a player without the delay sees it
        watcher.wait_for("the page's tick", lambda: watcher.tick >= final["tick"])
        ship = next(s for s in watcher.snapshot["ships"] if s["id"] == player)
        assert (ship["x"], ship["y"]) == (server_ship["x"], server_ship["y"])
    assert new_page.errors[page] == []


def test_an_unknown_room_answers_a_404_page(server: ServerProcess, new_page: Pages, expect: Expect) -> None:
    page = new_page(390, 844)
    answer = page.goto(f"{server.url}/play/no-such-room?name=Lost")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_contain_text("No such room")
    expect(page.locator("#missing-text")).to_contain_text("does not exist")
    assert page.locator("#name-form, #name-input").count() == 0  # no name asked for
    page.click("#missing-lobby")
    page.wait_for_url(server.url + "/")
    answer = page.goto(f"{server.url}/play/quick?game=no-such-game&name=Lost")
    assert answer is not None and answer.status == 404
    assert new_page.errors[page] == []


def test_snake_plays_through_the_game_module(server: ServerProcess, new_page: Pages, expect: Expect) -> None:
    room = create_room(server.url, width=40, height=30)
    page = new_page()
    join(page, server.url, room, "Slither")
    expect(page.locator("#app")).to_have_attribute("data-game", "snake")
    assert page.evaluate("() => __mmo.game.name") == "snake"
    expect(page.locator("#controls")).to_contain_text("WASD steer")
    expect(page.locator("#scores li.me")).to_contain_text("Slither")
    # a room's page draws the room's game, whatever the address asks for
    page.goto(f"{server.url}/play/{room}?name=Slither&game=arena")
    expect(page.locator("#app")).to_have_attribute("data-game", "snake")
    assert attribute(page, "#app", "data-game-module").endswith("/static/games/snake.js")
    assert new_page.errors[page] == []


def test_a_ship_shot_dead_respawns_with_space(server: ServerProcess, new_page: Pages, expect: Expect) -> None:
    room = create_room(server.url, game="arena", width=30, height=20, tick_rate=20, options={"hit_points": 1})
    page = new_page()
    player = join(page, server.url, room, "Target")
    with watching(server.ws_url, name="Shooter", room=room, apply_delta=apply_arena_delta) as shooter:
        shooter.wait_for("the page's ship", lambda: any(s["id"] == player for s in shooter.snapshot["ships"]))

        seqs = itertools.count(1)

        def target() -> dict[str, Any]:
            return next(s for s in shooter.snapshot["ships"] if s["id"] == player)

        def shoot() -> bool:
            me = next(s for s in shooter.snapshot["ships"] if s["id"] == shooter.player)
            aim = max(-math.pi, min(math.pi, math.atan2(target()["y"] - me["y"], target()["x"] - me["x"])))
            shooter.send({"type": "input", "seq": next(seqs), "data": {"aim": aim, "fire": True}})
            return not target()["alive"]

        shooter.wait_for("the page's ship shot dead", shoot)
        expect(page.locator("#dead")).to_be_visible()
        expect(page.locator("#respawn-keys kbd")).to_have_text("Space")
        page.keyboard.press("Space")
        shooter.wait_for("the page's ship back", lambda: target()["alive"])
        expect(page.locator("#dead")).to_be_hidden()
        assert page.evaluate("() => __mmo.view.mine().alive")
    assert new_page.errors[page] == []
