"""The hardened serving path (asgi_mmo/serving/) against real `asgi-mmo serve` and gunicorn processes.

Each attack of issue #15 that needs the transport, made with raw sockets (a hostile client does
not use a polite library), with the figures it measured printed (`pytest -s` shows them). Bounds
are generous: this runs on a loaded 2-core machine; every wait is a wait-for-condition.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cluster import GunicornProcess, run_gunicorn, run_haproxy
from tests.servers import ServerProcess, connect, create_room, run_uvicorn

pytestmark = pytest.mark.e2e

SLOW_CLIENT_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 3.0
MAX_CONNECTIONS = 60
ENV = {
    "ASGI_MMO_SLOW_CLIENT_SECONDS": str(SLOW_CLIENT_SECONDS),
    "ASGI_MMO_REQUEST_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT_SECONDS),
    "ASGI_MMO_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "ASGI_MMO_BOT_PROCESSES": "0",
    # The transport's limits are tested here, with rooms as heavy as it takes to fill a socket;
    # admission (which would refuse them beside the others) has its own tests (test_admission.py).
    "ASGI_MMO_TICK_BUDGET": "0",
    "ASGI_MMO_MAX_TICK_MS": "0",
    # a stalled reader's syncs answered ten times a second (whole states): its queues fill in a second
    "ASGI_MMO_SYNC_SECONDS": "0.1",
}


@dataclass
class Served:
    """One hardened server: its URL, port, log and the pid of the process that holds the sockets."""

    kind: str
    url: str
    port: int
    pid: Callable[[], int]
    log: Callable[[], str]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def _from_serve(server: ServerProcess) -> Served:
    def pid() -> int:
        assert server.process is not None
        return server.process.pid

    return Served("serve", server.url, server.port, pid, server.log)


def _from_gunicorn(server: GunicornProcess) -> Served:
    def pid() -> int:
        (worker,) = server.worker_pids()
        return worker

    return Served("gunicorn", server.url, server.port, pid, server.log)


@pytest.fixture(scope="module", params=["serve", "gunicorn"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp(f"hardened-{request.param}")
    if request.param == "serve":
        with run_uvicorn(env=ENV, cwd=cwd) as server:
            yield _from_serve(server)
    else:
        with run_gunicorn(workers=1, env=ENV, cwd=cwd, extra_args=["--access-logfile", "-"]) as gunicorn:
            yield _from_gunicorn(gunicorn)


# ---- a raw WebSocket client ------------------------------------------------------------------------

OP_CONT, OP_TEXT, OP_CLOSE, OP_PING = 0x0, 0x1, 0x8, 0x9


def ws_frame(opcode: int, payload: bytes, fin: bool = True, length: int | None = None) -> bytes:
    """A masked client frame; `length` may claim more than `payload` holds (a frame still arriving)."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    mask = os.urandom(4)
    if not payload:
        return head + mask
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]  # XOR as one big integer: fast for 1 MB
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return head + mask + masked.to_bytes(len(payload), "big")


def raw_connect(port: int, query: str, receive_buffer: int | None = None) -> socket.socket:
    """A TCP socket past the WebSocket handshake of `/ws?query` (the 101 answer read, nothing more)."""
    sock = socket.socket()
    if receive_buffer is not None:  # before connect: the window is set from it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(1)  # one byte at a time: nothing after the headers is taken from the socket
        if not chunk:
            raise ConnectionError(f"closed during the handshake: {answer!r}")
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def read_frames(sock: socket.socket, timeout: float = 10.0) -> list[tuple[int, bytes]]:
    """Every frame the server sends until it closes (or resets) the connection."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    frames = []
    while len(data) >= 2:
        opcode, size, start = data[0] & 0x0F, data[1] & 0x7F, 2
        if size == 126:
            size, start = struct.unpack("!H", data[2:4])[0], 4
        elif size == 127:
            size, start = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < start + size:
            break
        frames.append((opcode, data[start:start + size]))
        data = data[start + size:]
    return frames


def close_code(frames: list[tuple[int, bytes]]) -> int | None:
    closes = [payload for opcode, payload in frames if opcode == OP_CLOSE]
    return struct.unpack("!H", closes[0][:2])[0] if closes and len(closes[0]) >= 2 else None


def error_codes(frames: list[tuple[int, bytes]]) -> list[str]:
    codes = []
    for opcode, payload in frames:
        if opcode == OP_TEXT:
            message = json.loads(payload)
            if message.get("type") == "error":
                codes.append(message["code"])
    return codes


# ---- the server's side, read from /proc ---------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def server_socket(port: int, peer_port: int) -> tuple[str, int] | None:
    """(TCP state, send queue bytes) of the server's end of the connection to `peer_port`, if it exists."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":"), fields[2].split(":")
        if int(local[1], 16) == port and int(remote[1], 16) == peer_port:
            return fields[3], int(fields[4].split(":")[0], 16)
    return None


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took `condition` to hold (polled); AssertionError after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start



class TickCounter(threading.Thread):
    """A well-behaved player in its own room, counting the ticks it gets."""

    def __init__(self, served: Served, room: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{served.ws_url}?name=honest&room={room}"
        #: the room ticks this player got a picture of (a `tick`, or a `state` after missed ones)
        self.ticks: set[int] = set()
        self.counting = False
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        with connect(self.url, open_timeout=10) as ws:
            ws.recv(timeout=10)
            self.ready.set()
            while not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    message = json.loads(ws.recv(timeout=0.5))
                    if message["type"] in ("tick", "state") and self.counting:
                        self.ticks.add(message["tick"])


# ---- the attacks ------------------------------------------------------------------------------------------


def test_a_ping_flood_is_cut_off_without_slowing_other_rooms_or_growing_memory(served: Served) -> None:
    honest = TickCounter(served, create_room(served, tick_rate=20))
    honest.start()
    assert honest.ready.wait(15)
    target = create_room(served)
    pid = served.pid()
    before = rss_mb(pid)
    ping = ws_frame(OP_PING, b"x" * 125) * 200
    sent, floods, cut_in = 0, 0, []
    honest.counting = True
    start = time.monotonic()
    while time.monotonic() - start < 2.0:  # connect, flood until cut off, again, for 2 s
        sock = raw_connect(served.port, f"name=flooder&room={target}")
        began = time.monotonic()
        sock.settimeout(5)
        try:
            while time.monotonic() - began < 5:
                sock.sendall(ping)  # never reading a single pong
                sent += 200
        except OSError:
            pass  # reset or broken pipe: the server let go of the flooder
        cut_in.append(time.monotonic() - began)
        floods += 1
        frames = read_frames(sock, timeout=2)
        sock.close()
        if floods == 1:
            assert close_code(frames) in (1008, None), frames[-3:]  # the close frame may be lost to the reset
    elapsed = time.monotonic() - start
    honest.counting = False
    after = rss_mb(pid)
    honest.stop.set()
    honest.join(10)
    expected = elapsed * 20
    print(f"\n[{served.kind}] ping flood: {floods} floods, {sent} pings written in {elapsed:.1f} s, each cut off "
          f"after {max(cut_in):.2f} s at most; the player elsewhere got {len(honest.ticks)} of ~{expected:.0f} ticks; "
          f"server RSS {before:.1f} -> {after:.1f} MB")
    assert max(cut_in) < 4.5, "a flooder was never cut off"  # it floods for 5 s unless cut off
    assert len(honest.ticks) >= 0.5 * expected
    assert after - before < 40


def test_fragments_adding_up_past_the_limit_are_closed_1009_before_assembly(served: Served) -> None:
    room = create_room(served)
    pid = served.pid()
    before = rss_mb(pid)
    # 30 clients each announce a 1 MB first fragment and send most of it, never finishing the message.
    holders = [raw_connect(served.port, f"name=frag{i}&room={room}") for i in range(30)]
    unfinished = ws_frame(OP_TEXT, b"a" * 999_999, fin=False, length=1_000_000)
    for sock in holders:
        with contextlib.suppress(OSError):  # the server may have reset it already
            sock.sendall(unfinished)
    closed = [close_code(read_frames(sock, timeout=10)) for sock in holders]
    peak = rss_mb(pid)
    for sock in holders:
        sock.close()
    # Small fragments that add up: 5 x 1000 bytes passes 4096 on the fifth.
    sock = raw_connect(served.port, f"name=bits&room={room}")
    for _ in range(5):
        with contextlib.suppress(OSError):
            sock.sendall(ws_frame(OP_TEXT if _ == 0 else OP_CONT, b"b" * 1000, fin=False))
    frames = read_frames(sock)
    sock.close()
    print(f"\n[{served.kind}] fragments: 30 unfinished 1 MB fragments, close codes {sorted(set(closed), key=str)}; "
          f"server RSS {before:.1f} -> {peak:.1f} MB; 5 x 1000-byte fragments: close {close_code(frames)}, "
          f"errors {error_codes(frames)}")
    assert closed.count(1009) >= 25, closed  # a reset may beat a close frame to a client still sending
    assert close_code(frames) == 1009 and "too_big" in error_codes(frames)
    assert peak - before < 20


def test_a_stalled_reader_is_closed_too_slow_and_let_go(served: Served) -> None:
    room = create_room(served, width=400, height=400, bots=40, tick_rate=30)
    sock = raw_connect(served.port, f"name=stall&room={room}", receive_buffer=4096)
    peer = sock.getsockname()[1]
    start = time.monotonic()
    peak, changed, last_queue, state = 0, start, -1, server_socket(served.port, peer)
    while state is not None and time.monotonic() - start < 30:
        # It keeps asking for whole states (25 KB each), never read, so the queues fill quickly and the
        # server's last progress comes soon after its kernel queue stops moving.
        with contextlib.suppress(OSError):
            sock.sendall(ws_frame(OP_TEXT, b'{"type": "sync"}'))
        queue = state[1]
        if queue != last_queue:
            changed, last_queue = time.monotonic(), queue
        peak = max(peak, queue)
        time.sleep(0.1)
        state = server_socket(served.port, peer)
    gone = time.monotonic()
    sock.close()
    print(f"\n[{served.kind}] stalled reader: server send queue peaked at {peak / 1024:.0f} KiB; its socket "
          f"was gone {gone - changed:.1f} s after the queue last moved (slow client limit {SLOW_CLIENT_SECONDS} s)")
    assert state is None, f"the server still holds the socket: {state}"
    assert peak <= 1_100_000
    assert gone - changed <= SLOW_CLIENT_SECONDS + 2 + 3  # 3 s of slack for a loaded machine
    assert "reason=too_slow" in served.log()


def test_half_open_requests_are_closed_after_the_request_timeout(served: Served) -> None:
    socks = []
    for i in range(MAX_CONNECTIONS + 10):
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
        if i % 2:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the rest never comes
        socks.append(sock)
    start = time.monotonic()
    statuses: list[int] = []

    def crowded_out() -> bool:  # once the server has accepted them all, a request finds no room
        statuses.append(httpx.get(served.url + "/healthz", timeout=10).status_code)
        return statuses[-1] == 503

    wait_until(crowded_out, REQUEST_TIMEOUT_SECONDS, "a request answered 503 while the cap is reached")

    def all_closed() -> bool:
        for sock in socks:
            sock.settimeout(0.01)
            try:
                if sock.recv(1) != b"":
                    return False
            except TimeoutError:
                return False
            except OSError:
                pass
        return True

    wait_until(all_closed, REQUEST_TIMEOUT_SECONDS + 10, "half-open requests closed")
    took = time.monotonic() - start
    for sock in socks:
        sock.close()
    after = httpx.get(served.url + "/healthz", timeout=10).status_code
    print(f"\n[{served.kind}] slowloris: {len(socks)} half-open connections (cap {MAX_CONNECTIONS}): "
          f"/healthz answered {statuses} among them; all closed {took:.1f} s later "
          f"(timeout {REQUEST_TIMEOUT_SECONDS} s); then /healthz {after}")
    assert after == 200


def test_haproxy_refuses_an_address_past_its_connection_cap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cap = 10
    monkeypatch.setenv("ASGI_MMO_HAPROXY_CONN_PER_ADDRESS", str(cap))
    with run_uvicorn(cwd=tmp_path) as server, run_haproxy([server.address], cwd=tmp_path) as proxy:
        socks, refused = [], 0
        for _ in range(cap + 5):
            try:
                socks.append(socket.create_connection(("127.0.0.1", proxy.port), timeout=10))
            except OSError:  # reset during the handshake: refused
                refused += 1
        for sock in socks:
            sock.settimeout(0.2)
            try:
                refused += sock.recv(1) == b""  # closed at once by haproxy
            except TimeoutError:
                pass  # held open: within the cap
            except OSError:
                refused += 1
        for sock in socks:
            sock.close()
        after = wait_until(lambda: httpx.get(proxy.url + "/healthz", timeout=5).status_code == 200, 10,
                           "haproxy serves the address again once its connections closed")
    print(f"\n[haproxy] {cap + 5} connections from one address, cap {cap}: {refused} refused at once; "
          f"once closed, /healthz answered 200 after {after:.1f} s")
    assert refused == 5


def test_a_resume_token_never_reaches_the_log_nor_the_access_log(served: Served) -> None:
    with connect(f"{served.ws_url}?name=keeper", open_timeout=10) as ws:
        welcome = json.loads(ws.recv(timeout=10))
    token = welcome["token"]
    with connect(f"{served.ws_url}?name=keeper&room={welcome['room']}&token={token}", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["player"] == welcome["player"]
    httpx.get(served.url + "/api/rooms", params={"token": token, "auth": "secret-credential"}, timeout=10)
    # gunicorn's access log (--access-logfile -) is written a moment later
    wait_until(lambda: "/api/rooms?token=[redacted]&auth=[redacted]" in served.log(), 10, "the request was logged")
    log = served.log()
    assert "&token=[redacted]" in log  # the resuming handshake
    assert token not in log and "secret-credential" not in log
