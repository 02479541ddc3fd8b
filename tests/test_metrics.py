"""`/metrics`: Prometheus text that counts what really happened, in one process and across several."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from asgi_mmo.metrics import Metrics, collect_directory, mark_process_dead, multiprocess_dir
from asgi_mmo.stats import RoomStats
from tests.wsclient import ClientFactory, create_room, expect_close, next_of, ws_url

TOKEN = "metrics-secret"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and labels (the client library's parser)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client(admin_token=TOKEN)


def test_metrics_count_ticks_messages_bytes_and_errors_as_they_happened(client: TestClient) -> None:
    room = create_room(client, tick_rate=30)
    sent = ['{"type":"ping","t":1}', '{"type": "ping", "t": 2}', '{"type":"sync"}', '{"type":"ping","t":3}']
    bad = "this is not json"
    with client.websocket_connect(ws_url(name="alice", room=room)) as ws:
        next_of(ws, "welcome")
        taken = [next_of(ws, "tick") for _ in range(10)]
        for text in sent:
            ws.send_text(text)
        ws.send_text(bad)
        assert next_of(ws, "error")["code"] == "bad_message"
        before = client.get(f"/admin/api/rooms/{room}", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        during = scrape(client)
        after = client.get(f"/admin/api/rooms/{room}", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    with client.websocket_connect(ws_url(name="", room=room)) as ws:
        expect_close(ws, 4400, "bad_name")
    later = scrape(client)

    assert value(during, "asgi_mmo_players") == 1 and value(later, "asgi_mmo_players") == 0
    assert value(during, "asgi_mmo_rooms") == 1
    assert value(during, "asgi_mmo_rooms_created_total") == 1
    ticks = value(during, "asgi_mmo_ticks_total")
    assert before["tick"] <= ticks <= after["tick"] and ticks >= len(taken)
    assert value(during, "asgi_mmo_tick_duration_seconds_count") == ticks
    assert value(during, "asgi_mmo_tick_duration_seconds_bucket", le="+Inf") == ticks
    assert 0 < value(during, "asgi_mmo_tick_duration_seconds_sum") < ticks * 0.25
    assert before["overruns"] <= value(during, "asgi_mmo_tick_overruns_total") <= after["overruns"]
    assert value(during, "asgi_mmo_messages_in_total") == len(sent) + 1
    assert value(during, "asgi_mmo_bytes_in_total") == sum(len(text) for text in [*sent, bad])
    assert before["msgs_out"] <= value(during, "asgi_mmo_messages_out_total") <= after["msgs_out"]
    assert value(during, "asgi_mmo_messages_out_total") >= len(taken) + 3  # ticks, pongs, the error
    assert before["bytes_out"] <= value(during, "asgi_mmo_bytes_out_total") <= after["bytes_out"]
    assert value(during, "asgi_mmo_errors_total", code="bad_message") == 1
    assert value(during, "asgi_mmo_errors_total", code="bad_name") == 0
    assert value(later, "asgi_mmo_errors_total", code="bad_name") == 1
    assert value(later, "asgi_mmo_errors_total", code="server_shutdown") == 0
    assert value(later, "asgi_mmo_slow_clients_dropped_total") == 0
    assert value(later, "process_resident_memory_bytes") > 0


@dataclass(eq=False)
class FakeRoom:
    players: int
    stats: RoomStats = field(default_factory=RoomStats)


@dataclass
class FakeRegistry:
    live: list[FakeRoom]
    rooms_created: int = 0
    rooms_crashed: int = 0

    def rooms(self) -> list[FakeRoom]:
        return list(self.live)

    def relayed(self) -> list[FakeRoom]:
        return []


def run_ticks(
    stats: RoomStats, durations: list[float], *, msgs_in: int = 0, overruns: int = 0, slots_skipped: int = 0
) -> None:
    for duration in durations:
        stats.record_tick(duration, 0.0)
    stats.msgs_in += msgs_in
    stats.overruns += overruns
    stats.slots_skipped += slots_skipped


def test_sampling_adds_only_what_changed_and_keeps_the_last_counts_of_a_disposed_room() -> None:
    metrics = Metrics()
    first, second = FakeRoom(2), FakeRoom(1)
    registry = FakeRegistry([first, second], rooms_created=2)
    run_ticks(first.stats, [0.001, 0.002], msgs_in=5)
    metrics.sample(registry)
    metrics.sample(registry)  # nothing new: nothing added
    run_ticks(first.stats, [0.003], msgs_in=1, overruns=1)
    run_ticks(second.stats, [0.5], overruns=1, slots_skipped=10)
    registry.live.remove(second)  # disposed between two samples: its last tick still counts
    registry.rooms_crashed = 1
    metrics.sample(registry)
    metrics.error("too_slow")
    samples = parse(metrics.exposition()[0].decode())
    assert value(samples, "asgi_mmo_ticks_total") == 4
    assert value(samples, "asgi_mmo_tick_duration_seconds_count") == 4
    assert value(samples, "asgi_mmo_tick_duration_seconds_sum") == pytest.approx(0.506)
    assert value(samples, "asgi_mmo_tick_duration_seconds_bucket", le="0.001") == 1
    assert value(samples, "asgi_mmo_tick_duration_seconds_bucket", le="0.0025") == 2
    assert value(samples, "asgi_mmo_tick_duration_seconds_bucket", le="0.25") == 3
    assert value(samples, "asgi_mmo_messages_in_total") == 6
    assert value(samples, "asgi_mmo_tick_overruns_total") == 2
    assert value(samples, "asgi_mmo_tick_slots_skipped_total") == 10
    assert value(samples, "asgi_mmo_players") == 2 and value(samples, "asgi_mmo_rooms") == 1
    assert value(samples, "asgi_mmo_rooms_created_total") == 2
    assert value(samples, "asgi_mmo_rooms_crashed_total") == 1
    assert value(samples, "asgi_mmo_slow_clients_dropped_total") == 1
    assert value(samples, "asgi_mmo_errors_total", code="too_slow") == 1


def _worker_process(players: int, ticks: int, error: str) -> None:
    """One 'worker' writing its metrics into the shared PROMETHEUS_MULTIPROC_DIR."""
    metrics = Metrics(multiprocess_dir())
    room = FakeRoom(players)
    run_ticks(room.stats, [0.004] * ticks, msgs_in=ticks)
    metrics.sample(FakeRegistry([room], rooms_created=1))
    metrics.error(error)


def test_several_processes_add_up_in_multiprocess_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_worker_process, args=(3, 10, "bad_message")),
        spawn.Process(target=_worker_process, args=(4, 5, "too_slow")),
    ]
    with monkeypatch.context() as env:
        # Fresh interpreters that see the variable before they import prometheus-client,
        # as gunicorn's workers do; this process keeps its own single-process registry.
        env.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        for worker in workers:
            worker.start()
        with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
            multiprocess_dir()  # set too late for this process: refused, not half-working
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0

    samples = parse(collect_directory(str(tmp_path)).decode())
    assert value(samples, "asgi_mmo_players") == 7
    assert value(samples, "asgi_mmo_rooms") == 2
    assert value(samples, "asgi_mmo_ticks_total") == 15
    assert value(samples, "asgi_mmo_tick_duration_seconds_count") == 15
    assert value(samples, "asgi_mmo_messages_in_total") == 15
    assert value(samples, "asgi_mmo_rooms_created_total") == 2
    assert value(samples, "asgi_mmo_errors_total", code="bad_message") == 1
    assert value(samples, "asgi_mmo_errors_total", code="too_slow") == 1
    assert value(samples, "asgi_mmo_slow_clients_dropped_total") == 1

    # gunicorn's child_exit hook: a dead worker's players no longer count, its ticks still do
    assert workers[0].pid is not None
    mark_process_dead(workers[0].pid, str(tmp_path))
    samples = parse(collect_directory(str(tmp_path)).decode())
    assert value(samples, "asgi_mmo_players") == 4
    assert value(samples, "asgi_mmo_ticks_total") == 15
    assert not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
