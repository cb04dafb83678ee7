"""Every write is verified: a value ChartMogul answers 200 for but does not keep is not "applied".

Real web app, real `relay worker`, real Redis, the simulator over HTTP. The simulator's
`unknown_owner` switch gives both sides of the evidence: "ignore" (recorded 2023: 200, the owner
left unchanged) and "reject" (the docs: 400).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from relay.simulator.testing import SimulatorHandle
from tests.cli import relay_cli
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, event_record, free_port, wait_for
from tests.webhooks import get, iso, send_generic


def status(redis_url: str, event_id: str) -> str | None:
    return event_record(redis_url, event_id).get("status")


def dead_letters(relay_env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    out = relay_cli(relay_env, "dlq", "list", "--json", *args)
    assert out.returncode == 0, out.stderr
    return [orjson.loads(line) for line in out.stdout.splitlines()]


def test_an_owner_chartmogul_ignores_is_a_dead_letter_not_applied_then_replays(
    web: str,
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    redis_url: str,
    relay_env: dict[str, str],
) -> None:
    port = free_port()
    start_worker("--metrics-port", str(port))
    customer = simulator.add_customer({"company": "Quiet Owner Inc", "city": "Boston"})
    event = {
        "id": "evt_quiet_owner",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"owner": "nobody@example.com", "city": "Oslo"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    wait_for(lambda: status(redis_url, "evt_quiet_owner") == "dead")
    record = event_record(redis_url, "evt_quiet_owner")
    assert record["reason"] == "not_applied"
    assert record["applied_fields"] == "city"  # the city took...
    assert (
        record["not_applied"] == "owner: sent 'nobody@example.com', ChartMogul kept nothing"
    )  # ...the owner not
    assert "owner" in record["error"] and "nobody@example.com" in record["error"]
    assert simulator.stored_customer(customer["uuid"])["city"] == "Oslo"
    # every place an operator looks shows it
    [listed] = dead_letters(relay_env, "--reason", "not_applied")
    assert listed["event_id"] == "evt_quiet_owner"
    assert dead_letters(relay_env, "--reason", "rejected") == []
    shown = relay_cli(relay_env, "events", "show", "evt_quiet_owner")
    assert "  not applied:    owner: sent 'nobody@example.com'" in shown.stdout
    assert "  applied:        city" in shown.stdout
    exposition = wait_for(lambda: get(f"http://127.0.0.1:{port}/metrics").text)
    assert 'relay_fields_not_applied_total{field="owner"} 1.0' in exposition
    assert 'relay_fields_not_applied_total{field="city"} 0.0' in exposition  # known from the start

    # The owner gets a seat in ChartMogul; replaying sends the event again like any other.
    simulator.add_user("nobody@example.com")
    replay = relay_cli(relay_env, "dlq", "replay", "evt_quiet_owner", "--yes")
    assert replay.returncode == 0, replay.stderr

    wait_for(lambda: status(redis_url, "evt_quiet_owner") == "applied")
    assert simulator.stored_customer(customer["uuid"])["owner"] == "nobody@example.com"
    assert set(event_record(redis_url, "evt_quiet_owner")["applied_fields"].split(",")) == {"owner", "city"}


def test_an_owner_chartmogul_refuses_is_a_dead_letter_rejected(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_url: str, relay_env: dict[str, str]
) -> None:
    simulator.set_behaviour(unknown_owner="reject")  # the docs' side: 400
    customer = simulator.add_customer({"company": "Loud Owner Ltd"})
    event = {
        "id": "evt_loud_owner",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"owner": "nobody@example.com"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    wait_for(lambda: status(redis_url, "evt_loud_owner") == "dead")
    record = event_record(redis_url, "evt_loud_owner")
    assert (record["reason"], record["http_status"]) == ("rejected", "400")
    assert "not_applied" not in record
    assert dead_letters(relay_env, "--reason", "not_applied") == []


@pytest.mark.parametrize("strict", [False, True], ids=["recorded-behaviour", "strict-docs-behaviour"])
def test_values_chartmogul_normalises_count_as_applied(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_url: str, strict: bool
) -> None:
    """`US-CA` answered `CA`, a bare domain answered with `https://`, times answered as
    `…T…000Z` (plain fields and Timestamp custom attributes alike), emails in another case."""
    if strict:
        simulator.strict()
    simulator.add_user("sales@acme.test")
    simulator.add_custom_attribute("renewal", "Timestamp")
    customer = simulator.add_customer({"company": "Normal Co"})
    event = {
        "id": "evt_normalised",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {
            "state": "US-CA",
            "country": "US",
            "website_url": "normal.example",
            "lead_created_at": "2024-01-02T03:04:05+00:00",
            "owner": "Sales@Acme.test",
            "primary_contact": {"title": "CFO"},  # never shown by ChartMogul: not checked
        },
        "custom": {"set": {"renewal": "2025-01-31T00:00:00+00:00"}},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    wait_for(lambda: status(redis_url, "evt_normalised") in ("applied", "dead"))
    record = event_record(redis_url, "evt_normalised")
    assert record["status"] == "applied", record
    stored = simulator.stored_customer(customer["uuid"])
    assert (stored["state"], stored["website_url"]) == ("CA", "https://normal.example")
    assert stored["lead_created_at"] == "2024-01-02T03:04:05.000Z"
    assert stored["attributes"]["custom"]["renewal"] == "2025-01-31T00:00:00.000Z"
