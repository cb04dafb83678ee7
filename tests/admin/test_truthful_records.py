"""What an event's record says is what happened to it: its current outcome apart from its
history, counts that say what they count, no internal ids where a person reads, and an
operator's edit replayed as edited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from relay.simulator.testing import SimulatorHandle
from tests.cli import relay_cli
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, event_record, wait_for
from tests.webhooks import iso, send_generic


def send(web: str, event_id: str, uuid: str, at: datetime | None = None, **change: Any) -> None:
    event = {"id": event_id, "occurred_at": iso(at), "customer": {"uuid": uuid}, **change}
    assert send_generic(web, GENERIC_SECRET, event).status == 202


def shown(env: dict[str, str], event_id: str) -> tuple[dict[str, Any], str]:
    """`relay events show`: the record as JSON, and as a person reads it."""
    as_json = relay_cli(env, "events", "show", event_id, "--json")
    text = relay_cli(env, "events", "show", event_id)
    assert as_json.returncode == 0 and text.returncode == 0, as_json.stderr + text.stderr
    return orjson.loads(as_json.stdout), text.stdout


def test_after_a_fix_and_a_replay_the_record_shows_the_new_outcome_and_the_history_the_old(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str], redis_url: str
) -> None:
    customer = simulator.add_customer({"company": "Seatless Owner Co"})  # unknown_owner: ignore
    send(web, "evt_owner", customer["uuid"], set={"owner": "ann@acme.example"})
    wait_for(lambda: event_record(redis_url, "evt_owner").get("status") == "dead")
    dead, _ = shown(relay_env, "evt_owner")
    assert dead["event"]["not_applied"] == "owner: sent 'ann@acme.example', ChartMogul kept nothing"
    assert dead["event"]["attempts"] == 1  # ChartMogul answered: one delivery sent it

    simulator.add_user("ann@acme.example")  # the fix: Ann gets a seat in ChartMogul
    assert relay_cli(relay_env, "dlq", "replay", "evt_owner").returncode == 0
    wait_for(lambda: event_record(redis_url, "evt_owner").get("status") == "applied")

    detail, text = shown(relay_env, "evt_owner")
    event = detail["event"]
    assert event["applied_fields"] == "owner"
    for gone in ("not_applied", "reason", "error", "dead_at_ms", "next_step"):
        assert gone not in event, gone  # the dead letter's findings are history now
    assert event["attempts"] == 2
    assert [entry["what"] for entry in detail["history"]] == ["accepted", "dead", "replayed", "applied"]
    assert "not_applied" in detail["history"][1]["reason"]
    assert "  applied:        owner" in text and "not applied:" not in text
    assert "  attempts:       2 (deliveries that sent it to ChartMogul)" in text


def test_an_invalid_change_spent_no_call_and_says_so(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str], redis_url: str
) -> None:
    customer = simulator.add_customer({"company": "Rules Ltd"})
    send(web, "evt_active", customer["uuid"], set={"status": "Active"})  # ChartMogul's own status
    wait_for(lambda: event_record(redis_url, "evt_active").get("status") == "dead")

    detail, text = shown(relay_env, "evt_active")

    event = detail["event"]
    assert event["reason"] == "invalid_change" and event["attempts"] == 0
    assert "patch" not in event and event["planned_calls"] == {"patch": {"status": "Active"}}
    assert "calls sent:" not in text
    assert '  not sent:       {"patch":{"status":"Active"}} (refused before sending)' in text
    assert not [r for r in simulator.requests() if r["method"] == "PATCH"]


def test_coalesced_events_name_each_other_and_what_each_one_won_or_lost(
    web: str,
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    relay_env: dict[str, str],
    redis_url: str,
) -> None:
    uuid = simulator.add_customer({"company": "Pair Inc"})["uuid"]
    at = datetime.now(UTC) - timedelta(minutes=1)
    send(web, "evt_older", uuid, at, set={"city": "Porto", "zip": "4000"})
    send(web, "evt_newer", uuid, at + timedelta(seconds=1), set={"city": "Lisbon"})
    start_worker()  # both wait: one delivery, one PATCH
    wait_for(lambda: event_record(redis_url, "evt_older").get("status") == "applied")

    older, text = shown(relay_env, "evt_older")
    newer, _ = shown(relay_env, "evt_newer")

    # Each claims exactly the values its calls sent; the older one's city lost to the newer one.
    assert older["event"]["applied_fields"] == "zip"
    assert older["event"]["stale_fields"] == {"city": "evt_newer"}
    assert newer["event"]["applied_fields"] == "city"
    assert older["event"]["delivered_with"] == "evt_newer"
    assert "  stale:          city (newer: evt_newer)" in text
    assert "  delivered with: evt_newer" in text
    assert "coalesced-" not in text  # the shared Idempotency-Key is the relay's bookkeeping
    assert "with 1 other event(s) in one delivery" in text


def test_an_edited_dead_letter_is_replayed_as_edited_unless_asked_to_remap(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str], redis_url: str
) -> None:
    uuid = simulator.add_customer({"company": "Edits Co"})["uuid"]
    send(web, "evt_edit", uuid, set={"status": "Active", "city": "Oslo"})
    wait_for(lambda: event_record(redis_url, "evt_edit").get("status") == "dead")

    edited = relay_cli(relay_env, "dlq", "edit", "evt_edit", "--set", "fields.status=Qualified Lead")
    refused = relay_cli(relay_env, "dlq", "edit", "evt_edit", "--set", "fields.country=ZZ")
    remap = relay_cli(relay_env, "dlq", "replay", "--reason", "invalid_change", "--dry-run", "--remap")
    dry = relay_cli(relay_env, "dlq", "replay", "--reason", "invalid_change", "--dry-run")
    replayed = relay_cli(relay_env, "dlq", "replay", "--reason", "invalid_change", "--yes")

    assert refused.returncode == 1
    assert "ChartMogul would refuse it: country: " in refused.stderr and "ZZ" in refused.stderr
    assert edited.returncode == 0, edited.stderr
    assert "evt_edit: would replay (re-mapped through the current mapping)" in remap.stdout
    assert "warning: re-mapping replaces the operator's edit" in remap.stdout
    assert "differs from the stored change: fields.status" in remap.stdout
    assert "evt_edit: would replay (as edited; --remap re-maps the CRM payload instead)" in dry.stdout
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    wait_for(lambda: event_record(redis_url, "evt_edit").get("status") == "applied")
    assert simulator.stored_customer(uuid)["status"] == "Qualified Lead"
    assert simulator.stored_customer(uuid)["city"] == "Oslo"
