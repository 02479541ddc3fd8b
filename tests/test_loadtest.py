"""`asgi-mmo loadtest` and the bench: the player's bookkeeping, the wire, and smoke runs.

Nothing here asserts on speed: the bench prints figures (docs/performance.md).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from asgi_mmo.cli import main as cli_main
from asgi_mmo.loadtest.player import Player
from asgi_mmo.loadtest.stats import LoadStats, lateness_values, percentile
from asgi_mmo.loadtest.wsclient import _masked_frame
from tests.servers import ROOT, run_uvicorn

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
                   "--json", "--compression", "--client", "--width", "--height", "--seed", "--quiet"):
        assert option in text


@pytest.mark.e2e
def test_loadtest_smoke_against_a_real_server(tmp_path: Path) -> None:
    env = {"ASGI_MMO_DB": str(tmp_path / "lb.sqlite3"), "ASGI_MMO_LOG_LEVEL": "warning"}
    with run_uvicorn(env=env, cwd=tmp_path) as server:
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


@pytest.mark.e2e
def test_bench_latency_smoke_with_tiny_numbers(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "latency.py"), "--players", "4", "--rooms", "2", "--duration", "1",
         "--runs", "1", "--results", str(results)],
        cwd=ROOT / "bench", capture_output=True, text=True, timeout=120, env={**os.environ},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "asgi-mmo / baseline" in done.stdout
    line = json.loads(results.read_text().splitlines()[-1])
    assert line["scenario"] == "latency"
    assert set(line["medians"]) == {"asgi-mmo", "baseline"}
    for figures in line["medians"].values():
        assert figures["server_us_per_msg"] > 0 and figures["drops"] == 0
