"""The `asgi-mmo` command and gunicorn's master as an operator meets them: `--help`, the start-up
lines, a taken port. Real processes, started as tests/servers.py and tests/cluster.py start them."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asgi_mmo.cli import environment_help
from asgi_mmo.settings import ENVIRONMENT, Settings
from tests.cluster import GUNICORN_CONF, require_gunicorn, run_gunicorn
from tests.servers import ROOT, free_port, run_uvicorn

TOKEN_LINE = re.compile(r"the admin token of this run is: (\S+)")
#: the console script `pip install` made next to this interpreter (.venv/bin/asgi-mmo)
CONSOLE_SCRIPT = Path(sys.executable).parent / "asgi-mmo"


def run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


# ---- --help ------------------------------------------------------------------------------


@pytest.mark.parametrize("arguments", [["--help"], ["serve", "--help"]], ids=["asgi-mmo", "asgi-mmo serve"])
def test_help_names_every_variable_of_the_settings_table_with_its_meaning_and_default(arguments: list[str]) -> None:
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} missing: `scripts/setup` installs the console script"
    answer = run([str(CONSOLE_SCRIPT), *arguments])
    assert answer.returncode == 0, answer.stderr
    text = one_line(answer.stdout)
    defaults = {field.name: field.default for field in dataclasses.fields(Settings)}
    for variable, (name, meaning) in ENVIRONMENT.items():
        entry = re.search(rf"{variable} \(default: ([^)]*)\) (.*?)(?= ASGI_MMO_| Every setting|$)", text)
        assert entry is not None, f"{variable} is not in `asgi-mmo {' '.join(arguments)}`"
        assert entry.group(2) == one_line(meaning)
        shown = entry.group(1)
        default = defaults[name]
        if default is None or default == ():
            assert shown == "unset"
        elif isinstance(default, bool):
            assert shown == ("on" if default else "off")
        elif isinstance(default, tuple):
            assert shown == ",".join(default)
        else:
            assert float(shown) == default if isinstance(default, int | float) else shown == default


def test_the_help_epilog_is_the_settings_table_itself() -> None:
    # A variable added to settings.py shows up in --help with no other change.
    assert environment_help().count("ASGI_MMO_") == len(ENVIRONMENT)


# ---- asgi-mmo serve ------------------------------------------------------------------------


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A loopback port another socket listens on."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        yield blocker.getsockname()[1]


def assert_urls_then_token(log: str, port: int) -> str:
    """The lobby and dashboard line, then the token line, each once; returns the token."""
    urls = f"asgi-mmo: lobby http://127.0.0.1:{port}/  dashboard http://127.0.0.1:{port}/admin"
    assert log.count(urls) == 1, log
    tokens = list(TOKEN_LINE.finditer(log))
    assert len(tokens) == 1, log
    assert log.index(urls) < tokens[0].start()
    return tokens[0].group(1)


def assert_urls_answer(port: int, token: str) -> None:
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(base + "/").status_code == 200
    assert httpx.get(base + "/admin").status_code == 200
    assert httpx.get(base + "/admin/api/rooms", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.e2e
def test_serve_prints_the_lobby_and_dashboard_urls_once_it_listens(tmp_path: Path) -> None:
    with run_uvicorn(env={"ASGI_MMO_ADMIN_TOKEN": ""}, cwd=tmp_path) as server:
        log = server.log()
        token = assert_urls_then_token(log, server.port)
        assert log.index("Application startup complete") < log.index("asgi-mmo: lobby")
        assert_urls_answer(server.port, token)


@pytest.mark.e2e
def test_serve_with_a_set_token_prints_the_urls_and_no_token(tmp_path: Path) -> None:
    with run_uvicorn(env={"ASGI_MMO_ADMIN_TOKEN": "operator-set"}, cwd=tmp_path) as server:
        log = server.log()
        assert f"asgi-mmo: lobby http://127.0.0.1:{server.port}/" in log
        assert "operator-set" not in log and not TOKEN_LINE.search(log)


@pytest.mark.e2e
def test_serve_on_a_taken_port_says_so_and_exits_before_making_a_token() -> None:
    with taken_port() as port:
        answer = run([sys.executable, "-m", "asgi_mmo.cli", "serve", "--port", str(port)], {"ASGI_MMO_ADMIN_TOKEN": ""})
    assert answer.returncode == 1
    assert answer.stdout == ""
    assert answer.stderr.splitlines() == [
        f"asgi-mmo: cannot listen on 127.0.0.1:{port}: the address is already in use "
        "(another server there? pick another port)"
    ]


def test_serve_with_a_bad_setting_exits_2_naming_it() -> None:
    answer = run([sys.executable, "-m", "asgi_mmo.cli", "serve", "--port", str(free_port())],
                 {"ASGI_MMO_RATE_LIMIT": "fast"})
    assert answer.returncode == 2
    assert "ASGI_MMO_RATE_LIMIT must be a number" in answer.stderr and not TOKEN_LINE.search(answer.stderr)


# ---- gunicorn -c gunicorn.conf.py -----------------------------------------------------------


@pytest.mark.e2e
def test_gunicorn_master_prints_the_urls_once_it_listens(tmp_path: Path) -> None:
    with run_gunicorn(1, env={"ASGI_MMO_ADMIN_TOKEN": "", "PROMETHEUS_MULTIPROC_DIR": ""}, cwd=tmp_path) as server:
        token = assert_urls_then_token(server.log(), server.port)
        assert_urls_answer(server.port, token)


@pytest.mark.e2e
def test_gunicorn_on_a_taken_port_says_so_at_once_and_makes_no_token(tmp_path: Path) -> None:
    require_gunicorn()
    with taken_port() as port:
        answer = run(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--no-control-socket", "asgi_mmo.app:app"],
            {"ASGI_MMO_ADMIN_TOKEN": "", "PROMETHEUS_MULTIPROC_DIR": "", "ASGI_MMO_BIND": f"127.0.0.1:{port}"},
        )
    output = answer.stdout + answer.stderr
    assert answer.returncode == 1, output
    assert output.count(f"asgi-mmo: cannot listen on 127.0.0.1:{port}: the address is already in use") == 1
    # no token, no metrics directory, no retries, no worker: it stopped before anything was made
    for absent in ("admin token", "multiprocess directory", "Retrying", "Booting worker", "asgi-mmo: lobby"):
        assert absent not in output, output
