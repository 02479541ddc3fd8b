"""Chaos under load: two servers behind haproxy over one Redis, players that resume, three faults.

    .venv/bin/python bench/chaos.py                 # 400 players in 8 rooms (issue #15, item 4)
    .venv/bin/python bench/chaos.py --players 40 --rooms 2 --json   # what tests/test_chaos.py runs

Every part is a real process on free loopback ports: a `redis-server` (no
persistence), two `asgi-mmo serve` processes sharing rooms through it, and
haproxy running deploy/haproxy.cfg (its server list replaced by the two). Half
the rooms are made on each server (`POST /api/rooms` on that server: it owns
them); the players (`asgi_mmo.loadtest` in this process, `--resume`: a dropped
player reconnects with its seat's token, backing off from 50 ms to 0.5 s)
connect through haproxy, so each room has players on both servers. Then, in
turn, with a rebalance before each (half the players drop their socket and
resume through haproxy, which sends them to the server with fewer sockets):

- kill: SIGKILL the server that owns half the rooms; it is started again after;
- drain: SIGTERM the server that owns the rooms (after the kill, all of them);
  it is started again after;
- redis: SIGKILL redis-server, start it again one second later (its data gone).

For each: per player, the time from the fault until it plays again (the end
of its silence, of more than 0.3 s between two ticks, that began with the
fault; 0 for a player the fault did not touch), its max and p99 over every
player; the seats lost (a resume refused with `bad_token` or `room_not_found`,
or given another seat, or never through); the scores lost (a player whose
score, read from the room's owner just before the fault and again once
everyone plays, went down without a death of its own between; one dead at the
first read is counted as reset: its respawn sets it to 0); the drop codes
and error codes the players saw. The figures go to standard output (a table,
or one JSON line with `--json`) and to docs/performance.md, "Chaos", by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asgi_mmo.loadtest.player import Player  # noqa: E402
from asgi_mmo.loadtest.rooms import RoomRequest, create_rooms  # noqa: E402
from asgi_mmo.loadtest.runner import LoadConfig, LoadTest  # noqa: E402
from tests.cluster import SBIN_PATH, HaproxyProcess, RedisProcess  # noqa: E402
from tests.servers import ServerProcess, free_port  # noqa: E402

TOKEN = "chaos-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
#: a fault's silences begin within this long of it (a drain tells its players a few ms after the signal)
ONSET_SECONDS = 1.5
#: the bounds of issue #15: every player plays again within these (the redis restart has none)
BOUNDS = {"kill": 5.0, "drain": 3.0}


@dataclass
class Scenario:
    name: str
    at: float = 0.0  # monotonic time of the fault
    resumed_s: list[float] = field(default_factory=list)  # per player
    resumed_local_s: list[float] = field(default_factory=list)  # of the players on their room's owner
    seats_lost: int = 0
    scores_lost: int = 0
    scores_compared: int = 0
    #: dead when the scores were read before the fault, lower after: its respawn reset it (the game's rule)
    scores_reset: int = 0
    lost: list[dict[str, Any]] = field(default_factory=list)  # each score lost: before, after, where it played
    not_back: int = 0  # players still silent or closed when the wait gave up
    drops: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    crash_loop: bool = False
    load: float = 0.0  # the machine's 1-minute load average at the fault (other work on it slows everything)

    def figures(self) -> dict[str, Any]:
        values = sorted(self.resumed_s)
        touched = [v for v in values if v > 0]
        return {
            "scenario": self.name,
            "players": len(values),
            "players_touched": len(touched),
            "resumed_max_s": round(values[-1], 3) if values else None,
            "resumed_p99_s": round(_p99(values), 3) if values else None,
            "resumed_p50_touched_s": round(statistics.median(touched), 3) if touched else 0.0,
            # the players whose socket was on their room's owner before the fault, and how many of them it touched
            "on_owner": len(self.resumed_local_s),
            "on_owner_touched": sum(1 for v in self.resumed_local_s if v > 0),
            "on_owner_max_s": round(max(self.resumed_local_s, default=0.0), 3),
            "not_back": self.not_back,
            "seats_lost": self.seats_lost,
            "scores_lost": self.scores_lost,
            "scores_compared": self.scores_compared,
            "scores_reset": self.scores_reset,
            "lost": self.lost,
            "drops": self.drops,
            "errors": self.errors,
            "crash_loop": self.crash_loop,
            "load_1m": self.load,
        }


def _p99(values: list[float]) -> float:
    return values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]


class Cluster:
    """redis-server, two `asgi-mmo serve` and haproxy, started in `workdir`; `close()` stops them all."""

    def __init__(self, workdir: Path, tick_rate: int) -> None:
        self.workdir = workdir
        program = _program("redis-server")
        self.redis = RedisProcess(free_port(), workdir, program)
        self.redis.start()
        env = {
            "ASGI_MMO_REDIS_URL": self.redis.url, "ASGI_MMO_ADMIN_TOKEN": TOKEN,
            "ASGI_MMO_DB": str(workdir / "board.sqlite3"), "ASGI_MMO_BOT_PROCESSES": "0",
            "ASGI_MMO_MAX_ROOMS": "1000",
        }
        self.servers = [ServerProcess(free_port(), env, workdir, []) for _ in range(2)]
        for server in self.servers:
            server.start()
        self.proxy = HaproxyProcess([s.address for s in self.servers], free_port(), free_port(), workdir,
                                    _program("haproxy"))
        self.proxy._env["ASGI_MMO_HAPROXY_MAXCONN"] = "4000"
        self.proxy.start()
        self.tick_rate = tick_rate

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.proxy.stop()
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop(timeout=15)
            if server.process is not None and server.process.poll() is None:
                server.process.kill()
        with contextlib.suppress(Exception):
            self.redis.stop()

    def worker_of(self, server: ServerProcess) -> str:
        assert server.process is not None
        return f":{server.process.pid}"

    def owners(self, room_ids: list[str]) -> dict[str, ServerProcess | None]:
        """Each room's owner among the servers (None while nobody runs it)."""
        found: dict[str, ServerProcess | None] = dict.fromkeys(room_ids)
        for server in self.servers:
            if server.process is None or server.process.poll() is not None:
                continue
            with contextlib.suppress(httpx.HTTPError):
                for room in httpx.get(server.url + "/admin/api/rooms", headers=ADMIN, timeout=5).json()["rooms"]:
                    if room["id"] in found and str(room.get("worker", "")).endswith(self.worker_of(server)):
                        found[room["id"]] = server
        return found

    def scores(self, room_ids: list[str]) -> tuple[dict[str, int], set[str], set[str]]:
        """Every player's score, read from each room's owner (fresh figures, not the directory's),
        the players whose socket is on the owner's process (the others are relayed), and the dead."""
        scores: dict[str, int] = {}
        local: set[str] = set()
        dead: set[str] = set()
        for room_id, owner in self.owners(room_ids).items():
            if owner is None:
                continue
            details = httpx.get(f"{owner.url}/admin/api/rooms/{room_id}", headers=ADMIN, timeout=5).json()
            for player in details["players"]:
                if not player["bot"]:
                    scores[player["id"]] = player.get("score", 0)
                    if player.get("alive") is False:
                        dead.add(player["id"])
                    if str(player.get("via")).endswith(self.worker_of(owner)):
                        local.add(player["id"])
        return scores, local, dead

    def wait_up(self, name: str, timeout: float = 20.0) -> None:
        self.proxy.wait_server_state(name, "UP", timeout=timeout)


def _program(name: str) -> str:
    import shutil

    path = shutil.which(name, path=SBIN_PATH)
    if path is None:
        raise SystemExit(f"chaos: {name} is missing (scripts/setup test installs it)")
    return path


def make_rooms(cluster: Cluster, config: LoadConfig, rooms: int) -> list[str]:
    """`rooms` rooms, half made on each server (so each owns half)."""

    async def make() -> list[str]:
        ids: list[str] = []
        field_size = config.field_size()
        for number, server in enumerate(cluster.servers):
            count = rooms // 2 + (rooms % 2 if number == 0 else 0)
            request = RoomRequest(game="snake", rooms=count, players=config.players, tick_rate=config.tick_rate,
                                  field=field_size, options={})
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                made = await create_rooms(http, request)
            ids += [room for room in made.ids if room is not None]
        return ids

    return asyncio.run(make())


class Chaos:
    """The window's timeline: the faults in turn, each measured (`LoadTest.run(window=...)`)."""

    def __init__(self, cluster: Cluster, room_ids: list[str], settle: float, patience: float, out: Any) -> None:
        self.cluster = cluster
        self.room_ids = room_ids
        self.settle = settle
        self.patience = patience
        self.out = out
        self.results: list[Scenario] = []

    def say(self, text: str) -> None:
        print(f"chaos: {text}", file=self.out, flush=True)

    async def __call__(self, test: LoadTest) -> None:
        cluster = self.cluster
        await self._everyone_plays(test, time.monotonic(), "the start")
        await asyncio.sleep(self.settle)

        # (a) SIGKILL the owner of half the rooms.
        owners = await asyncio.to_thread(cluster.owners, self.room_ids)
        victim = cluster.servers[0]
        assert sum(1 for o in owners.values() if o is victim) == len(self.room_ids) // 2 + len(self.room_ids) % 2
        await self._fault(test, "kill", lambda: _signal(victim, signal.SIGKILL))
        await asyncio.to_thread(victim.start)
        await asyncio.to_thread(cluster.wait_up, "app1")
        await self._rebalance(test)

        # (b) SIGTERM the server that owns the rooms now: a drain.
        owners = await asyncio.to_thread(cluster.owners, self.room_ids)
        drained = next(o for o in owners.values() if o is not None)
        stopper: list[asyncio.Future[int | None]] = []

        def drain() -> None:
            stopper.append(asyncio.get_running_loop().run_in_executor(None, lambda: drained.stop(timeout=30)))

        await self._fault(test, "drain", drain)
        code = await stopper[0]
        self.say(f"the drained server exited with {code}")
        await asyncio.to_thread(drained.start)
        await asyncio.to_thread(cluster.wait_up, f"app{cluster.servers.index(drained) + 1}")
        await self._rebalance(test)

        # (c) restart Redis (its data is gone: no persistence).
        async def restart_redis() -> None:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.redis.start)

        restarts: list[asyncio.Task[None]] = []

        def kill_redis() -> None:
            cluster.redis.kill()
            restarts.append(asyncio.get_running_loop().create_task(restart_redis()))

        redis = await self._fault(test, "redis", kill_redis)
        await restarts[0]
        redis.crash_loop = any(s.process is None or s.process.poll() is not None for s in cluster.servers)

    async def _fault(self, test: LoadTest, name: str, act: Any) -> Scenario:
        cluster = self.cluster
        scenario = Scenario(name)
        deaths = {p.player_id: p.deaths for p in test.players}
        before, local, dead = await asyncio.to_thread(cluster.scores, self.room_ids)
        stats = test.stats
        drops0, errors0 = dict(stats.drops), dict(stats.errors)
        lost0 = stats.seats_lost + stats.resume_failures
        scenario.at = time.monotonic()
        scenario.load = round(os.getloadavg()[0], 1)
        self.say(f"{name}: now")
        act()
        back = await self._everyone_plays(test, scenario.at, name)
        scenario.not_back = len(test.players) - back
        await asyncio.sleep(0.5)  # every owner has listed its players again
        after, _, _ = await asyncio.to_thread(cluster.scores, self.room_ids)
        for player in test.players:
            if player.player_id in before and player.player_id in after:
                scenario.scores_compared += 1
                died = player.deaths != deaths.get(player.player_id)
                # While Redis is away the owner ticks on and loses nothing, but a relayed player
                # hears none of it: a death and its respawn in that silence show only as a lower
                # score in the `state` it gets after. The kill and the drain restore rooms, so
                # there a lower score without a death seen counts as lost.
                unseen = name == "redis" and player.player_id not in local and _resumed(player, scenario.at) > 0
                if after[player.player_id] < before[player.player_id] and not died and not unseen:
                    # A snake dead when read keeps its score until its player's respawn (sent once it
                    # saw the death, maybe before the read) sets it to 0: the game's rule, not a loss.
                    if player.player_id in dead:
                        scenario.scores_reset += 1
                        continue
                    scenario.scores_lost += 1
                    scenario.lost.append({"before": before[player.player_id], "after": after[player.player_id],
                                          "on_owner": player.player_id in local})  # fmt: skip
        scenario.resumed_s = [_resumed(p, scenario.at) for p in test.players]
        scenario.resumed_local_s = [_resumed(p, scenario.at) for p in test.players if p.player_id in local]
        scenario.seats_lost = stats.seats_lost + stats.resume_failures - lost0
        scenario.drops = _delta(dict(stats.drops), drops0)
        scenario.errors = _delta(dict(stats.errors), errors0)
        self.results.append(scenario)
        self.say(f"{name}: {orjson.dumps(scenario.figures()).decode()}")
        return scenario

    async def _everyone_plays(self, test: LoadTest, since: float, what: str) -> int:
        """Wait until every player is connected and got a tick lately; how many are (all, unless it gave up)."""
        deadline = time.monotonic() + self.patience

        def playing() -> int:
            now = time.monotonic()
            return sum(1 for p in test.players if p.welcomed and not p.closed and now - p.last_seen < 0.25
                       and p.last_seen > since + 0.05)  # fmt: skip

        while time.monotonic() < deadline:
            if playing() == len(test.players):
                break
            await asyncio.sleep(0.05)
        count = playing()
        if count < len(test.players):
            self.say(f"after {what}: only {count} of {len(test.players)} players play after {self.patience} s")
        return count

    async def _rebalance(self, test: LoadTest) -> None:
        """Half the players drop their socket and resume through haproxy (onto the server with fewer)."""
        await asyncio.sleep(self.settle)  # the restarted server is in the pool; let its players settle
        for player in test.players[::2]:
            if player.socket is not None and not player.closed:
                player.socket.abort()
        await self._everyone_plays(test, time.monotonic(), "the rebalance")
        await asyncio.sleep(self.settle)


def _resumed(player: Player, at: float) -> float:
    """Seconds from the fault until the player played again: the end of the silence it began."""
    ends = [end - at for start, end in player.stalls if at - ONSET_SECONDS <= start <= at + ONSET_SECONDS
            and end > at]  # fmt: skip
    return max(ends, default=0.0)


def _delta(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: value - before.get(key, 0) for key, value in now.items() if value - before.get(key, 0)}


def _signal(server: ServerProcess, sig: int) -> None:
    assert server.process is not None
    os.kill(server.process.pid, sig)
    if sig == signal.SIGKILL:
        server.process.wait()


@contextlib.contextmanager
def running_cluster(tick_rate: int) -> Iterator[Cluster]:
    workdir = Path(tempfile.mkdtemp(prefix="asgi-mmo-chaos-"))
    cluster = Cluster(workdir, tick_rate)
    try:
        yield cluster
    finally:
        cluster.close()


def run(players: int, rooms: int, *, tick_rate: int = 20, settle: float = 3.0, patience: float = 20.0,
        out: Any = sys.stderr) -> dict[str, Any]:
    """The whole bench; its figures (one dict per scenario) and where the logs are."""
    config = LoadConfig(players=players, rooms=rooms, ramp_up=max(1.0, players / 100), tick_rate=tick_rate,
                        chat_every=0.0, progress=False, seed=1, resume=True, resume_for=patience)
    with running_cluster(tick_rate) as cluster:
        room_ids = make_rooms(cluster, config, rooms)
        config = LoadConfig(**{**_fields(config), "url": cluster.proxy.url, "room_ids": tuple(room_ids)})
        chaos = Chaos(cluster, room_ids, settle, patience, out)
        test = LoadTest(config, out=out)
        import uvloop

        summary = uvloop.run(test.run(window=chaos))
        # What an operator sees: the servers' ERROR lines by logger, and any room that crashed.
        errors: Counter[str] = Counter()
        for server in cluster.servers:
            for line in server.log().splitlines():
                if " ERROR " in line:
                    errors[line.split(" ERROR ", 1)[1].split(" ", 1)[0]] += 1
                elif "room crashed" in line:
                    errors["room crashed"] += 1
        return {
            "players": players, "rooms": rooms, "tick_rate": tick_rate,
            "scenarios": [s.figures() for s in chaos.results],
            "resumes": summary["resumes"], "resume_ms": summary["resume_ms"],
            "seats_lost": summary["seats_lost"], "resume_failures": summary["resume_failures"],
            "tick_gaps": summary["tick_gaps"], "server_errors": dict(errors),
            "workdir": str(cluster.workdir),
        }


def _fields(config: LoadConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{result['players']} players in {result['rooms']} rooms at {result['tick_rate']} Hz;"
             f" two servers behind haproxy over one redis-server"]
    header = f"{'scenario':<8} {'max s':>7} {'p99 s':>7} {'touched':>8} {'seats lost':>10} {'scores lost':>12}" \
             "  drops / errors"
    lines.append(header)
    for s in result["scenarios"]:
        lines.append(f"{s['scenario']:<8} {s['resumed_max_s']:>7} {s['resumed_p99_s']:>7} {s['players_touched']:>8}"
                     f" {s['seats_lost']:>10} {s['scores_lost']:>5} of {s['scores_compared']:<4}"
                     f"  {s['drops']} / {s['errors']}"
                     + f"  load {s['load_1m']}" + ("  CRASH LOOP" if s["crash_loop"] else "")
                     + (f"  {s['not_back']} NOT BACK" if s["not_back"] else ""))
    lines.append(f"resumes {result['resumes']} (p99 {result['resume_ms']['p99']} ms, max {result['resume_ms']['max']}"
                 f" ms); server ERROR lines {result['server_errors']}; logs in {result['workdir']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, default=400)
    parser.add_argument("--rooms", type=int, default=8)
    parser.add_argument("--tick-rate", type=int, default=20)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of play between the faults")
    parser.add_argument("--patience", type=float, default=20.0, help="seconds to wait for every player to play")
    parser.add_argument("--json", action="store_true", help="one JSON line on standard output")
    args = parser.parse_args()
    result = run(args.players, args.rooms, tick_rate=args.tick_rate, settle=args.settle, patience=args.patience)
    print(orjson.dumps(result).decode() if args.json else format_table(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
