"""What every bench scenario shares: servers pinned to a core, measurement, results.

The server runs pinned to core 0 (`taskset -c 0`), the load generator (this
process, running `asgi_mmo.loadtest` in-process) pinned to core 1. Around the
load test's measured window the bench reads the server's CPU time
(utime + stime of the process and its children, /proc/PID/stat), its RSS,
the machine's load average and each core's idle time (/proc/stat), so every
figure comes with how busy the machine was.

Servers: `asgi-mmo` is `uvicorn asgi_mmo.app:app` with the options of
`asgi-mmo serve` (`asgi_mmo.cli.uvicorn_options()`); `baseline` is
`bench/baseline_server.py`. Only loopback addresses; every server is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asgi_mmo.cli import uvicorn_options  # noqa: E402
from asgi_mmo.loadtest.runner import LoadConfig, LoadTest  # noqa: E402

RESULTS = ROOT / "bench" / "results.jsonl"
SERVER_CPU = "0"
LOADGEN_CPU = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
KINDS = ("asgi-mmo", "baseline")
ADMIN_TOKEN = "bench-admin-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin_self() -> None:
    """This process (the load generator) on core 1, when the machine has one."""
    if os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {LOADGEN_CPU})


def server_command(kind: str, port: int, deflate: bool | None) -> list[str]:
    """`kind`: "baseline", "asgi-mmo", or "asgi-mmo:/path" to serve the asgi_mmo package found under /path.

    Plain "asgi-mmo" serves this tree, or the one named by ASGI_MMO_BENCH_ROOT (a snapshot made with
    `git archive`, so that a long bench does not see a tree that changes under it).
    """
    if kind == "baseline":
        command = [sys.executable, str(ROOT / "bench" / "baseline_server.py"), "--port", str(port)]
        if deflate is not None:
            command += ["--ws-per-message-deflate", "true" if deflate else "false"]
        return command
    options = uvicorn_options()
    root = kind.partition(":")[2] or os.environ.get("ASGI_MMO_BENCH_ROOT") or str(ROOT)
    command = [sys.executable, "-m", "uvicorn", "asgi_mmo.app:app", "--app-dir", root, "--port", str(port),
               "--log-level", "warning",
               "--ws", str(options["ws"]), "--http", str(options["http"]), "--loop", str(options["loop"]),
               "--ws-max-size", str(options["ws_max_size"])]
    chosen = options.get("ws_per_message_deflate", True) if deflate is None else deflate
    command += ["--ws-per-message-deflate", "true" if chosen else "false"]
    return command


@contextlib.contextmanager
def server(kind: str, *, deflate: bool | None = None, cpu: str = SERVER_CPU, env_extra: dict[str, str] | None = None,
           wrapper: list[str] | None = None) -> Iterator[tuple[str, int]]:
    """Start a server pinned to `cpu`; yields (base URL, pid); always stopped.

    `env_extra` is added to its environment; `wrapper` runs an asgi-mmo server's uvicorn through a
    script of the bench (`[script, args..., "--"]` before uvicorn's arguments, as bench/gcprobe.py)."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="asgi-mmo-bench-"))
    env = {**os.environ, "ASGI_MMO_LOG_LEVEL": "warning", "ASGI_MMO_DB": str(workdir / "lb.sqlite3"),
           "ASGI_MMO_MAX_ROOMS": "1000", "ASGI_MMO_ADMIN_TOKEN": ADMIN_TOKEN,
           # Every simulated player comes from this machine: no per-address shares; and the bench
           # measures what the server can run, so no tick budget nor admission (docs/operators.md).
           "ASGI_MMO_SEATS_PER_ADDRESS": "0", "ASGI_MMO_ROOMS_PER_MINUTE": "0",
           "ASGI_MMO_TICK_BUDGET": "0", "ASGI_MMO_MAX_TICK_MS": "0"}
    env.update(env_extra or {})
    command = server_command(kind, port, deflate)
    if wrapper and kind != "baseline":
        command = [sys.executable, *wrapper, *command[3:]]  # in place of `python -m uvicorn`
    if os.cpu_count() and os.cpu_count() > 1:
        command = ["taskset", "-c", cpu, *command]
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{kind} exited: {(workdir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} did not answer within 20 s")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _tree(pid: int) -> list[int]:
    """pid and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its descendants, in seconds."""
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def core_times() -> dict[str, tuple[int, int]]:
    """(busy, total) jiffies of each core, from /proc/stat."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *values = line.split()
            numbers = [int(v) for v in values]
            idle = numbers[3] + numbers[4]
            times[name] = (sum(numbers) - idle, sum(numbers))
    return times


def busy_between(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, float]:
    return {
        core: round((after[core][0] - before[core][0]) / max(1, after[core][1] - before[core][1]), 3)
        for core in after if core in before
    }


def measure(kind: str, players: int, rooms: int, *, duration: float = 10.0, ramp_up: float | None = None,
            deflate: bool | None = None, compression: bool = False, tick_rate: int = 20,
            chat_every: float = 0.0, progress: bool = False, seed: int = 1, game: str = "snake",
            options: dict[str, Any] | None = None, driver: str = "auto", view: tuple[int, int] | None = None,
            world: bool = False, bots: int = 0, field: tuple[int, int] | None = None) -> dict[str, Any]:
    """One load test against a fresh server of `kind`; the loadtest summary plus the server's side.

    `game`, `options`, `driver`, `view`, `world`, `bots`, `field`: as `asgi-mmo loadtest --game --option
    --driver --view --world --bots --width --height` (the baseline runs snake only).
    """
    if kind == "baseline" and game != "snake":
        raise ValueError("the baseline server runs snake only")
    ramp = ramp_up if ramp_up is not None else max(1.0, players / 300)
    with server(kind, deflate=deflate) as (url, pid):
        time.sleep(0.5)
        rss_idle = rss_bytes(pid)
        marks: dict[str, Any] = {}

        def on_window(phase: str) -> None:
            marks[phase] = {"cpu": cpu_seconds(pid), "wall": time.monotonic(), "cores": core_times(),
                            "rss": rss_bytes(pid), "load": os.getloadavg()}
            if phase == "start" and (profiles := os.environ.get("BENCH_PROFILE_DIR")):
                profiler.append(sample_server(pid, Path(profiles), duration))
            if phase == "end":
                marks["rooms"] = room_stats(url)

        config = LoadConfig(url=url, players=players, rooms=rooms, ramp_up=ramp, duration=duration,
                            tick_rate=tick_rate, chat_every=chat_every, compression=compression,
                            progress=progress, seed=seed, game=game, options=options or {}, driver=driver,
                            view=view, world=world, bots=bots,
                            width=field[0] if field else None, height=field[1] if field else None)
        import uvloop

        profiler: list[subprocess.Popen[bytes]] = []
        result = uvloop.run(LoadTest(config).run(on_window))
        for sampler in profiler:
            sampler.wait()
    start, end = marks["start"], marks["end"]
    wall = end["wall"] - start["wall"]
    server_cpu = end["cpu"] - start["cpu"]
    connected = max(1, result["connected"])
    result.update({
        "server": kind,
        "server_deflate": deflate,
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_frac": round(server_cpu / wall, 3),
        "server_us_per_msg": round(server_cpu / max(1, result["ticks"]) * 1e6, 2),
        "rss_idle_mb": round(rss_idle / 2**20, 1),
        "rss_mb": round(end["rss"] / 2**20, 1),
        "rss_kb_per_player": round((end["rss"] - rss_idle) / connected / 1024, 1),
        "core_busy": busy_between(start["cores"], end["cores"]),
        "load_before": [round(x, 2) for x in start["load"]],
        "load_after": [round(x, 2) for x in end["load"]],
    })
    rooms_seen = marks.get("rooms") or []
    if rooms_seen:
        result["server_rooms"] = {
            "overruns": sum(r.get("overruns", 0) for r in rooms_seen),
            "slots_skipped": sum(r.get("slots_skipped", 0) for r in rooms_seen),
            "ticks_dropped": sum(r.get("ticks_dropped", 0) for r in rooms_seen),
            "lateness_p99_ms_max": max(r.get("lateness_ms", {}).get("p99", 0) for r in rooms_seen),
            "tick_ms_p99_max": max(r.get("tick_ms", {}).get("p99", 0) for r in rooms_seen),
            "tick_ms_p50_median": median([r.get("tick_ms", {}).get("p50", 0) for r in rooms_seen]),
            "msgs_out": sum(r.get("msgs_out", 0) for r in rooms_seen),
        }
    result["held"] = held(result)
    return result


def sample_server(pid: int, folder: Path, duration: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the server over the measured window (BENCH_PROFILE_DIR=folder): raw
    stacks with line numbers, one file a scenario run; `--nonblocking` so the server is never
    paused (py-spy is not a dependency: `.venv/bin/pip install py-spy`)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"server-{pid}-{int(time.time())}.raw"
    py_spy = Path(sys.executable).with_name("py-spy")
    command = ["taskset", "-c", "1", str(py_spy), "record", "--nonblocking", "-r", "200", "-f", "raw",
               "-d", str(int(duration)), "-p", str(pid), "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def room_stats(url: str) -> list[dict[str, Any]]:
    """ROOM_STATS of every room, when the server has the admin API (the baseline has none)."""
    try:
        answer = httpx.get(url + "/admin/api/rooms", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=2)
    except httpx.HTTPError:
        return []
    return answer.json().get("rooms", []) if answer.status_code == 200 else []


def held(result: dict[str, Any]) -> bool:
    """The capacity criterion: every player connected, p99 lateness under 10 ms, nothing dropped or missed."""
    return (result["connected"] == result["players"] and result["lateness_ms"]["p99"] < 10.0
            and result["drops"] == 0 and result["connection_failures"] == 0 and result["ticks_missed"] == 0)


def brief(result: dict[str, Any]) -> str:
    lat, ack = result["lateness_ms"], result["ack_ms"]
    return (f"{result['server']:<9} players {result['connected']:>5}/{result['players']:<5} "
            f"late p99 {lat['p99']:6.2f} max {lat['max']:6.1f} ms  ack p50 {ack['p50']:5.1f} p99 {ack['p99']:5.1f} ms  "
            f"cpu {result['server_cpu_frac'] * 100:5.1f}%  {result['server_us_per_msg']:6.2f} us/msg  "
            f"{result['rss_kb_per_player']:5.1f} KB/pl  missed {result['ticks_missed']} drops {result['drops']}  "
            f"gen {result['loadgen_cpu'] * 100:3.0f}%  cores {result['core_busy']}"
            + (f"  server {result['server_rooms']}" if "server_rooms" in result else ""))


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def append_result(scenario: str, record: dict[str, Any]) -> None:
    """One JSON line in bench/results.jsonl."""
    line = {"scenario": scenario, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
            "python": platform.python_version(), "cpus": os.cpu_count(), **record}
    with RESULTS.open("ab") as results:
        results.write(orjson.dumps(line) + b"\n")


def output_path_override(path: str | None) -> None:
    """Write results elsewhere (the tests' smoke run)."""
    global RESULTS
    if path:
        RESULTS = Path(path)


def run_figures(results: list[dict[str, Any]], *, medians: tuple[str, ...] = (), sums: tuple[str, ...] = ()
                ) -> dict[str, Any]:
    """The figures of several runs of one scenario: medians of the measured values, sums of the
    counts, the fewest players connected; `medians`/`sums` add a scenario's own keys."""

    def rooms(key: str) -> list[float]:
        return [r["server_rooms"][key] for r in results if "server_rooms" in r]

    figures: dict[str, Any] = {
        "lateness_p50_ms": median([r["lateness_ms"]["p50"] for r in results]),
        "lateness_p99_ms": median([r["lateness_ms"]["p99"] for r in results]),
        "ack_p50_ms": median([r["ack_ms"]["p50"] for r in results]),
        "ack_p99_ms": median([r["ack_ms"]["p99"] for r in results]),
        "server_cpu_frac": median([r["server_cpu_frac"] for r in results]),
        "server_us_per_msg": median([r["server_us_per_msg"] for r in results]),
        "room_tick_ms_p50": median(rooms("tick_ms_p50_median")),
        "room_tick_ms_p99_max": median(rooms("tick_ms_p99_max")),
        "loadgen_cpu": median([r["loadgen_cpu"] for r in results]),
        "rss_kb_per_player": median([r["rss_kb_per_player"] for r in results]),
    }
    figures |= {key: median([r[key] for r in results]) for key in medians}
    figures |= {key: sum(r[key] for r in results) for key in ("drops", "ticks_missed", "deaths", *sums)}
    figures["connected_min"] = min(r["connected"] for r in results)
    return figures


def alternating_runs(doc: str, *, duration: float, what: str) -> argparse.Namespace:
    """The command line of a scenario that takes turns between servers or games (bench/latency.py,
    bench/arena.py): --players, --rooms, --duration, --runs, --results; results redirected and this
    process pinned to its core before the first run."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--duration", type=float, default=duration, help="seconds of each measured window")
    parser.add_argument("--runs", type=int, default=3, help=f"runs of each {what}, alternating")
    parser.add_argument("--results", default=None, help="results file (default bench/results.jsonl)")
    args = parser.parse_args()
    output_path_override(args.results)
    pin_self()
    return args


def alternate(names: tuple[str, ...], runs: int, run: Callable[[str], dict[str, Any]],
              show: Callable[[str, dict[str, Any]], str]) -> dict[str, list[dict[str, Any]]]:
    """`runs` results of each of `names`, taking turns (a, b, a, b, ...) so that all see the same
    machine; each printed as it comes (`show(name, result)`)."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for number in range(runs):
        for name in names:
            result = run(name)
            results[name].append(result)
            print(f"run {number + 1} {show(name, result)}", flush=True)
    return results


def report_alternating(scenario: str, args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]],
                       medians: dict[str, dict[str, Any]], versus: tuple[str, str], ratio_keys: tuple[str, ...],
                       each_keys: tuple[str, ...]) -> None:
    """Print the medians of `alternate`'s runs and the ratios of `versus` (a / b) on `ratio_keys`,
    and append them with `each_keys` of every run to the results file as `scenario`."""
    top, bottom = (medians[name] for name in versus)
    ratios = {key: round(top[key] / bottom[key], 3) for key in ratio_keys if bottom[key]}
    width = max(map(len, medians))
    print("medians:")
    for name, values in medians.items():
        print(f"  {name:<{width}} {values}")
    print(f"{versus[0]} / {versus[1]}: {ratios}")
    append_result(scenario, {"players": args.players, "rooms": args.rooms, "duration_s": args.duration,
                             "runs": args.runs, "medians": medians, "ratios": ratios,
                             "each": {name: [{key: r.get(key) for key in each_keys} for r in results]
                                      for name, results in runs.items()}})


def add_ab_arguments(parser: argparse.ArgumentParser, *, runs: int) -> None:
    """The arguments of an A/B of two trees (bench/ab.py, bench/loadgen.py)."""
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--label", default="", help="what changed, for the results file")
    parser.add_argument("--results", default=None)

