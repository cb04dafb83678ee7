"""Prometheus metrics: the web app's counters, the gauges read from Redis at scrape time, a
worker's own /metrics, multiprocess mode, and the monitoring files naming only real metrics."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from relay import metrics
from relay.admin.state import OldestWaiting, RelayState
from relay.app import create_app
from relay.settings import Settings
from relay.store import keys
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, free_port, running_web_app, wait_for
from tests.webhooks import get, post, send_generic

MONITORING = Path(__file__).parent.parent / "deploy" / "monitoring"
UUID = "cus_00000000-0000-4000-8000-0000000000aa"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(base_url: str, **headers: str) -> str:
    reply = get(f"{base_url}/metrics", headers)
    assert reply.status == 200, reply.text
    return reply.text


def event(event_id: str, **changes: Any) -> dict[str, Any]:
    return {"id": event_id, "occurred_at": "2026-11-20T10:00:00Z", "customer": {"uuid": UUID}, **changes}


def test_web_counts_webhooks_events_duplicates_and_refusals(web: str) -> None:
    before = scrape(web)

    send_generic(web, GENERIC_SECRET, event("evt_m1", set={"city": "Oslo"}))
    send_generic(web, GENERIC_SECRET, event("evt_m1", set={"city": "Oslo"}))  # duplicate
    post(
        f"{web}/webhooks/generic",
        b"{}",
        {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,x"},
    )
    unknown = f"zoho-{os.getpid()}"
    post(f"{web}/webhooks/{unknown}", b"{}")  # unknown: one label for all unknown sources
    after = scrape(web)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("relay_webhooks_received_total", source="generic") == 3
    assert delta("relay_webhooks_received_total", source="unknown") == 1
    assert delta("relay_events_received_total", source="generic") == 2
    assert delta("relay_events_accepted_total", source="generic") == 1
    assert delta("relay_events_duplicate_total", source="generic") == 1
    assert delta("relay_webhooks_rejected_total", source="generic", reason="invalid_signature") == 1
    assert delta("relay_webhooks_rejected_total", source="unknown", reason="source_disabled") == 1
    # (A source declared by a file, e.g. "zoho" in another test of this process, has a label.)
    assert not any(unknown in line for line in after.splitlines())


def test_gauges_are_read_from_redis_at_scrape_time(web: str, redis_url: str) -> None:
    send_generic(web, GENERIC_SECRET, event("evt_g1", set={"city": "Oslo"}))
    client = redis.Redis.from_url(redis_url)
    client.zadd(keys.DLQ, {"evt_g1": time.time() * 1_000_000})  # died now (µs)
    client.hset("relay:event:evt_g1", mapping={"status": "dead", "reason": "rejected"})
    client.hset("relay:circuit", mapping={"state": "open", "since_ms": 1, "reason": "401"})
    rq_worker = Worker(
        [Queue("relay", connection=client, serializer=JSONSerializer)], connection=client, name="metrics-test"
    )
    rq_worker.register_birth()
    # The webhook's wake-up job is enqueued off the request path: wait for it, not race it.
    wait_for(lambda: Queue("relay", connection=client, serializer=JSONSerializer).count == 1)

    text = scrape(web)

    assert value(text, "relay_redis_up") == 1
    assert value(text, "relay_queue_customers", state="ready") == 1
    assert value(text, "relay_dlq_events", reason="rejected") == 1
    assert value(text, "relay_circuit_open") == 1
    assert value(text, "relay_workers") == 1
    assert value(text, "relay_rq_queue_jobs") == 1  # the wake-up job the webhook enqueued
    assert value(text, "relay_oldest_waiting_event_age_seconds") >= 0
    rq_worker.register_death()
    client.close()


def test_metrics_answer_with_redis_down(relay_settings: Settings) -> None:
    settings = relay_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})

    with running_web_app(create_app(settings)) as base_url:
        text = scrape(base_url)

    assert value(text, "relay_redis_up") == 0
    assert "relay_queue_customers" not in text
    assert "# TYPE relay_deliveries_total counter" in text


@pytest.mark.parametrize(("token", "expected"), [("adm_metrics_token_1", 401), (None, 404)])
def test_metrics_can_require_the_admin_token(
    relay_settings: Settings, token: str | None, expected: int
) -> None:
    secret = SecretStr(token) if token else None
    settings = relay_settings.model_copy(update={"metrics_require_auth": True, "admin_token": secret})

    with running_web_app(create_app(settings)) as base_url:
        anonymous = get(f"{base_url}/metrics")
        authorized = get(f"{base_url}/metrics", {"Authorization": f"Bearer {token}"})

    assert anonymous.status == expected
    assert authorized.status == (200 if token else 404)


def test_record_functions_feed_the_registry() -> None:
    def read(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = (read("relay_deliveries_total", status="200"), read("relay_patch_events_count"))
    before_latency = read("relay_delivery_latency_seconds_count")

    metrics.record_delivery(200, events=3, latency_s=[0.2, 1.5, 4.0])
    metrics.record_delivery("Timeout", events=1)
    metrics.record_delivery("weird status!", events=0)
    metrics.record_retry()
    metrics.record_rate_limit_wait(0.03)

    assert read("relay_deliveries_total", status="200") == before[0] + 1
    assert read("relay_deliveries_total", status="timeout") >= 1
    assert read("relay_deliveries_total", status="other") >= 1
    assert read("relay_patch_events_count") == before[1] + 2
    assert read("relay_delivery_latency_seconds_count") == before_latency + 3
    assert read("relay_delivery_retries_total") >= 1
    assert read("relay_rate_limit_wait_seconds_count") >= 1


def test_multiprocess_mode_merges_every_process(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    record = (
        "from relay import metrics; metrics.record_delivery(200, 2, [0.5]); metrics.record_webhook('generic')"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", record], env=env, check=True, timeout=30)

    text = subprocess.run(
        [
            sys.executable,
            "-c",
            "from relay import metrics; print(metrics.exposition(with_state=False).decode())",
        ],
        env=env,
        check=True,
        timeout=30,
        capture_output=True,
        text=True,
    ).stdout

    assert value(text, "relay_deliveries_total", status="200") == 2
    assert value(text, "relay_webhooks_received_total", source="generic") == 2
    assert value(text, "relay_delivery_latency_seconds_count") == 2


@pytest.fixture
def metrics_worker(start_worker: Callable[..., WorkerProcess]) -> Iterator[int]:
    port = free_port()
    start_worker("--metrics-port", str(port))
    yield port


def test_a_worker_serves_its_own_metrics(metrics_worker: int) -> None:
    reply = wait_for(lambda: _get_or_none(f"http://127.0.0.1:{metrics_worker}/metrics"), timeout_s=20)

    assert "# TYPE relay_deliveries_total counter" in reply
    assert "relay_delivery_latency_seconds_bucket" in reply or "relay_delivery_latency_seconds" in reply
    assert "relay_dlq_events" not in reply  # Redis gauges come from the web app only


def _get_or_none(url: str) -> str | None:
    try:
        reply = get(url)
    except OSError:
        return None
    return reply.text if reply.status == 200 else None


# --- deploy/monitoring ------------------------------------------------------------------


def exposed_names() -> set[str]:
    state = RelayState(
        at_ms=1,
        queue_name="relay",
        oldest_waiting=OldestWaiting("e", "c", 1, 2.0),
        dlq_by_reason={"rejected": 1},
    )
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics.exposition(state).decode()):
        names.add(family.name)
        suffixes = {
            "counter": ["_total", "_created"],
            "histogram": ["_bucket", "_sum", "_count", "_created"],
        }.get(family.type, [])
        names.update(family.name + s for s in suffixes)
        names.update(s.name for s in family.samples)
    return names


def referenced(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in re.findall(r"\b(relay_[a-z0-9_]+)", expr)}


def test_alerts_name_only_exposed_metrics_and_cover_the_essentials() -> None:
    rules = yaml.safe_load((MONITORING / "prometheus-alerts.yaml").read_text())
    alerts = {r["alert"]: r for group in rules["spec"]["groups"] for r in group["rules"]}
    expressions = [str(r["expr"]) for r in alerts.values()]

    assert referenced(expressions) - exposed_names() == set()
    assert {
        "RelayDeadLettersGrowing",
        "RelayOldestEventWaiting",
        "RelayCircuitOpen",
        "RelayNoWorkerHeartbeat",
    } <= set(alerts)
    assert all(
        r["labels"]["severity"] in ("warning", "critical") and r["annotations"]["summary"]
        for r in alerts.values()
    )


def test_dashboard_panels_name_only_exposed_metrics_and_show_every_relay_metric() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = referenced(expressions)
    families = {
        f.name for f in text_string_to_metric_families(metrics.exposition(RelayState(1, "relay")).decode())
    }

    assert used - exposed_names() == set()
    relay_families = {f for f in families if f.startswith("relay_")}
    shown = {f for f in relay_families if any(u == f or u.startswith(f + "_") for u in used)}
    assert shown == relay_families
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
