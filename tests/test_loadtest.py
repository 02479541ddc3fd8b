"""`asgi-mmo loadtest` and the bench: the player's bookkeeping, the wire, and smoke runs.

Nothing here asserts on speed: the bench prints figures (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from asgi_mmo.cli import main as cli_main
from asgi_mmo.games.arena.game import Arena
from asgi_mmo.games.catalog import GAMES, game_info
from asgi_mmo.games.inputs import check_input
from asgi_mmo.loadtest.drivers import (
    ArenaDriver,
    ExamplesDriver,
    NoExamples,
    SnakeDriver,
    driver_kind,
)
from asgi_mmo.loadtest.player import Player
from asgi_mmo.loadtest.rooms import LoadSetupError, RoomRequest, parse_option, typed_options
from asgi_mmo.loadtest.stats import LoadStats, lateness_values, percentile
from asgi_mmo.loadtest.wsclient import _masked_frame
from tests.servers import ROOT, ServerProcess, run_uvicorn

SUMMARY_FIELDS = {
    "players", "rooms", "tick_rate", "connected", "connection_failures", "drops", "ticks", "ticks_per_s",
    "lateness_ms", "ack_ms", "inputs_sent", "inputs_acked", "ticks_missed", "state_resyncs", "loadgen_cpu",
}


class FakeSocket:
    """A `ClientSocket` that keeps what the player sends."""

    deflate = False
    bytes_in = 0

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_text(self, text: str) -> None:
        self.sent.append(orjson.loads(text))

    def close(self, code: int = 1000) -> None:
        raise AssertionError("the player never closes its socket")

    def abort(self) -> None:
        raise AssertionError("the player never aborts its socket")


def welcome(tick: int = 10, alive: bool = True) -> bytes:
    snake = {"id": "abcd0123", "alive": alive, "dir": "right", "body": [[5, 5]]}
    return orjson.dumps({"type": "welcome", "player": "abcd0123", "tick_rate": 20, "tick": tick,
                         "state": {"snakes": [snake]}})


def tick_frame(tick: int, ack: int, **delta: object) -> bytes:
    rest = orjson.dumps(delta).decode()
    return f'{{"type":"tick","tick":{tick},"ack":{ack}{"," + rest[1:] if delta else "}"}'.encode()


async def test_the_player_reads_ticks_acks_and_gaps_from_the_frame_start() -> None:
    stats = LoadStats(window=True)
    player = Player(stats, 0, random.Random(1), chat_every=0)
    player.socket = socket = FakeSocket()
    player.on_message(welcome(tick=10), 100.0)
    assert player.welcomed and player.alive and stats.connected == 1
    seq = player._input('{"dir":"up"}')
    player.on_message(tick_frame(11, 0), 100.05)
    player.on_message(tick_frame(12, seq, moves=[["abcd0123", 5, 4, 0]]), 100.11)
    assert stats.inputs_acked == 1 and len(stats.ack_latency) == 1
    # tick 13 and 14 never came and no state stood for them: counted, and the player asks for one
    player.on_message(tick_frame(15, seq), 100.25)
    assert stats.ticks_missed == 2 and stats.gaps == 1
    assert socket.sent[-1] == {"type": "sync"}
    player.on_message(orjson.dumps({"type": "state", "tick": 18, "ack": seq, "state": {"snakes": []}}), 100.4)
    assert stats.state_resyncs == 1 and stats.ticks_missed == 4 and not player.alive
    player.on_message(tick_frame(19, seq, died=["abcd0123"]), 100.45)
    assert stats.ticks == 5
    # lateness: each arrival against the connection's earliest offset (tick 11 came 0 s late)
    lateness = sorted(lateness_values([player.offsets]))
    assert lateness[0] == 0.0
    assert percentile(lateness, 1.0) == pytest.approx(0.01)


async def test_a_death_in_the_tick_makes_the_player_respawn() -> None:
    stats = LoadStats()
    player = Player(stats, 0, random.Random(1), chat_every=0)
    player.socket = socket = FakeSocket()
    player.on_message(welcome(), 1.0)
    player.on_message(tick_frame(11, 0, moves=[["abcd0123", 6, 5, 0]], died=["ffff0000"]), 1.05)
    assert player.alive, "another snake's death"
    player.on_message(tick_frame(12, 0, died=["abcd0123"]), 1.1)
    assert not player.alive and stats.deaths == 1
    player._act()
    respawn = socket.sent[-1]
    assert respawn["data"] == {"respawn": True}
    player.on_message(tick_frame(13, respawn["seq"]), 1.15)
    assert player.alive
    player.leave()
    assert socket.sent[-1] == {"type": "leave"}


def view_welcome() -> bytes:
    snake = {"id": "abcd0123", "name": "load0", "alive": True, "dir": "right", "body": [[5, 5]], "serials": [1]}
    return orjson.dumps({"type": "welcome", "player": "abcd0123", "tick_rate": 20, "tick": 10,
                         "view": {"x": 0, "y": 0, "width": 32, "height": 24, "bucket": 32},
                         "state": {"width": 200, "height": 200, "snakes": [snake], "food": [], "stones": []}})


def entry(sid: str, alive: bool) -> dict[str, object]:
    return {"id": sid, "name": "load0", "color": "#fff", "dir": "up", "alive": alive, "score": 0, "bot": False}


async def test_in_a_view_room_the_player_reads_its_death_from_its_own_entry() -> None:
    stats = LoadStats()
    player = Player(stats, 0, random.Random(1), chat_every=0)
    player.socket = socket = FakeSocket()
    player.on_message(view_welcome(), 1.0)
    assert player.alive
    other_died = {"b": [0, 0], "snakes": [entry("ffff0000", False), entry("abcd0123", True)],
                  "cells": [["abcd0123", 6, 5, 2]]}
    player.on_message(tick_frame(11, 0, buckets=[other_died]), 1.05)
    assert player.alive, "another snake's death, its own entry alive"
    player.on_message(tick_frame(12, 0, buckets=[{"cut": [["abcd0123", 5, 5]]}]), 1.1)
    assert player.alive, "no entry of its own: nothing said about it"
    own_died = {"b": [0, 0], "snakes": [entry("abcd0123", False)]}
    player.on_message(tick_frame(13, 0, view={"x": 1, "y": 0, "width": 32, "height": 24, "bucket": 32},
                                 enter=[{**own_died, "cells": [], "food": [], "stones": []}]), 1.15)
    assert not player.alive and stats.deaths == 1
    player._act()
    respawn = socket.sent[-1]
    assert respawn["data"] == {"respawn": True}
    player.on_message(tick_frame(14, respawn["seq"], buckets=[{"snakes": [entry("abcd0123", True)]}]), 1.2)
    assert player.alive and stats.respawned == 1


def arena_welcome(alive: bool = True) -> bytes:
    ship = {"id": "abcd0123", "name": "load0", "x": 5.0, "y": 5.0, "vx": 0.0, "vy": 0.0, "aim": 0.0, "hp": 3,
            "alive": alive, "score": 0, "bot": False}
    return orjson.dumps({"type": "welcome", "player": "abcd0123", "tick_rate": 20, "tick": 10,
                         "state": {"width": 60, "height": 40, "ships": [ship]}})


async def test_the_arena_player_dies_asks_once_and_lives_when_its_ship_is_back() -> None:
    stats = LoadStats()
    rng = random.Random(4)
    player = Player(stats, 0, rng, 0, ArenaDriver(rng))
    player.socket = socket = FakeSocket()
    player.on_message(arena_welcome(), 1.0)
    assert player.alive
    player.on_message(tick_frame(11, 0, moves=[["abcd0123", 5.6, 5.0, 12.0, 0.0]], died=["ffff0000"]), 1.05)
    assert player.alive, "another ship's death"
    player.on_message(tick_frame(12, 0, moves=[["abcd0123", 5.6, 5.0, 0.0, 0.0]], died=["abcd0123"]), 1.1)
    assert not player.alive and stats.deaths == 1
    player._act()
    respawn = socket.sent[-1]
    assert respawn["data"] == {"respawn": True} and stats.respawns == 1
    # acked at once, but the game holds the request until the delay has passed: still dead, and no second request
    player.on_message(tick_frame(13, respawn["seq"], ships=[{"id": "ffff0000", "alive": True}]), 1.15)
    assert not player.alive and player.respawn_waits
    player._act()
    assert len(socket.sent) == 1 and stats.respawns == 1
    back = {"id": "abcd0123", "name": "load0", "x": 9.0, "y": 9.0, "alive": True, "hp": 3}
    player.on_message(tick_frame(14, respawn["seq"], ships=[back]), 1.2)
    assert player.alive and stats.respawned == 1
    player._act()
    assert set(socket.sent[-1]["data"]) >= {"move", "aim"}


async def test_arena_inputs_fit_the_schema_and_fire_with_the_last_tick_seen() -> None:
    rng = random.Random(5)
    player = Player(LoadStats(), 0, rng, 0, ArenaDriver(rng))
    player.socket = socket = FakeSocket()
    player.on_message(arena_welcome(), 1.0)
    for tick in range(11, 511):
        player.on_message(tick_frame(tick, 0), tick * 0.05)
        player._act()
    fired = [sent["data"] for sent in socket.sent if sent["data"].get("fire")]
    assert 200 < len(fired) < 400 and all(data["seen"] == 510 for data in fired[-1:])
    for number, sent in enumerate(socket.sent):
        check_input(Arena, sent["data"])  # raises InvalidInput on anything the server would refuse
        if sent["data"].get("fire"):
            assert sent["data"]["seen"] == 11 + number


async def test_the_examples_driver_cycles_the_schema_examples_and_reads_no_deaths() -> None:
    info = game_info(GAMES["arena"])
    driver = ExamplesDriver(random.Random(1), info)
    sent = [orjson.loads(driver.next_input(7)) for _ in range(10)]
    schema = info["input"]
    assert isinstance(schema, dict)
    examples = list(schema["examples"])
    start = examples.index(sent[0])
    assert sent == [examples[(start + n) % len(examples)] for n in range(10)]
    stats = LoadStats()
    player = Player(stats, 0, random.Random(1), 0, driver)
    player.socket = FakeSocket()
    player.on_message(arena_welcome(alive=False), 1.0)
    assert player.alive, "it cannot tell, so it plays on"
    player.on_message(tick_frame(11, 0, died=["abcd0123"]), 1.05)
    assert player.alive and stats.deaths == 0
    with pytest.raises(NoExamples):
        ExamplesDriver(random.Random(1), {"name": "mute", "input": {"type": "object"}})


def test_drivers_are_chosen_per_game_and_size_their_rooms() -> None:
    assert driver_kind("snake") is SnakeDriver and driver_kind("arena") is ArenaDriver
    assert driver_kind("chess") is ExamplesDriver and driver_kind("snake", "examples") is ExamplesDriver
    with pytest.raises(ValueError):
        driver_kind("snake", "clever")
    assert SnakeDriver.field_for(50) == (49, 49) and SnakeDriver.field_for(2) == (40, 40)
    assert ArenaDriver.field_for(50) == (60, 40) and ArenaDriver.field_for(200) == (120, 80)
    assert ExamplesDriver.field_for(50) is None


def test_options_are_typed_by_the_game_and_sent_under_options() -> None:
    info = game_info(GAMES["arena"])
    raw = dict(parse_option(text) for text in ("hit_points=1", "ship_speed = 20.5", "respawn_seconds=0"))
    assert typed_options(raw, info) == {"hit_points": 1, "ship_speed": 20.5, "respawn_seconds": 0.0}
    with pytest.raises(LoadSetupError, match="no option 'warp'"):
        typed_options({"warp": "9"}, info)
    with pytest.raises(LoadSetupError, match="integer"):
        typed_options({"hit_points": "many"}, info)
    with pytest.raises(ValueError):
        parse_option("hit_points")
    body = RoomRequest(game="arena", rooms=4, players=10, tick_rate=20, field=None, options={"hit_points": 1}).body()
    assert body == {"game": "arena", "max_players": 3, "tick_rate": 20, "options": {"hit_points": 1}}
    snake = RoomRequest(game="snake", rooms=2, players=10, tick_rate=20, field=(40, 40), options={}).body()
    assert snake == {"game": "snake", "max_players": 5, "tick_rate": 20, "width": 40, "height": 40}


def test_client_frames_are_masked_and_unmask_to_the_text() -> None:
    frame = _masked_frame(0x81, b'{"type":"sync"}')
    assert frame[0] == 0x81 and frame[1] == 0x80 | 15
    key, masked = frame[2:6], frame[6:]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(masked)) == b'{"type":"sync"}'
    long = _masked_frame(0x81, b"x" * 300)
    assert long[1] == 0x80 | 126 and int.from_bytes(long[2:4], "big") == 300


def test_loadtest_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["loadtest", "--help"])
    text = capsys.readouterr().out
    for option in ("--url", "--players", "--rooms", "--ramp-up", "--duration", "--tick-rate", "--chat-every",
                   "--json", "--compression", "--client", "--width", "--height", "--seed", "--quiet", "--game",
                   "--option", "--driver", "--view", "--world", "--bots"):
        assert option in text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the load tests run against it: each makes rooms of its own, which stop
    ticking when its players leave."""
    work = tmp_path_factory.mktemp("loadtest-server")
    with run_uvicorn(env={"ASGI_MMO_DB": str(work / "lb.sqlite3"), "ASGI_MMO_LOG_LEVEL": "warning"}, cwd=work) as up:
        yield up


@pytest.mark.e2e
def test_loadtest_smoke_against_a_real_server(server: ServerProcess) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "asgi_mmo.cli", "loadtest", "--url", server.url, "--players", "6", "--rooms", "2",
         "--ramp-up", "0.5", "--duration", "2", "--chat-every", "1", "--json", "--seed", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert SUMMARY_FIELDS <= set(summary)
    assert summary["connected"] == 6 and summary["connection_failures"] == 0 and summary["drops"] == 0
    assert summary["ticks"] > 0 and summary["ticks_missed"] == 0
    assert summary["inputs_sent"] > 0 and summary["inputs_acked"] > 0 and summary["ack_ms"]["p50"] > 0
    assert set(summary["lateness_ms"]) == {"p50", "p99", "max"}
    assert summary["chats_in"] > 0
    assert "tick lateness" in done.stderr, "the summary table goes to standard error with --json"


def run_loadtest(url: str, *flags: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "asgi_mmo.cli", "loadtest", "--url", url, "--ramp-up", "0.5", "--json", "--quiet",
         "--chat-every", "0", "--seed", "3", *flags],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


@pytest.mark.e2e
def test_loadtest_drives_the_arena_deaths_and_respawns_included(server: ServerProcess) -> None:
    # a small field and one hit point a ship: random aim kills often enough to count
    summary = run_loadtest(server.url, "--game", "arena", "--players", "8", "--rooms", "2", "--duration", "3",
                           "--width", "12", "--height", "12", "--option", "hit_points=1",
                           "--option", "respawn_seconds=0.2")
    assert summary["game"] == "arena" and summary["driver"] == "arena" and summary["field"] == [12, 12]
    assert summary["options"]["hit_points"] == 1 and summary["options"]["respawn_seconds"] == 0.2
    assert summary["connected"] == 8 and summary["connection_failures"] == 0 and summary["drops"] == 0
    assert summary["ticks"] > 0 and summary["ticks_missed"] == 0
    assert summary["inputs_acked"] > 0 and summary["inputs_sent"] - summary["inputs_acked"] <= 8
    assert summary["ack_ms"]["p50"] > 0
    assert summary["errors"] == {}, "every arena input the driver sent was accepted"
    assert summary["deaths"] > 0 and summary["respawns"] > 0 and summary["respawned"] > 0
    assert summary["respawned"] <= summary["respawns"] <= summary["deaths"]


@pytest.mark.e2e
def test_a_view_room_costs_far_fewer_bytes_per_player_tick_than_a_plain_one(server: ServerProcess) -> None:
    # 800 x 800: a view holds up to 2 x 2 buckets of 64 cells, so on a smaller field it sees so
    # large a share that the bytes' ratio comes near the bound (400 x 400: 3.9-4.8x; here 6-7x)
    world = ("--players", "30", "--rooms", "1", "--bots", "20", "--width", "800", "--height", "800",
             "--duration", "2")
    viewed = run_loadtest(server.url, *world, "--view", "32x24")
    plain = run_loadtest(server.url, *world)
    refused = subprocess.run(
        [sys.executable, "-m", "asgi_mmo.cli", "loadtest", "--url", server.url, "--game", "arena", "--world"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert viewed["view"] == "32x24" and plain["view"] is None and viewed["field"] == plain["field"] == [800, 800]
    for summary in (viewed, plain):
        assert summary["connected"] == 30 and summary["drops"] == 0 and summary["ticks"] > 0
        assert summary["bytes_per_player_tick"] > 0 and summary["window_bytes"] > 0
        # a share of the wall clock's ticks: how many a loaded machine runs is the bench's
        # question (bench/world.py), not this test's; more than all of them would be a miscount
        assert 0 < summary["ticks_delivered"] <= 1.1
        assert summary["inputs_acked"] > 0 and summary["errors"] == {}
    assert viewed["bytes_per_player_tick"] * 4 < plain["bytes_per_player_tick"], (viewed, plain)
    assert refused.returncode == 2 and "refused the room" in refused.stderr


@pytest.mark.e2e
def test_the_examples_driver_is_accepted_by_every_game(server: ServerProcess) -> None:
    games = [info["name"] for info in httpx.get(server.url + "/api/games").json()["games"]]
    assert {"snake", "arena"} <= set(games)
    for game in games:
        summary = run_loadtest(server.url, "--game", game, "--driver", "examples", "--players", "4",
                               "--rooms", "1", "--duration", "2")
        assert summary["game"] == game and summary["driver"] == "examples"
        assert summary["connected"] == 4 and summary["drops"] == 0
        assert summary["inputs_acked"] > 0 and summary["inputs_sent"] - summary["inputs_acked"] <= 4
        assert "bad_message" not in summary["errors"] and summary["errors"] == {}, game
    refused = subprocess.run(
        [sys.executable, "-m", "asgi_mmo.cli", "loadtest", "--url", server.url, "--game", "chess"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert refused.returncode == 2 and "runs no game 'chess'" in refused.stderr


def run_bench(script: str, *args: str, results: Path | None = None, timeout: float = 120) -> str:
    """Run `bench/SCRIPT` with these arguments (results to `results`), as its docs say; its output."""
    extra = ["--results", str(results)] if results is not None else []
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, *extra],
        cwd=ROOT / "bench", capture_output=True, text=True, timeout=timeout, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def last_result(results: Path) -> Any:
    return json.loads(results.read_text().splitlines()[-1])


@pytest.mark.e2e
def test_bench_arena_smoke_with_tiny_numbers(tmp_path: Path) -> None:
    # 20 players, as the latency smoke below: 4 players' CPU time was often no clock tick at all
    run_bench("arena.py", "--players", "20", "--rooms", "2", "--duration", "1", "--runs", "1",
              results=tmp_path / "results.jsonl")  # fmt: skip
    line = last_result(tmp_path / "results.jsonl")
    assert line["scenario"] == "arena" and set(line["medians"]) == {"snake", "arena"}
    for figures in line["medians"].values():
        assert figures["server_us_per_msg"] >= 0 and figures["mean_frame_bytes"] > 0 and figures["drops"] == 0


@pytest.mark.e2e
def test_bench_latency_smoke_with_tiny_numbers(tmp_path: Path) -> None:
    # 20 players: the server's CPU time in the window is read in clock ticks (10 ms), and 4 players'
    # worth (about 8 ms) was often none, a figure of 0 us per message
    output = run_bench("latency.py", "--players", "20", "--rooms", "2", "--duration", "1", "--runs", "1",
                       results=tmp_path / "results.jsonl")  # fmt: skip
    assert "asgi-mmo / baseline" in output
    line = last_result(tmp_path / "results.jsonl")
    assert line["scenario"] == "latency"
    assert set(line["medians"]) == {"asgi-mmo", "baseline"}
    for figures in line["medians"].values():
        # (server CPU is read from /proc in 10 ms steps: a 1 s window of 4 players may read 0)
        assert figures["server_us_per_msg"] >= 0 and figures["drops"] == 0


@pytest.mark.e2e
def test_bench_world_smoke_with_tiny_numbers(tmp_path: Path) -> None:
    run_bench("world.py", "--players", "6", "--bots", "2", "--size", "200", "--view", "32x24", "--rooms", "2",
              "--duration", "1", "--runs", "1", results=tmp_path / "results.jsonl", timeout=180)  # fmt: skip
    line = last_result(tmp_path / "results.jsonl")
    assert line["scenario"] == "world" and set(line["medians"]) == {"world", "plain", "broadcast"}
    for figures in line["medians"].values():
        assert figures["server_us_per_msg"] >= 0 and figures["bytes_per_player_tick"] > 0 and figures["drops"] == 0
    assert set(line["ratios"]) == {"cpu_per_msg_world_over_plain", "cpu_per_msg_world_over_broadcast",
                                   "bytes_world_over_broadcast"}
    assert set(line["targets"]) == {"lateness_p99_under_10_ms", "ticks_delivered_98_percent", "no_drops",
                                    "bytes_per_player_tick_1500", "cpu_per_msg_1_3x_plain"}


@pytest.mark.e2e
def test_bench_bots_smoke_with_tiny_numbers(tmp_path: Path) -> None:
    """bench/bots.py runs a registry in process: a change to how one is built broke it once, unseen."""
    run_bench("bots.py", "--rounds", "1", "--seconds", "1", "--bots", "3", "--size", "40",
              results=tmp_path / "results.jsonl")  # fmt: skip
    line = last_result(tmp_path / "results.jsonl")
    assert line["scenario"] == "bots" and set(line["medians"]) == {"processes", "inline"}
    for figures in line["medians"].values():
        assert figures["ticks"] > 0 and figures["plans_per_s"] > 0


@pytest.mark.e2e
def test_bench_world_compose_smoke_with_tiny_numbers() -> None:
    """bench/world_compose.py drives a view room in process, each kind of fan-out."""
    for kind in ([], ["--plain"], ["--nine-grid"], ["--parts"]):
        output = run_bench("world_compose.py", "--players", "20", "--bots", "2", "--ticks", "5", "--size", "200", *kind)
        assert "bytes per player-tick" in output and "whole step" in output
    # --parts (the last kind) prints a median of each part it times
    parts = re.search(r"parts of the composition \(wall time, median a tick\): (.*)", output)
    assert parts is not None, output
    assert re.fullmatch(r"moved views' frames \(their entered snapshots included\) [0-9.]+ ms, "
                        r"bucket snapshots [0-9.]+ ms, shared tails [0-9.]+ ms", parts[1].strip()), parts[1]
