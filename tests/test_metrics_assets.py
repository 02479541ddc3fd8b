"""deploy/grafana/asgi-mmo.json and deploy/prometheus/alerts.yml against what `/metrics` really exports.

A dashboard or an alert naming a metric the server does not export shows "No data" or never fires,
silently; so every metric name in their PromQL must be a sample name of a real scrape (with its
`_total`, `_bucket`, `_sum`, `_count` suffix), taken after a room ticked with a player in it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from asgi_mmo.app import create_app
from asgi_mmo.settings import Settings
from tests.conftest import require
from tests.servers import ROOT
from tests.wsclient import create_room, next_of, ws_url

TOKEN = "assets-secret"
DASHBOARD = ROOT / "deploy" / "grafana" / "asgi-mmo.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
#: series Prometheus makes itself for every target, not the server
SCRAPE_SERIES = {"up"}
#: PromQL words that look like metric names
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
            "unless", "inf", "nan", "start", "end"}
SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created")
LABEL_VALUES = re.compile(r"label_values\((.*),\s*\w+\s*\)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (Grafana's `$variables` allowed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"' r"|'(?:[^'\\]|\\.)*'", '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges: [5m], [$__rate_interval]
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)  # Grafana variables
    expr = GROUPING.sub(" ", expr)  # by (le), on (instance): label names
    return {
        match.group(1) for match in IDENTIFIER.finditer(expr)
        if not match.group(2) and match.group(1).lower() not in KEYWORDS  # a function call, a keyword
    }


def matched_codes(expr: str) -> set[str]:
    return set(re.findall(r'\bcode\s*=\s*"([^"]*)"', expr))


# ---- what the server exports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    samples: set[str]  # sample names: asgi_mmo_ticks_total, asgi_mmo_tick_duration_seconds_bucket, ...
    families: set[str]  # family names: asgi_mmo_ticks, asgi_mmo_tick_duration_seconds, ...
    codes: set[str]  # values of asgi_mmo_errors_total's `code`


@pytest.fixture(scope="module")
def exported() -> Iterator[Exported]:
    """A real scrape after a room ticked with a player who also got an error frame."""
    with tempfile.TemporaryDirectory() as work:
        settings = Settings(admin_token=TOKEN, db_path=str(Path(work) / "board.sqlite3"), bot_processes=0)
        with TestClient(create_app(settings)) as client:
            yield scrape_after_activity(client)


def scrape_after_activity(client: TestClient) -> Exported:
    room = create_room(client, tick_rate=30)
    with client.websocket_connect(ws_url(name="alice", room=room)) as ws:
        next_of(ws, "welcome")
        for _ in range(5):
            next_of(ws, "tick")
        ws.send_text("not json")
        assert next_of(ws, "error")["code"] == "bad_message"
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    families = list(text_string_to_metric_families(answer.text))
    samples = {sample.name for family in families for sample in family.samples}
    codes = {
        sample.labels["code"] for family in families for sample in family.samples
        if sample.name == "asgi_mmo_errors_total"
    }
    by_name = {sample.name: sample.value for family in families for sample in family.samples if not sample.labels}
    assert by_name["asgi_mmo_players"] == 1 and by_name["asgi_mmo_rooms"] == 1
    assert by_name["asgi_mmo_ticks_total"] >= 5 and by_name["asgi_mmo_tick_duration_seconds_count"] >= 5
    names = {family.name for family in families}
    # The text format gives a counter's `_created` timestamps a family of their own: not a metric.
    names = {name for name in names if not (name.endswith("_created") and name.removesuffix("_created") in names)}
    return Exported(samples, names, codes)


# ---- the dashboard -------------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))  # a collapsed row holds its panels


def dashboard_exprs() -> list[str]:
    board = dashboard()
    exprs = [target["expr"] for panel in all_panels(board["panels"]) for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            exprs.append(LABEL_VALUES.sub(r"\1", text))  # label_values(SELECTOR, label): the selector
    return exprs


def test_the_dashboard_is_an_importable_grafana_dashboard() -> None:
    board = dashboard()
    assert board["title"] and board["uid"] and isinstance(board["schemaVersion"], int)
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = list(all_panels(board["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    graphs = [panel for panel in panels if panel["type"] != "row"]
    assert len(graphs) >= 10
    for panel in graphs:
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["title"] and panel["description"], panel["id"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip() and target["refId"]
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert [t["refId"] for t in panel["targets"]] == sorted({t["refId"] for t in panel["targets"]})


def test_every_metric_the_dashboard_queries_is_exported(exported: Exported) -> None:
    for expr in dashboard_exprs():
        missing = metric_names(expr) - exported.samples - SCRAPE_SERIES
        assert not missing, f"the dashboard queries {sorted(missing)}, which /metrics does not export: {expr}"
        assert matched_codes(expr) <= exported.codes, expr


def test_the_dashboard_shows_every_asgi_mmo_metric(exported: Exported) -> None:
    # A metric added to metrics.py needs a panel (or its family named here as deliberately left out).
    queried = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    shown = {family for family in exported.families if any(family + suffix in queried for suffix in SUFFIXES)}
    unshown = {family for family in exported.families if family.startswith("asgi_mmo_")} - shown
    assert not unshown, f"no panel of deploy/grafana/asgi-mmo.json shows {sorted(unshown)}"
    assert "asgi_mmo_tick_duration_seconds_bucket" in queried  # p50/p99 come from the histogram's buckets


# ---- the alert rules ----------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    assert set(loaded) == {"groups"} and loaded["groups"]
    rules: list[dict[str, Any]] = []
    for group in loaded["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"] and group["rules"], group
        rules.extend(group["rules"])
    return rules


def test_the_alert_rules_are_well_formed() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)) >= 5
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
        assert re.fullmatch(r"AsgiMmo[A-Z]\w+", rule["alert"])
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        if "for" in rule:
            assert re.fullmatch(r"(\d+[smhd])+", rule["for"]), rule["for"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert set(rule["annotations"]) == {"summary", "description"}
        assert all(isinstance(text, str) and text.strip() for text in rule["annotations"].values())


def test_every_metric_the_alerts_read_is_exported(exported: Exported) -> None:
    for rule in alert_rules():
        missing = metric_names(rule["expr"]) - exported.samples - SCRAPE_SERIES
        assert not missing, f"{rule['alert']} reads {sorted(missing)}, which /metrics does not export"
        assert matched_codes(rule["expr"]) <= exported.codes, rule["alert"]
        assert metric_names(rule["expr"]), f"{rule['alert']} reads no metric"


def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool (Debian package prometheus; scripts/setup test installs it)")
    assert promtool is not None
    for command in (["check", "rules", str(ALERTS)], ["test", "rules", str(ALERT_TESTS)]):
        done = subprocess.run([promtool, *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


# ---- the name reader itself -----------------------------------------------------------------------


def test_metric_names_reads_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(asgi_mmo_tick_duration_seconds_bucket{job=~"$job", '
        'instance=~"a:b"}[$__rate_interval]))) > 0.1 and on (instance) up{job="x"} == 1 '
        'or sum without (code) (increase(asgi_mmo_errors_total{code="unavailable"}[5m] offset 1h)) * 60'
    )
    assert metric_names(expr) == {"asgi_mmo_tick_duration_seconds_bucket", "up", "asgi_mmo_errors_total"}
    selector = LABEL_VALUES.sub(r"\1", 'label_values(asgi_mmo_rooms{job=~"$job"}, instance)')
    assert metric_names(selector) == {"asgi_mmo_rooms"}
    assert matched_codes('rate(asgi_mmo_errors_total{job="j", code="unavailable"}[5m])') == {"unavailable"}
