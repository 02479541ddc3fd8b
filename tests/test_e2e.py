"""End to end: a real uvicorn process on a free port, real WebSocket clients."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.servers import ServerProcess, run_uvicorn

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Syncs answered at once (not paced to one a second): the stalled client below fills its
    # buffers with a state every tick.
    env = {"ASGI_MMO_SLOW_CLIENT_SECONDS": "1", "ASGI_MMO_ALLOWED_ORIGINS": "http://friend.example",
           "ASGI_MMO_SYNC_SECONDS": "0"}
    with run_uvicorn(env=env, cwd=tmp_path_factory.mktemp("e2e")) as process:
        yield process


#: a message off the wire: a JSON object, read by key
Message = dict[str, Any]


def create_room(server: ServerProcess, **settings: object) -> str:
    answer = httpx.post(server.url + "/api/rooms", json=settings)
    assert answer.status_code == 201, answer.text
    room: str = answer.json()["id"]
    return room


def next_of(ws: ClientConnection, kind: str) -> Message:
    while True:
        message: Message = json.loads(ws.recv(timeout=5))
        if message["type"] == kind:
            return message


def test_two_players_play_one_room_and_their_inputs_are_acknowledged(server: ServerProcess) -> None:
    room = create_room(server, tick_rate=20)
    with connect(f"{server.ws_url}?name=alice&room={room}") as alice, \
            connect(f"{server.ws_url}?name=bob&room={room}") as bob:
        welcome_a = json.loads(alice.recv(timeout=5))
        welcome_b = json.loads(bob.recv(timeout=5))
        assert welcome_a["type"] == welcome_b["type"] == "welcome"
        assert welcome_a["room"] == welcome_b["room"] == room
        seen_by_bob = {s["name"] for s in welcome_b["state"]["snakes"]}
        assert seen_by_bob == {"alice", "bob"}
        for seq, ws in ((4, alice), (9, bob)):
            ws.send(json.dumps({"type": "input", "seq": seq, "data": {"respawn": True}}))
        for seq, ws in ((4, alice), (9, bob)):
            tick = next_of(ws, "tick")
            while tick["ack"] != seq:
                assert tick["ack"] < seq
                tick = next_of(ws, "tick")
        # both see the same tick numbers: one room, one loop
        a, b = next_of(alice, "tick")["tick"], next_of(bob, "tick")["tick"]
        assert abs(a - b) <= 2
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


def test_a_client_that_stops_reading_never_delays_the_others(server: ServerProcess) -> None:
    # A big field makes every `state` about 100 KB, so the stalled client's buffers fill at once.
    room = create_room(server, width=1000, height=1000, tick_rate=20)
    arrivals: list[tuple[float, Message]] = []
    stop = threading.Event()
    with connect(f"{server.ws_url}?name=steady&room={room}", max_size=None) as steady:
        welcome = json.loads(steady.recv(timeout=5))

        def read() -> None:
            while not stop.is_set():
                try:
                    arrivals.append((time.monotonic(), json.loads(steady.recv(timeout=5))))
                except TimeoutError:
                    return

        reader = threading.Thread(target=read)
        reader.start()
        stalled = StalledClient(server.port, f"/ws?name=stalled&room={room}")
        try:
            started = time.monotonic()
            for _ in range(25):  # a state every tick or two: megabytes the client never takes
                stalled.send_text('{"type":"sync"}')
                time.sleep(0.06)
            players = 2
            while players == 2 and time.monotonic() < started + 8:
                time.sleep(0.2)
                rooms = httpx.get(server.url + "/api/rooms").json()["rooms"]
                players = next(r for r in rooms if r["id"] == room)["players"]
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            reader.join()
            stalled.close()

    # The server gave up on the stalled client (too_slow after 1 s) and kept its seat...
    assert players == 1
    # ...while the steady player got every tick, in order, never needing a state.
    frames = [frame for _, frame in arrivals]
    assert all(frame["type"] == "tick" for frame in frames)
    ticks = [frame["tick"] for frame in frames]
    assert ticks == list(range(welcome["tick"] + 1, welcome["tick"] + 1 + len(ticks)))
    during = [t for t, _ in arrivals if t >= started]
    assert len(during) >= 0.7 * elapsed * 20, "the steady player's ticks kept coming while the other stalled"
