"""End to end: a real uvicorn process on a free port; players through `asgi_mmo.client`, and raw
WebSocket clients where the test is about the frames themselves (origin, size, a client that stalls)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.typing import Origin

from asgi_mmo import client
from tests.servers import ServerProcess, connect, create_room, run_uvicorn

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Syncs answered at once (not paced to one a second): the stalled client below fills its
    # buffers with a state every tick.
    env = {"ASGI_MMO_SLOW_CLIENT_SECONDS": "1", "ASGI_MMO_ALLOWED_ORIGINS": "http://friend.example",
           "ASGI_MMO_SYNC_SECONDS": "0"}
    with run_uvicorn(env=env, cwd=tmp_path_factory.mktemp("e2e")) as process:
        yield process



async def test_two_players_play_one_room_and_their_inputs_are_acknowledged(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    async with client.connect(server.ws_url, name="alice", room=room, seq=3) as alice, \
            client.connect(server.ws_url, name="bob", room=room, seq=8) as bob:
        assert alice.welcome["room"] == bob.welcome["room"] == room
        seen_by_bob = {s["name"] for s in bob.welcome["state"]["snakes"]}
        assert seen_by_bob == {"alice", "bob"}
        assert (await alice.send({"respawn": True}), await bob.send({"respawn": True})) == (4, 9)
        # the acks come with the ticks, and each player's picture follows the same room
        assert await alice.wait_ack(4, timeout=5) == 4 and await bob.wait_ack(9, timeout=5) == 9
        # both see the same tick numbers: one room, one loop
        await alice.wait_tick(alice.tick + 2, timeout=5)
        assert abs(alice.tick - bob.tick) <= 2
        assert {s["name"] for s in alice.state["snakes"]} == {s["name"] for s in bob.state["snakes"]} == seen_by_bob
        listed = httpx.get(server.url + "/api/rooms").json()["rooms"]
        assert next(r for r in listed if r["id"] == room)["players"] == 2


def test_a_foreign_origin_gets_403(server: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.ws_url}?name=alice", origin=Origin("http://evil.example"))
    assert refused.value.response.status_code == 403
    with connect(f"{server.ws_url}?name=alice", origin=Origin("http://friend.example")) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
    with connect(f"{server.ws_url}?name=alice", origin=Origin(f"http://127.0.0.1:{server.port}")) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"


def test_an_oversized_frame_closes_1009(server: ServerProcess) -> None:
    with connect(f"{server.ws_url}?name=alice") as ws:
        ws.recv(timeout=5)
        ws.send(json.dumps({"type": "chat", "text": "x" * 8000}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                message = json.loads(ws.recv(timeout=5))
                if message["type"] == "error":
                    assert message["code"] == "too_big"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


class StalledClient:
    """A raw WebSocket client with a tiny receive buffer that never reads after the handshake."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)
        assert response.startswith(b"HTTP/1.1 101"), response

    def send_text(self, text: str) -> None:
        payload = text.encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        self.sock.close()


async def test_a_client_that_stops_reading_never_delays_the_others(server: ServerProcess) -> None:
    # A big field makes every `state` about 100 KB, so the stalled client's buffers fill at once.
    room = create_room(server, width=1000, height=1000, tick_rate=20)
    async with client.connect(server.ws_url, name="steady", room=room) as steady, httpx.AsyncClient() as http:
        welcome_tick = steady.tick
        stalled = StalledClient(server.port, f"/ws?name=stalled&room={room}")
        try:
            started, ticks_before = time.monotonic(), steady.tick
            for _ in range(25):  # a state every tick or two: megabytes the client never takes
                stalled.send_text('{"type":"sync"}')
                await asyncio.sleep(0.06)
            players = 2
            while players == 2 and time.monotonic() < started + 8:
                await asyncio.sleep(0.2)
                rooms = (await http.get(server.url + "/api/rooms")).json()["rooms"]
                players = next(r for r in rooms if r["id"] == room)["players"]
            elapsed, ticks_during = time.monotonic() - started, steady.tick - ticks_before
        finally:
            stalled.close()
        await steady.close()
        updates = [update async for update in steady]

    # The server gave up on the stalled client (too_slow after 1 s) and kept its seat...
    assert players == 1
    # ...while the steady player got every tick, in order, never needing a state.
    assert steady.error is None and steady.updates_dropped == 0
    assert not [update for update in updates if isinstance(update, client.Error | client.Resumed)]
    assert not [update for update in updates if isinstance(update, client.Tick) and update.full]
    ticks = [update.tick for update in updates if isinstance(update, client.Tick)]
    assert ticks == list(range(welcome_tick + 1, welcome_tick + 1 + len(ticks)))
    assert ticks_during >= 0.7 * elapsed * 20, "the steady player's ticks kept coming while the other stalled"


def test_a_dropped_player_shows_away_to_the_others_until_it_resumes_with_its_token(server: ServerProcess) -> None:
    """Two players; one's socket drops: the other's next ticks carry its snake, whole, with
    `away: true`; it resumes with its token: the snake comes again without the mark."""
    room = create_room(server, tick_rate=20)

    def sent_whole(ws: ClientConnection, player: str, *, away: bool, timeout: float = 5.0) -> int:
        """The tick whose `snakes` next sends the player's snake with (or without) the mark."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            if frame["type"] == "tick":
                for snake in frame.get("snakes", ()):
                    if snake["id"] == player and snake.get("away", False) is away:
                        return int(frame["tick"])
        raise AssertionError(f"no tick sent the snake of {player} with away={away}")

    with connect(f"{server.ws_url}?name=alice&room={room}") as alice:
        assert json.loads(alice.recv(timeout=5))["type"] == "welcome"
        with connect(f"{server.ws_url}?name=bob&room={room}") as bob:
            welcome = json.loads(bob.recv(timeout=5))
            player, token = welcome["player"], welcome["token"]
            assert "away" not in next(s for s in welcome["state"]["snakes"] if s["id"] == player)
        # bob's socket closed without `leave`: the seat is kept, and shown away
        sent_whole(alice, player, away=True)
        rooms = httpx.get(server.url + "/api/rooms").json()["rooms"]
        assert next(r for r in rooms if r["id"] == room)["players"] == 1
        with connect(f"{server.ws_url}?name=bob&room={room}&token={token}") as again:
            resumed = json.loads(again.recv(timeout=5))
            assert resumed["player"] == player
            assert "away" not in next(s for s in resumed["state"]["snakes"] if s["id"] == player)
            sent_whole(alice, player, away=False)
