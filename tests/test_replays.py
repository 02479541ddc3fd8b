"""Recordings and replays, end to end: a real uvicorn process records rooms through the admin
API (start, stop, limits, list, download, delete, the `record` option, 404s), and the file
read back and replayed through the Python delta applier equals what a player saw."""

from __future__ import annotations

import copy
import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_mmo.games.snake.delta import apply_delta
from asgi_mmo.replays import FORMAT, VERSION, read_recording
from tests.servers import ServerProcess, connect, create_room, run_uvicorn

pytestmark = pytest.mark.e2e

TOKEN = "replays-admin"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
Message = dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("replays")
    env = {"ASGI_MMO_ADMIN_TOKEN": TOKEN, "ASGI_MMO_RECORDINGS_DIR": str(work / "recordings"),
           "ASGI_MMO_RECORDING_KEYFRAME_SECONDS": "0.5"}  # fmt: skip
    with run_uvicorn(env=env, cwd=work) as process:
        yield process



def eventually(condition: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return found


def recordings(server: ServerProcess) -> list[Message]:
    answer = httpx.get(server.url + "/admin/api/recordings", headers=ADMIN, timeout=5)
    assert answer.status_code == 200, answer.text
    listed: list[Message] = answer.json()["recordings"]
    return listed


def normal(snapshot: Message) -> Message:
    """A SNAPSHOT compared as a set of things: snakes by id, food and stones sorted."""
    return {
        "snakes": sorted((copy.deepcopy(s) for s in snapshot["snakes"]), key=lambda s: s["id"]),
        "food": sorted(map(tuple, snapshot["food"])),
        "stones": sorted(map(tuple, snapshot["stones"])),
    }


def pictures(welcome: Message, frames: list[Message]) -> dict[int, Message]:
    """The picture after every tick or state, by tick, from the game's delta applier."""
    snapshot = copy.deepcopy(welcome["state"])
    seen = {welcome["tick"]: normal(snapshot)}
    for frame in frames:
        if frame["type"] == "tick":
            apply_delta(snapshot, frame)
        elif frame["type"] == "state":
            snapshot = copy.deepcopy(frame["state"])
        else:
            continue
        seen[frame["tick"]] = normal(snapshot)
    return seen


def test_a_recording_replays_what_a_player_saw(server: ServerProcess, tmp_path: Path) -> None:
    room = create_room(server, bots=3, tick_rate=20)
    with connect(f"{server.ws_url}?name=alice&room={room}", open_timeout=5) as alice:
        welcome = json.loads(alice.recv(timeout=5))
        started = httpx.post(f"{server.url}/admin/api/rooms/{room}/recording", headers=ADMIN, timeout=5)
        assert started.status_code == 201, started.text
        recording = started.json()
        assert (recording["room"], recording["state"], recording["format"]) == (room, "recording", FORMAT)
        again = httpx.post(f"{server.url}/admin/api/rooms/{room}/recording", headers=ADMIN, timeout=5)
        assert again.status_code == 409, "one recording per room at a time"
        running = httpx.get(f"{server.url}/admin/api/rooms/{room}/recording", headers=ADMIN, timeout=5)
        assert running.status_code == 200 and running.json()["id"] == recording["id"]
        assert [r["id"] for r in recordings(server)] == [recording["id"]] + [
            r["id"] for r in recordings(server)[1:]
        ]
        frames: list[Message] = []
        alice.send(json.dumps({"type": "chat", "text": "for the record"}))
        alice.send(json.dumps({"type": "input", "seq": 1, "data": {"dir": "left"}}))
        while len([f for f in frames if f["type"] == "tick"]) < 40:  # two seconds at 20 Hz
            frames.append(json.loads(alice.recv(timeout=5)))
        stopped = httpx.delete(f"{server.url}/admin/api/rooms/{room}/recording", headers=ADMIN, timeout=10)
        assert stopped.status_code == 200, stopped.text
        assert (stopped.json()["state"], stopped.json()["reason"]) == ("stopped", "stopped")
        assert httpx.delete(f"{server.url}/admin/api/rooms/{room}/recording", headers=ADMIN).status_code == 404
    listed = next(r for r in recordings(server) if r["id"] == recording["id"])
    assert (listed["state"], listed["reason"]) == ("stopped", "stopped") and listed["bytes"] > 0
    downloaded = httpx.get(f"{server.url}/admin/api/recordings/{recording['id']}", headers=ADMIN, timeout=5)
    assert downloaded.status_code == 200 and downloaded.headers["content-type"] == "application/gzip"
    assert len(downloaded.content) == listed["bytes"]
    path = tmp_path / "copy.jsonl.gz"
    path.write_bytes(downloaded.content)
    lines = list(read_recording(path))
    assert [json.loads(line) for line in gzip.decompress(downloaded.content).splitlines()] == lines
    header, first, *rest = lines
    assert header == {
        "format": FORMAT, "version": VERSION, "id": recording["id"], "room": room, "game": "snake",
        "tick_rate": 20, "width": 40, "height": 30, "view": False, "started": recording["started"],
    }  # fmt: skip
    assert (first["type"], first["spectator"], first["player"]) == ("welcome", True, None)
    assert rest[-1]["type"] == "end" and rest[-1]["reason"] == "stopped"
    kinds = {line["type"] for line in rest}
    assert kinds == {"tick", "state", "chat", "end"}, kinds
    assert any(c["text"] == "for the record" for c in rest if c["type"] == "chat")
    ticks = [line["tick"] for line in rest if line["type"] in ("tick", "state")]
    assert ticks == list(range(first["tick"] + 1, first["tick"] + 1 + len(ticks))), "every tick, in order"
    assert len([line for line in rest if line["type"] == "state"]) >= 2, "keyframes every 0.5 s"
    # The replay's picture at every tick equals the player's at that tick.
    replayed, seen = pictures(first, rest), pictures(welcome, frames)
    common = sorted(set(replayed) & set(seen))
    assert len(common) >= 20
    for tick in common:
        assert replayed[tick] == seen[tick], f"tick {tick}"
    # Deleted: gone from the list, the API and the page.
    assert httpx.delete(f"{server.url}/admin/api/recordings/{recording['id']}", headers=ADMIN).status_code == 204
    assert all(r["id"] != recording["id"] for r in recordings(server))
    assert httpx.get(f"{server.url}/admin/api/recordings/{recording['id']}", headers=ADMIN).status_code == 404


def test_unknown_rooms_and_recordings_answer_404_and_the_api_wants_the_token(server: ServerProcess) -> None:
    for method, path in [("POST", "/admin/api/rooms/nowhere/recording"),
                         ("GET", "/admin/api/rooms/nowhere/recording"),
                         ("DELETE", "/admin/api/rooms/nowhere/recording"),
                         ("GET", "/admin/api/recordings/20260101000000-00000000"),
                         ("DELETE", "/admin/api/recordings/20260101000000-00000000"),
                         ("GET", "/admin/api/recordings/not-an-id"),
                         ("GET", "/admin/api/recordings/..%2F..%2Fetc%2Fpasswd")]:  # fmt: skip
        answer = httpx.request(method, server.url + path, headers=ADMIN, timeout=5)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
        if "%2F" not in path:  # (an encoded slash matches no route at all)
            assert httpx.request(method, server.url + path, timeout=5).status_code == 401
    assert httpx.get(server.url + "/admin/api/recordings", timeout=5).status_code == 401
    page = httpx.get(server.url + "/replay/20260101000000-00000000", timeout=5)
    assert page.status_code == 404 and "No such recording" in page.text


def test_the_record_option_starts_a_recording_for_admins_only(server: ServerProcess) -> None:
    refused = httpx.post(server.url + "/api/rooms", json={"record": True}, timeout=5)
    assert refused.status_code == 401
    assert httpx.post(server.url + "/api/rooms", json={"record": 1}, headers=ADMIN, timeout=5).status_code == 422
    made = httpx.post(server.url + "/api/rooms", json={"record": True, "tick_rate": 20}, headers=ADMIN, timeout=5)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["record"] is True and isinstance(body["recording"], str)
    listed = next(r for r in recordings(server) if r["id"] == body["recording"])
    assert (listed["room"], listed["state"]) == (body["id"], "recording")
    assert httpx.get(f"{server.url}/replay/{body['recording']}", timeout=5).status_code == 200
    assert httpx.post(server.url + "/api/rooms", json={}, timeout=5).json()["record"] is False
    closed = httpx.delete(f"{server.url}/admin/api/rooms/{body['id']}", headers=ADMIN, timeout=5)
    assert closed.status_code == 204
    ended = eventually(
        lambda: next((r for r in recordings(server) if r["id"] == body["recording"] and r["state"] != "recording"),
                     None),
        "the room's end stops its recording",
    )  # fmt: skip
    assert ended["reason"] == "room_closed"


def test_a_recording_stops_by_itself_at_its_limits(tmp_path: Path) -> None:
    env = {"ASGI_MMO_ADMIN_TOKEN": TOKEN, "ASGI_MMO_RECORDINGS_DIR": str(tmp_path / "recordings"),
           "ASGI_MMO_RECORDING_MAX_BYTES": "1200", "ASGI_MMO_RECORDING_MAX_SECONDS": "1.5"}  # fmt: skip
    with run_uvicorn(env=env, cwd=tmp_path) as limited:
        big = create_room(limited, width=200, height=150, tick_rate=20)  # its welcome alone is over 1200 bytes
        small = create_room(limited, width=20, height=15, tick_rate=2)
        with connect(f"{limited.ws_url}?name=alice&room={big}", open_timeout=5) as alice, \
                connect(f"{limited.ws_url}?name=bob&room={small}", open_timeout=5) as bob:
            alice.recv(timeout=5), bob.recv(timeout=5)
            for room in (big, small):
                answer = httpx.post(f"{limited.url}/admin/api/rooms/{room}/recording", headers=ADMIN, timeout=5)
                assert answer.status_code == 201, answer.text

            def ended(room: str) -> Message | None:
                return next((r for r in recordings(limited) if r["room"] == room and r["state"] == "stopped"), None)

            by_size = eventually(lambda: ended(big), "the size limit")
            by_time = eventually(lambda: ended(small), "the time limit")
        assert (by_size["reason"], by_time["reason"]) == ("size_limit", "time_limit")
        assert by_size["bytes"] < 1200 + 64 * 1024, "it stops once it passes the limit"
        assert 1.4 <= by_time["stopped"] - by_time["started"] < 10
        for meta in (by_size, by_time):
            lines = list(read_recording(tmp_path / "recordings" / f"{meta['id']}.jsonl.gz"))
            assert lines[-1] == {"type": "end", "reason": meta["reason"], "tick": meta["last_tick"]}
