"""`asgi_mmo.client` against a real server process: joins, the picture, inputs, resume, errors, the bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection

from asgi_mmo.client import (
    BadName,
    BadToken,
    Chat,
    ConnectionLost,
    Error,
    Player,
    PlayerClosed,
    Replaced,
    Resumed,
    RoomClosed,
    RoomFull,
    RoomNotFound,
    Tick,
    connect,
)
from asgi_mmo.client.errors import ERROR_CLASSES, closing_error, is_resumable
from asgi_mmo.client.session import JoinRequest
from asgi_mmo.games.snake.viewdelta import inside
from asgi_mmo.protocol import CLOSE_CODES
from tests.servers import ROOT, ServerProcess, create_room, run_uvicorn
from tests.servers import connect as raw_socket
from tests.test_views import beyond_reach

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": "Bearer client-tests"}
#: generous: a shared 2-core machine
WAIT = 10.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Syncs answered at every tick (not paced to one a second): `picture_and_reference` asks the
    # reference for states until one lands on the target tick.
    env = {"ASGI_MMO_ADMIN_TOKEN": ADMIN["Authorization"].split()[1], "ASGI_MMO_BOT_PROCESSES": "0",
           "ASGI_MMO_SYNC_SECONDS": "0"}
    with run_uvicorn(env=env, cwd=tmp_path_factory.mktemp("client")) as process:
        yield process



def seats(server: ServerProcess, room: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/admin/api/rooms/{room}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return [seat for seat in answer.json()["players"] if not seat["bot"]]


def normal(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A SNAPSHOT comparable with `==`: entity lists by id, cell lists sorted."""
    out: dict[str, Any] = {}
    for key, value in snapshot.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            out[key] = sorted(value, key=lambda entity: str(entity["id"]))
        elif isinstance(value, list):
            out[key] = sorted(value)
        else:
            out[key] = value
    return out


async def picture_and_reference(player: Player, reference: Player, after: int) -> tuple[Tick, Tick]:
    """`player`'s own picture at some tick `after` ticks on, and `reference`'s `state` of that tick."""
    for _ in range(20):
        target = player.tick + after
        mine = asyncio.ensure_future(player.wait_tick(target, timeout=WAIT))
        whole = await reference.sync(timeout=WAIT)
        while whole.tick < target:
            whole = await reference.sync(timeout=WAIT)
        picture = await mine
        if whole.tick == target == picture.tick:
            return picture, whole
        after = 2  # the reference's state landed past the target: try again
    raise AssertionError("no state of the reference landed on the target tick")


async def until(player: Player, kind: type[Any], seconds: float = WAIT) -> Any:
    """The next update of `kind`."""
    async with asyncio.timeout(seconds):
        async for update in player:
            if isinstance(update, kind):
                return update
    raise AssertionError(f"the updates ended before a {kind.__name__}")


def test_every_closing_code_of_the_contract_has_its_exception() -> None:
    assert set(ERROR_CLASSES) == {code for code, close in CLOSE_CODES.items() if close is not None}
    for code, cls in ERROR_CLASSES.items():
        error = closing_error(1000, "", (code, "said so"))
        assert type(error) is cls and error.close_code == CLOSE_CODES[code]
    assert is_resumable(closing_error(1008, "", ("too_slow", ""))) and not is_resumable(closing_error(1008, "", None))
    assert is_resumable(closing_error(1012, "", None)) and is_resumable(closing_error(1006, "", None))
    assert closing_error(1000, "", None) is None


def test_the_address_carries_the_join() -> None:
    request = JoinRequest(name="Ada L", room="r1", token="t", view=(64, 40))
    assert request.url("ws://h:1/ws") == "ws://h:1/ws?name=Ada+L&room=r1&token=t&view=64x40"
    assert request.url("https://h") == "wss://h/ws?name=Ada+L&room=r1&token=t&view=64x40"
    assert JoinRequest(name="b", game="arena").url("http://h:2/?x=1") == "ws://h:2/ws?x=1&name=b&game=arena"
    with pytest.raises(ValueError):
        request.url("ftp://h")


async def test_two_players_join_see_each_other_and_their_inputs_are_acknowledged(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    async with connect(server.ws_url, name="alice", room=room) as alice, \
            connect(server.ws_url, name="bob", room=room) as bob:
        assert alice.room == bob.room == room and alice.game == "snake" and alice.id != bob.id
        assert alice.me is not None and alice.me["name"] == "alice" and alice.alive
        # bob joined after the tick of his welcome: the next tick's change brings his snake to alice
        seen = await alice.wait_tick(bob.welcome["tick"] + 1, timeout=WAIT)
        assert {snake["name"] for snake in seen.state["snakes"]} == {"alice", "bob"}
        first, second = await alice.send({"dir": "up"}), await alice.send({"dir": "left"})
        assert (first, second) == (1, 2)
        assert await alice.wait_ack(timeout=WAIT) >= 2 and alice.pending_inputs == 0
        assert await bob.wait_ack(await bob.send({"respawn": True}), timeout=WAIT) == 1
        ticks = []
        async for update in alice:
            if isinstance(update, Tick):
                ticks.append(update.tick)
                if len(ticks) == 10:
                    break
        assert ticks == list(range(ticks[0], ticks[0] + 10)), "one tick after another, none missed"
        assert abs(alice.tick - bob.tick) <= 2
        listed = httpx.get(server.url + "/api/rooms").json()["rooms"]
        assert next(r for r in listed if r["id"] == room)["players"] == 2
        await bob.chat("hello alice")
        chat = await until(alice, Chat)
        assert (chat.player, chat.name, chat.text) == (bob.id, "bob", "hello alice")
        assert 0 < await alice.ping(timeout=WAIT) < WAIT
        await alice.ping(timeout=WAIT)  # the second carries the first's round trip
        [seat] = [seat for seat in seats(server, room) if seat["name"] == "alice"]
        assert seat["latency_ms"] is not None and seat["latency_ms"] > 0


@pytest.mark.parametrize(("game", "bots"), [("snake", 6), ("arena", 6)])
async def test_the_picture_kept_with_the_games_deltas_equals_the_servers_state(
    server: ServerProcess, game: str, bots: int
) -> None:
    room = create_room(server, game=game, tick_rate=20, bots=bots)
    async with connect(server.ws_url, name="keeper", room=room) as keeper, \
            connect(server.ws_url, name="judge", room=room) as judge:
        await keeper.send({"respawn": True})
        for after in (5, 30):
            picture, whole = await picture_and_reference(keeper, judge, after)
            assert normal(picture.state) == normal(whole.state)
        assert not keeper.welcome.get("view") and keeper.view is None
        assert len(keeper.state["ships" if game == "arena" else "snakes"]) == bots + 2


async def test_a_quick_join_lands_in_a_public_room_of_its_game(server: ServerProcess) -> None:
    async with connect(server.ws_url, name="quick", game="arena") as player:
        assert player.game == "arena" and player.me is not None and "ships" in player.state
        listed = httpx.get(server.url + "/api/rooms").json()["rooms"]
        assert next(r for r in listed if r["id"] == player.room)["game"] == "arena"
        await until(player, Tick)


async def test_a_view_rooms_picture_holds_what_the_world_holds_inside_the_view(server: ServerProcess) -> None:
    room = create_room(server, view=True, width=100, height=100, bots=20, tick_rate=20)
    async with connect(server.ws_url, name="viewer", room=room, view=(32, 24)) as viewer, \
            connect(server.ws_url, name="world", room=room, view=(128, 128)) as world:
        assert viewer.view is not None and (viewer.view["width"], viewer.view["height"]) == (32, 24)
        await viewer.send({"dir": "up"})
        for after in (5, 40):
            picture, whole = await picture_and_reference(viewer, world, after)
            assert whole.frame["view"]["width"] == whole.frame["view"]["height"] == 100  # the whole field
            rect = viewer.view
            assert rect is not None
            assert inside(picture.state, rect) == inside(whole.state, rect)
        await viewer.set_view(48, 40)
        async with asyncio.timeout(WAIT):
            while viewer.view is None or viewer.view["width"] != 48:
                await until(viewer, Tick)


def frame_where(ws: ClientConnection, found: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first frame from the socket for which `found` holds (within WAIT)."""
    deadline = time.monotonic() + WAIT
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if found(frame):
            return frame


def test_a_view_snapshot_holds_no_food_or_stone_farther_than_32_cells_out(server: ServerProcess) -> None:
    """PROTOCOL.md "View rooms": though a view holds whole 64-cell buckets, its SNAPSHOTs do not."""
    room = create_room(server, view=True, width=300, height=300, bots=0)
    url = f"{server.ws_url}?room={room}"
    with raw_socket(f"{url}&name=player"), raw_socket(f"{url}&name=small&spectate=true&view=16x16") as small, \
            raw_socket(f"{url}&name=large&spectate=true&view=64x64") as large:
        welcome = json.loads(small.recv(timeout=WAIT))
        assert welcome["type"] == "welcome" and welcome["spectator"] is True
        assert beyond_reach(welcome["view"], welcome["state"]) == []
        for ws in (small, large):  # both with their corner on the field's, in bucket (0, 0)
            ws.send(json.dumps({"type": "view", "x": 0, "y": 0}))
            frame_where(ws, lambda frame: frame.get("view", {}).get("x") == 0 and frame["view"]["y"] == 0)
            ws.send(json.dumps({"type": "sync"}))
        state = frame_where(small, lambda frame: frame["type"] == "state")
        assert state["view"] == {"x": 0, "y": 0, "width": 16, "height": 16, "bucket": 64}
        assert beyond_reach(state["view"], state["state"]) == []
        # ... while the bucket it touches held some (the large view's state covers all of it)
        whole = frame_where(large, lambda frame: frame["type"] == "state")
        assert whole["view"]["width"] == whole["view"]["height"] == 64
        assert beyond_reach(state["view"], whole["state"]), "nothing to leave out: a vacuous test"


class CuttableProxy:
    """A TCP proxy to the server on a free port; `cut()` resets every connection through it."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = 0
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task[Any]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[CuttableProxy]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            self.cut()
            for task in self._handlers:  # start_server's own tasks: ended here, not left behind
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
            except OSError:
                return  # nothing listens upstream: the client sees its connection reset
            self._writers += [writer, up_writer]
            async with asyncio.TaskGroup() as pipes:
                pipes.create_task(self._pipe(reader, up_writer))
                pipes.create_task(self._pipe(up_reader, writer))
        finally:
            writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def test_a_dropped_connection_is_resumed_with_the_same_seat_and_its_inputs(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    async with CuttableProxy(server.port).running() as proxy, \
            connect(f"ws://127.0.0.1:{proxy.port}/ws", name="phoenix", room=room, backoff=(0.05, 0.5)) as player:
        first_id, token = player.id, player.token
        await player.wait_ack(await player.send({"dir": "up"}), timeout=WAIT)
        proxy.cut()
        seq = await player.send({"dir": "left"})  # sent into the cut, or held while resuming: either way it lands
        resumed = await until(player, Resumed)
        assert resumed.attempts >= 1 and player.resumes == 1 and proxy.connections == 2
        assert (player.id, player.token, player.room) == (first_id, token, room)
        assert await player.wait_ack(seq, timeout=WAIT) >= seq
        assert await player.wait_ack(await player.send({"dir": "down"}), timeout=WAIT) == seq + 1
        assert [seat["id"] for seat in seats(server, room)] == [first_id], "one seat, kept"
        await until(player, Tick)


async def test_resuming_gives_up_after_its_attempts(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    async with CuttableProxy(server.port).running() as proxy:
        async with connect(f"ws://127.0.0.1:{proxy.port}/ws", name="gone", room=room, resume_attempts=2,
                           backoff=(0.05, 0.1)) as player:
            await until(player, Tick)
            proxy.upstream = 1  # nothing listens there: every attempt fails
            proxy.cut()
            with pytest.raises(ConnectionLost):
                await until(player, Resumed)
            assert not player.connected and isinstance(player.error, ConnectionLost)
            with pytest.raises(ConnectionLost):
                await player.send({"dir": "up"})


async def test_without_resume_a_drop_ends_the_player(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    async with CuttableProxy(server.port).running() as proxy, \
            connect(f"ws://127.0.0.1:{proxy.port}/ws", name="once", room=room, resume=False) as player:
        await until(player, Tick)
        proxy.cut()
        with pytest.raises(ConnectionLost) as lost:
            await until(player, Resumed)
        assert lost.value.close_code == 1006


async def test_refused_joins_raise_the_contracts_errors(server: ServerProcess) -> None:
    refusals: list[tuple[dict[str, Any], type[Exception], int]] = [
        ({"room": "no-such-room"}, RoomNotFound, 4404),
        ({"game": "chess"}, RoomNotFound, 4404),
        ({"name": "<b>bold</b>"}, BadName, 4400),
        ({"room": create_room(server), "token": "forged"}, BadToken, 4401),
    ]
    for query, error, close_code in refusals:
        with pytest.raises(error) as refused:
            async with connect(server.ws_url, **{"name": "ann", **query}):
                pass
        assert refused.value.close_code == close_code  # type: ignore[attr-defined]
    full = create_room(server, max_players=1)
    async with connect(server.ws_url, name="first", room=full):
        with pytest.raises(RoomFull):
            async with connect(server.ws_url, name="second", room=full):
                pass


async def test_errors_after_the_join_end_the_updates_or_arrive_as_updates(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    async with connect(server.ws_url, name="ann", room=room) as ann:
        refused = await ann.send({"dir": "north"})  # not snake's input: bad_message, not acknowledged
        error = await until(ann, Error)
        assert error.code == "bad_message"
        assert await ann.wait_ack(await ann.send({"dir": "up"}), timeout=WAIT) == refused + 1
        # a second connection with the token takes the seat over: the first ends, not resumed
        async with connect(server.ws_url, name="ann", room=room, token=ann.token) as again:
            assert again.id == ann.id
            with pytest.raises(Replaced):
                await until(ann, Resumed)
            assert ann.resumes == 0
            assert httpx.delete(f"{server.url}/admin/api/rooms/{room}", headers=ADMIN).status_code == 204
            with pytest.raises(RoomClosed) as closed:
                await until(again, Resumed)
            assert closed.value.close_code == 4001


async def test_leave_frees_the_seat_and_ends_the_updates(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    async with connect(server.ws_url, name="stay", room=room), \
            connect(server.ws_url, name="leaver", room=room) as leaver:
        await until(leaver, Tick)
        await leaver.leave()
        rest = [update async for update in leaver]  # what was queued, then the end: no error
        assert all(not isinstance(update, Error) for update in rest) and leaver.error is None
        with pytest.raises(PlayerClosed):
            await leaver.send({"dir": "up"})
        assert [seat["name"] for seat in seats(server, room)] == ["stay"]


def test_the_example_bot_plays_snake_from_another_process(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "snake_bot.py"), "--url", server.ws_url, "--name", "Bot",
         "--room", room, "--seconds", "4"],
        capture_output=True, text=True, timeout=60, cwd=Path(ROOT),
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["room"] == room and summary["ticks"] >= 20
    assert summary["moves"] >= 15 and summary["turns"] >= 1, summary
    assert summary["alive"] or summary["deaths"] >= 1
    assert summary["best_score"] > 0 or summary["alive"], "it ate, or at least lived"
    assert seats(server, room) == [], "it left at the end"


def test_no_server_module_imports_the_client() -> None:
    package = ROOT / "asgi_mmo"
    importers = [
        str(path.relative_to(ROOT)) for path in package.rglob("*.py")
        if "client" not in path.relative_to(package).parts[:1] and "asgi_mmo.client" in path.read_text()
    ]
    assert importers == [], "the server runs without its client library"


async def test_the_callers_exceptions_and_timeouts_pass_through_unchanged(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    with pytest.raises(KeyError):
        async with connect(server.ws_url, name="raiser", room=room):
            raise KeyError("mine")
    async with connect(server.ws_url, name="patient", room=room) as player:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                async for _ in player:
                    pass
        assert player.connected and player.error is None, "a timeout of the caller's is not the player's end"
        await until(player, Tick)
    assert not player.connected


async def test_an_input_json_cannot_hold_is_refused_before_it_takes_a_seq(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    async with connect(server.ws_url, name="typist", room=room) as player:
        with pytest.raises(TypeError):
            await player.send({"dir": object()})
        assert player.seq == 0 and player.pending_inputs == 0
        assert await player.send({"dir": "up"}) == 1
        assert await player.wait_ack(timeout=WAIT) == 1
