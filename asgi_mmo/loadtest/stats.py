"""What a load test counts, and how its summary is made.

Tick lateness: the server numbers a room's ticks; the ideal arrival of tick N
on a connection is `t0 + N / tick_rate` for an unknown `t0` (the room's phase
plus the fastest path from the room to the client). Each arrival gives an
offset `arrival - N / tick_rate`; the smallest offset a connection saw stands
for `t0`, and a tick's lateness is its offset minus that smallest one. It
measures how much later than its best a connection's tick came: the event
loops' pressure on both sides, not the constant path delay (see
docs/performance.md). The live figure uses the smallest offset seen so far.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from asgi_mmo.stats import percentile as percentile  # re-exported: tests/test_loadtest.py takes it from here
from asgi_mmo.stats import summary_ms


def spread_ms(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of seconds, in milliseconds to 2 decimals (bench/ scripts parse these)."""
    return summary_ms(values, digits=2)


@dataclass(slots=True)
class LoadStats:
    window: bool = False  # inside the measurement window (after the ramp-up)
    connected: int = 0
    connected_at_end: int = 0  # players connected when the window closed
    peak_connected: int = 0
    messages: int = 0  # every message received, whole run
    ticks: int = 0  # tick and state frames received in the window
    ticks_missed: int = 0  # tick numbers skipped (a `state` stood for them, or a gap)
    gaps: int = 0  # a `tick` that did not follow the previous one without a `state` between (a contract break)
    state_resyncs: int = 0
    syncs_sent: int = 0
    inputs_sent: int = 0
    inputs_acked: int = 0
    chats_sent: int = 0
    chats_in: int = 0
    deaths: int = 0  # the player's own deaths read from tick frames (drivers that can tell)
    respawns: int = 0  # respawn inputs sent
    respawned: int = 0  # times a dead player was alive again (its respawn acked, or its ship back)
    failures: Counter[str] = field(default_factory=Counter)  # connections that never got a welcome
    drops: Counter[str] = field(default_factory=Counter)  # welcomed connections the server ended
    errors: Counter[str] = field(default_factory=Counter)  # `error` frames by code
    # --resume: players that reconnect with their token after a drop
    resumes: list[float] = field(default_factory=list)  # seconds from a drop to the welcome that resumed it
    seats_lost: int = 0  # a resume refused for good (bad_token, room_not_found), or given another seat
    resume_failures: int = 0  # a resume that did not get through within the resume time
    ack_latency: list[float] = field(default_factory=list)  # seconds, in the window
    live_lateness: list[float] = field(default_factory=list)  # since the last progress line
    live_ticks: int = 0

    def connection_failed(self, reason: str) -> None:
        self.failures[reason] += 1

    def take_live(self) -> tuple[int, list[float]]:
        ticks, lateness = self.live_ticks, self.live_lateness
        self.live_ticks, self.live_lateness = 0, []
        return ticks, lateness


def lateness_values(offsets: list[array[float]]) -> list[float]:
    """Every window tick's lateness, each connection against its own earliest offset."""
    values: list[float] = []
    for series in offsets:
        if series:
            best = min(series)
            values.extend([offset - best for offset in series])
    return values


def summary(stats: LoadStats, offsets: list[array[float]], settings: dict[str, Any], window_s: float,
            loadgen_cpu_s: float) -> dict[str, Any]:
    """The figures of a run, as printed in the table and the JSON line."""
    return {
        **settings,
        "window_s": round(window_s, 2),
        "connected": stats.connected_at_end,
        "peak_connected": stats.peak_connected,
        "connection_failures": sum(stats.failures.values()),
        "failures": dict(stats.failures),
        "drops": sum(stats.drops.values()),
        "drop_codes": dict(stats.drops),
        "ticks": stats.ticks,
        "ticks_per_s": round(stats.ticks / window_s, 1) if window_s else 0.0,
        "messages": stats.messages,
        "lateness_ms": spread_ms(lateness_values(offsets)),
        "ack_ms": spread_ms(stats.ack_latency),
        "acks_measured": len(stats.ack_latency),
        "inputs_sent": stats.inputs_sent,
        "inputs_acked": stats.inputs_acked,
        "ticks_missed": stats.ticks_missed,
        "tick_gaps": stats.gaps,
        "state_resyncs": stats.state_resyncs,
        "syncs_sent": stats.syncs_sent,
        "deaths": stats.deaths,
        "respawns": stats.respawns,
        "respawned": stats.respawned,
        "chats_sent": stats.chats_sent,
        "chats_in": stats.chats_in,
        "errors": dict(stats.errors),
        "resumes": len(stats.resumes),
        "resume_ms": spread_ms(stats.resumes),
        "seats_lost": stats.seats_lost,
        "resume_failures": stats.resume_failures,
        "loadgen_cpu": round(loadgen_cpu_s / window_s, 3) if window_s else 0.0,
        "loadgen_us_per_msg": round(loadgen_cpu_s / stats.ticks * 1e6, 2) if stats.ticks else 0.0,
    }
