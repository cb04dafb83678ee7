"""A real Prometheus scrapes the web app and a worker while the relay delivers a few events
(one of them dead-lettered); then every PromQL expression of the Grafana board and the alert
rules is evaluated through its HTTP API: each must parse and return data."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from relay.simulator.testing import SimulatorHandle
from tests.conftest import GENERIC_SECRET
from tests.monitoring.tools import DASHBOARD, alert_rules, binary, write_rule_file
from tests.servers import WorkerProcess, free_port, wait_for
from tests.webhooks import get, iso, send_generic

SCRAPE_INTERVAL = "1s"
# `expr > 0.2`, `expr == 1`: the comparison at the end of an alert, whose left side must have data.
COMPARISON = re.compile(r"^(?P<left>.*\S)\s*(?:>=|<=|==|!=|>|<)\s*-?[0-9.]+\s*$", re.DOTALL)


class Prometheus:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def api(self, path: str, **params: str) -> dict[str, Any]:
        answer = get(f"{self.base_url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        body: dict[str, Any] = orjson.loads(answer.text)
        return body

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("query", query=expr)

    def value(self, expr: str) -> float | None:
        result = self.query(expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def worker_metrics_port(start_worker: Callable[..., WorkerProcess]) -> int:
    port = free_port()
    start_worker("--metrics-port", str(port))
    return port


@pytest.fixture
def prometheus(web: str, worker_metrics_port: int, tmp_path: Path) -> Iterator[Prometheus]:
    port = free_port()
    rules = write_rule_file(tmp_path / "rules.yaml")
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "relay-web", "static_configs": [{"targets": [web.removeprefix("http://")]}]},
            {
                "job_name": "relay-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{worker_metrics_port}"]}],
            },
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: _ready(server), timeout_s=20)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _ready(server: Prometheus) -> bool:
    try:
        return get(f"{server.base_url}/-/ready").status == 200
    except OSError:
        return False


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def test_every_dashboard_and_alert_expression_returns_data_from_a_real_prometheus(
    prometheus: Prometheus, web: str, simulator: SimulatorHandle
) -> None:
    # Both targets scraped, with every known label value at 0 before anything happens.
    wait_for(lambda: prometheus.value("count(up == 1)") == 2, timeout_s=20)
    assert prometheus.value('max(relay_dlq_events{reason="rejected"})') == 0

    customer = simulator.add_customer({"company": "Acme Corp", "city": "Boston", "country": "US"})
    for n, city in enumerate(("Oslo", "Lima", "Pune")):
        event = {"id": f"evt_p{n}", "occurred_at": iso(), "customer": {"uuid": customer["uuid"]}}
        assert send_generic(web, GENERIC_SECRET, {**event, "set": {"city": city}}).status == 202
        wait_for(lambda city=city: simulator.customer(customer["uuid"])["city"] == city)  # type: ignore[misc]
    simulator.set_behaviour(unknown_owner="reject")  # the docs' 400 makes the dead letter
    owner = {"id": "evt_dead", "occurred_at": iso(), "customer": {"uuid": customer["uuid"]}}
    assert send_generic(web, GENERIC_SECRET, {**owner, "set": {"owner": "nobody@example.com"}}).status == 202

    # Prometheus has seen the dead letter and the deliveries.
    wait_for(lambda: prometheus.value('max(relay_dlq_events{reason="rejected"})') == 1, timeout_s=30)
    # The worker's own counters: the web target is this test process, whose registry also holds
    # what other in-process tests delivered.
    worker_400 = 'sum(relay_deliveries_total{job="relay-worker", status="400"})'
    wait_for(lambda: prometheus.value(worker_400) == 1, timeout_s=30)
    assert prometheus.value('sum(relay_deliveries_total{job="relay-worker", status="200"})') == 3

    without_data = []
    for expr in dashboard_expressions():
        answer = prometheus.query(expr.replace("$__rate_interval", "1m"))
        assert answer["status"] == "success", f"{expr}: {answer}"
        if not answer["data"]["result"]:
            without_data.append(expr)
    for rule in alert_rules():
        expr = str(rule["expr"])
        answer = prometheus.query(expr)
        assert answer["status"] == "success", f"{rule['alert']}: {answer}"
        left = COMPARISON.match(expr)
        assert left, f"{rule['alert']}: no threshold at the end of {expr!r}"
        if not prometheus.query(left["left"])["data"]["result"]:
            without_data.append(expr)
    assert without_data == []

    # The first dead letter after a quiet spell makes the DLQ alert's condition true at once.
    growing = next(r for r in alert_rules() if r["alert"] == "RelayDeadLettersGrowing")
    assert prometheus.value(str(growing["expr"])) == 1
    # Prometheus loaded every rule and evaluates them without error.
    groups = prometheus.api("rules")["data"]["groups"]
    health = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
    assert health == dict.fromkeys((r["alert"] for r in alert_rules()), "ok")
