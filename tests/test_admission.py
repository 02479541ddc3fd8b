"""Admission against a real server: rooms as heavy as the public API allows, each with a player,
are refused `503 busy` once they cannot fit, and a small room elsewhere keeps its ticks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.servers import ServerProcess, run_uvicorn

pytestmark = pytest.mark.e2e

#: as heavy as the public API allows
HEAVIEST: dict[str, object] = {"bots": 100, "width": 1000, "height": 1000, "tick_rate": 60, "private": True}
#: heavy, but two fit one process (admission.py estimates 21 ms a tick: 21 % of a core at 10 Hz)
HEAVY: dict[str, object] = {"bots": 30, "width": 1000, "height": 1000, "tick_rate": 10, "private": True}
TOKEN = "admission-test-token"
WARM_UP_SECONDS = 2.0
MEASURE_SECONDS = 6.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with run_uvicorn(env={"ASGI_MMO_ADMIN_TOKEN": TOKEN}, cwd=tmp_path_factory.mktemp("admission")) as process:
        yield process


async def play(url: str, stop: asyncio.Event) -> None:
    """One player that reads everything its room sends until told to stop."""
    async with websockets.connect(url, max_size=None, open_timeout=20) as ws:
        while not stop.is_set():
            try:
                await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                pass


async def ticks_of_small_room(server: ServerProcess, heavy_rooms: list[str]) -> tuple[int, float]:
    """Ticks the small room ran while the heavy ones ran beside it, and over how long."""
    stop = asyncio.Event()
    players = [asyncio.create_task(play(f"{server.ws_url}?name=heavy&room={room}", stop)) for room in heavy_rooms]
    try:
        async with httpx.AsyncClient() as client:
            small = (await client.post(server.url + "/api/rooms", json={"tick_rate": 10, "private": True})).json()
        async with websockets.connect(f"{server.ws_url}?name=small&room={small['id']}", open_timeout=20) as ws:
            started = time.monotonic()
            first_tick: int | None = None
            last_tick = 0
            measure_from = started + WARM_UP_SECONDS
            while (now := time.monotonic()) < measure_from + MEASURE_SECONDS:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] in ("tick", "state"):
                    if first_tick is None and now >= measure_from:
                        first_tick, measured_at = message["tick"], now
                    last_tick = message["tick"]
            assert first_tick is not None
            return last_tick - first_tick, time.monotonic() - measured_at
    finally:
        stop.set()
        await asyncio.gather(*players, return_exceptions=True)


def make(server: ServerProcess, settings: dict[str, object]) -> httpx.Response:
    return httpx.post(server.url + "/api/rooms", json=settings, timeout=20)


def assert_busy(answer: httpx.Response) -> None:
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "busy", answer.text


def test_rooms_as_heavy_as_the_api_allows_are_refused_503_busy(server: ServerProcess) -> None:
    for _ in range(4):
        assert_busy(make(server, HEAVIEST))
    assert make(server, {"private": True}).status_code == 201  # a light room is always let in


def test_heavy_rooms_fill_the_budget_and_a_small_room_keeps_its_ticks(server: ServerProcess) -> None:
    answers: list[httpx.Response] = []
    while len(answers) < 8 and (not answers or answers[-1].status_code == 201):
        answers.append(make(server, HEAVY))
    made = [answer.json()["id"] for answer in answers if answer.status_code == 201]
    assert len(made) >= 2, "a few heavy rooms fit an empty process"
    assert_busy(answers[-1])
    ticks, seconds = asyncio.run(ticks_of_small_room(server, made))
    share = ticks / (seconds * 10)
    stats = httpx.get(server.url + "/admin/api/rooms", headers={"Authorization": f"Bearer {TOKEN}"}).json()["rooms"]
    heavy = [room for room in stats if room["id"] in made]
    print(f"{len(made)} heavy rooms admitted, then 503 busy; the small room ran {ticks} ticks in {seconds:.1f} s "
          f"({share:.0%} of 10 Hz); the heavy rooms' ticks {[room['tick'] for room in heavy]}, "
          f"tick_ms p50 {[room['tick_ms']['p50'] for room in heavy]}")
    assert share >= 0.8
