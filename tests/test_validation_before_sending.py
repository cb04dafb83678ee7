"""Contract violations reach the dead-letter queue with a reason a person understands, and
cost no PATCH; in a coalesced batch only the bad change is dead-lettered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from relay.simulator.testing import SimulatorHandle
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, event_record, wait_for
from tests.webhooks import iso, send_generic


def test_trial_before_the_current_lead_date_is_dead_lettered_without_a_patch(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_url: str
) -> None:
    customer = simulator.add_customer({"company": "Dates Inc", "lead_created_at": "2026-03-01T00:00:00.000Z"})
    event = {
        "id": "evt_trial",
        "occurred_at": iso(datetime.now(UTC)),
        "customer": {"uuid": customer["uuid"]},
        "set": {"free_trial_started_at": "2026-01-01T00:00:00Z"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    dead = wait_for(lambda: (r := event_record(redis_url, "evt_trial")).get("status") == "dead" and r)
    assert dead["reason"] == "invalid_change"
    assert "free_trial_started_at" in dead["error"]
    assert "lead_created_at" in dead["error"]
    assert not [r for r in simulator.requests() if r["method"] == "PATCH"]


def test_only_the_bad_change_of_a_coalesced_batch_is_dead_lettered(
    web: str, start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    customer = simulator.add_customer({"company": "Batch Ltd"})
    at = datetime.now(UTC) - timedelta(minutes=1)
    good = {
        "id": "evt_good",
        "occurred_at": iso(at),
        "customer": {"uuid": customer["uuid"]},
        "set": {"city": "Rome"},
    }
    bad = {
        "id": "evt_bad",
        "occurred_at": iso(at + timedelta(seconds=1)),
        "customer": {"uuid": customer["uuid"]},
        "set": {"status": "Active"},  # ChartMogul sets subscription statuses itself
    }
    assert send_generic(web, GENERIC_SECRET, good).status == 202
    assert send_generic(web, GENERIC_SECRET, bad).status == 202

    start_worker()  # both wait together, so they are coalesced first

    wait_for(lambda: event_record(redis_url, "evt_good").get("status") == "applied")
    wait_for(lambda: event_record(redis_url, "evt_bad").get("status") == "dead")
    assert event_record(redis_url, "evt_bad")["reason"] == "invalid_change"
    assert "status" in event_record(redis_url, "evt_bad")["error"]
    assert simulator.stored_customer(customer["uuid"])["city"] == "Rome"
    assert [p["body"] for p in simulator.requests() if p["method"] == "PATCH"] == [{"city": "Rome"}]
