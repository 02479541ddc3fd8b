"""docs/protocol.md is the whole protocol: these tests hold it to the code.

Each test reads a piece of the doc (a table, a section's headings) and the
code's own record of the same thing (the app's routes, the parser, the frames
the server builds, the room settings, ROOM_STATS), so a route, message, field
or setting added to the code without its line in the doc fails here. The
tables of error and close codes and of HTTP errors are held by
tests/test_protocol.py and tests/test_errors.py.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from starlette.endpoints import HTTPEndpoint
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from asgi_mmo.app import create_app
from asgi_mmo.exceptions import BadRequest
from asgi_mmo.games.base import GameSetup
from asgi_mmo.games.catalog import DEFAULT_GAME, GAMES, game_info
from asgi_mmo.protocol import ClientMessage, parse_client_message
from asgi_mmo.room import Room
from asgi_mmo.roomconfig import RoomConfig
from asgi_mmo.roomview import player_list, statistics, summary
from asgi_mmo.settings import ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "protocol.md"
DOC = DOC_PATH.read_text()
PACKAGE = ROOT / "asgi_mmo"


def section(heading: str, text: str = DOC) -> str:
    """The text under `heading` (a whole heading line) up to the next heading of its level or above."""
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE)
    end = following.search(text, start)
    return text[start : end.start() if end else len(text)]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the Markdown tables in `text`, as stripped cells."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def keyed_rows(text: str, columns: int) -> dict[str, list[str]]:
    """The rows of `columns` cells whose first cell is a quoted `name` (header rows are not),
    by that name: name -> the other cells."""
    keyed = {}
    for row in table_rows(text):
        quoted = re.fullmatch(r"`(\w+)`", row[0])
        if quoted and len(row) == columns:
            assert quoted.group(1) not in keyed, f"{quoted.group(1)} listed twice"
            keyed[quoted.group(1)] = row[1:]
    return keyed


def first_column_names(text: str) -> list[str]:
    """The `name`s quoted in the first column of the tables in `text` (header rows have none)."""
    return [match.group(1) for row in table_rows(text) if (match := re.fullmatch(r"`(\w+)`", row[0]))]


def code_headings(text: str, level: str = "###") -> list[str]:
    return re.findall(rf"^{level} `(\w+)`$", text, re.MULTILINE)


# ---- routes -----------------------------------------------------------------------------


def endpoint_methods(route: Route) -> set[str]:
    """The methods a route answers, HEAD left out (Starlette adds it to every GET)."""
    if route.methods is not None:
        return set(route.methods) - {"HEAD"}
    endpoint = route.endpoint
    assert inspect.isclass(endpoint) and issubclass(endpoint, HTTPEndpoint), route.path
    verbs = ("get", "post", "put", "patch", "delete", "options")
    return {verb.upper() for verb in verbs if callable(getattr(endpoint, verb, None))}


def served(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, mounted ones included; a mounted app that is not a
    router (static files) is `GET {mount}/{path}`."""
    for route in routes:
        if isinstance(route, Route):
            for method in endpoint_methods(route):
                yield method, prefix + route.path
        elif isinstance(route, WebSocketRoute):
            yield "WS", prefix + route.path
        elif isinstance(route, Mount):
            if route.routes:
                yield from served(list(route.routes), prefix + route.path)
            else:
                yield "GET", prefix + route.path + "/{path}"
        else:
            raise AssertionError(f"a route of a kind this test does not know: {route!r}")


def documented_routes() -> set[tuple[str, str]]:
    rows = table_rows(section("## Routes"))
    routes = {(row[0], row[1].strip("`")) for row in rows if row[0] in {"GET", "POST", "PUT", "PATCH", "DELETE", "WS"}}
    assert len(routes) > 10, "the Routes table was not found"
    return routes


def app_routes(app_routes_extra: list[BaseRoute] | None = None) -> set[tuple[str, str]]:
    app = create_app(Settings(admin_token="doc-test-token"))
    return set(served([*app.routes, *(app_routes_extra or [])]))


def test_every_route_of_the_app_is_in_the_routes_table_and_no_other() -> None:
    assert app_routes() == documented_routes()


def test_a_route_added_without_docs_fails_the_route_check() -> None:
    async def hidden(request: object) -> None: ...

    extra: list[BaseRoute] = [
        Route("/api/secret", hidden, methods=["GET", "POST"]),
        Mount("/more", routes=[WebSocketRoute("/socket", hidden)]),
    ]
    missing = app_routes(extra) - documented_routes()
    assert missing >= {("GET", "/api/secret"), ("POST", "/api/secret"), ("WS", "/more/socket")}


def test_every_route_has_its_own_section() -> None:
    """Beyond the index: each HTTP path of the table is the heading of a section (or, for
    the static files and `/ws`, named in one)."""
    headings = re.findall(r"^#{2,3} (.+)$", DOC, re.MULTILINE)
    for method, path in documented_routes():
        if method == "WS":
            assert f"## WebSocket `{path}`" in DOC
        elif path.startswith("/static"):
            assert "/static/" in section("## Serving and configuration")
        else:
            assert any(f"`{method} {path}`" in heading for heading in headings), (method, path)


# ---- messages ---------------------------------------------------------------------------


def parser_types() -> set[str]:
    """The `type`s `parse_client_message` compares against."""
    return set(re.findall(r'kind == "(\w+)"', inspect.getsource(parse_client_message)))


#: a valid frame of each client message type (a new type needs one here, and its section)
CLIENT_EXAMPLES = {
    "input": '{"type": "input", "seq": 1, "data": {"dir": "up"}}',
    "sync": '{"type": "sync"}',
    "ping": '{"type": "ping", "t": 1.5, "rtt": 20}',
    "chat": '{"type": "chat", "text": "hi"}',
    "leave": '{"type": "leave"}',
    "view": '{"type": "view", "width": 40, "height": 30}',
}


def test_the_parser_s_types_are_the_client_message_classes() -> None:
    classes = {cls.__name__.lower(): cls for cls in get_args(ClientMessage)}
    assert parser_types() == set(classes)
    for kind, frame in CLIENT_EXAMPLES.items():
        assert type(parse_client_message(frame)) is classes[kind]


def test_every_client_message_type_has_a_section() -> None:
    documented = code_headings(section("## Client messages"))
    assert sorted(documented) == sorted(parser_types()) == sorted(CLIENT_EXAMPLES)


def server_frame_types() -> set[str]:
    """Every `type` of a frame the server builds: dict literals (`"type": "welcome"`),
    pre-serialised heads (`{"type":"tick"`) and `TickFrame("state", ...)` calls, in the
    server's modules (the games' input schemas, and the clients: the load tester's and
    `asgi_mmo.client`, left out)."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("games/", "loadtest/", "client/")):
            continue
        text = path.read_text()
        found |= set(re.findall(r'"type": ?"([a-z_]+)"', text))
        found |= set(re.findall(r'TickFrame(?:\.from_json)?\(\s*"([a-z_]+)"', text))
    return found


def test_the_frame_scan_finds_the_contract_s_frames() -> None:
    """The scan below is a regex over the sources: it must at least see what is known."""
    assert {"welcome", "tick", "state", "chat", "pong", "error"} <= server_frame_types()


def test_every_server_message_type_has_a_section() -> None:
    documented = code_headings(section("## Server messages"))
    assert len(documented) == len(set(documented))
    assert set(documented) == server_frame_types()


def documented_fields(heading: str) -> set[str]:
    return set(first_column_names(section(heading)))


async def test_welcome_fields_are_documented() -> None:
    room = a_room(RoomConfig())
    seat = room.join("Ann")
    welcome = room.welcome(seat)
    assert set(welcome) - {"type"} == documented_fields("### `welcome`") - {"view"}
    view_room = a_room(RoomConfig(view=True, width=200, height=200))
    view_welcome = view_room.welcome(view_room.join("Bea"))
    assert set(view_welcome) - {"type"} == documented_fields("### `welcome`")


# ---- the HTTP API -----------------------------------------------------------------------


def settings_table() -> dict[str, list[str]]:
    """`POST /api/rooms`'s table of room settings: name -> [type, range, default, meaning]."""
    return keyed_rows(section("### `POST /api/rooms`"), 5)


def test_the_room_settings_are_room_config_s_fields() -> None:
    assert set(settings_table()) == {f.name for f in dataclasses.fields(RoomConfig)}


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(RoomConfig)])
def test_each_room_setting_s_range_and_default_are_the_code_s(name: str) -> None:
    kind, allowed, default, _meaning = settings_table()[name]
    field = next(f for f in dataclasses.fields(RoomConfig) if f.name == name)
    made = RoomConfig.from_request({})
    if kind == "integer":
        bounds = re.fullmatch(r"(\d+)\.\.(\d+)", allowed)
        assert bounds is not None, f"{name}: the range is written LOW..HIGH"
        low, high = int(bounds.group(1)), int(bounds.group(2))
        for good in (low, high):
            assert getattr(RoomConfig.from_request({name: good}), name) == good
        for bad in (low - 1, high + 1, True, 1.5, "3"):
            with pytest.raises(BadRequest):
                RoomConfig.from_request({name: bad})
        if default == "the game's":
            assert field.default == 0  # filled in from the game: the table below
        else:
            assert getattr(made, name) == field.default == int(default)
    elif kind == "boolean":
        assert allowed == "—"
        assert getattr(made, name) is field.default is (default == "true")
        with pytest.raises(BadRequest):
            RoomConfig.from_request({name: 1})
    elif name == "game":
        assert default == f"`{DEFAULT_GAME}`" == f"`{made.game}`"
        with pytest.raises(BadRequest):
            RoomConfig.from_request({"game": "no-such-game"})
    else:
        assert (name, kind) == ("options", "object")
        assert made.options == {}  # snake, the default game, has none
        with pytest.raises(BadRequest):
            RoomConfig.from_request({"options": {"no_such_option": 1}})


def test_every_game_s_default_field_size_is_documented() -> None:
    documented = {name: cells[0] for name, cells in keyed_rows(section("### `POST /api/rooms`"), 2).items()}
    expected = {name: f"{game.default_width} x {game.default_height}" for name, game in GAMES.items()}
    assert documented == expected


def test_the_created_room_s_answer_is_documented() -> None:
    answer = re.search(r"`201 \{([^}]*)\}`", section("### `POST /api/rooms`"))
    assert answer is not None
    listed = set(re.findall(r'"(\w+)"', answer.group(1)))
    assert listed == {"id", *RoomConfig.from_request({}).to_dict()}


def test_game_info_fields_are_documented() -> None:
    for game in GAMES.values():
        assert set(game_info(game)) == documented_fields("### `GET /api/games`")


async def test_room_listing_fields_are_documented() -> None:
    assert set(summary(a_room(RoomConfig()))) == documented_fields("### `GET /api/rooms`")


async def test_room_stats_fields_and_their_origin_are_documented() -> None:
    rows = {name: cells[1] for name, cells in keyed_rows(section("### `GET /admin/api/rooms`"), 3).items()}
    assert set(rows) == set(statistics(a_room(RoomConfig())))
    extensions = {name for name, origin in rows.items() if origin == "extension"}
    listed = section("## Extensions")
    for name in extensions:
        assert f"`{name}`" in listed, f"ROOM_STATS extension {name} not listed under Extensions"


async def test_player_entry_fields_are_documented() -> None:
    room = a_room(RoomConfig(bots=1))
    room.join("Ann")
    entries = player_list(room)
    assert len(entries) == 2
    documented = documented_fields("### `GET /admin/api/rooms/{room_id}`")
    for entry in entries:
        assert set(entry) == documented


def a_room(config: RoomConfig) -> Room:
    game = GAMES[config.game].create(GameSetup(config.width, config.height, config.options, 7))
    room = Room("doc-room", config, game, Settings())
    room.add_bots(config.bots)
    return room


# ---- configuration and links ------------------------------------------------------------


def all_docs() -> str:
    return "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_every_environment_variable_is_documented() -> None:
    text = all_docs()
    missing = [variable for variable in ENVIRONMENT if not re.search(rf"\b{variable}\b", text)]
    assert not missing, f"not in README.md or docs/: {missing}"


def test_every_variable_this_doc_names_exists() -> None:
    named = set(re.findall(r"\bASGI_MMO_[A-Z][A-Z_]*[A-Z]\b", DOC))
    assert named and named <= set(ENVIRONMENT)


def headings_anchors(text: str) -> set[str]:
    """GitHub's anchors of a Markdown text's headings."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_every_link_of_this_doc_leads_somewhere() -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", DOC):
        page, _, anchor = target.partition("#")
        path = (DOC_PATH.parent / page).resolve() if page else DOC_PATH
        assert path.is_file(), target
        if anchor:
            assert anchor in headings_anchors(path.read_text()), target
