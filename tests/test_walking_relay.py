"""End to end: a signed CRM event in, the ChartMogul customer changed in the simulator.

Every test here runs the real web app, a real `relay worker` process, real Redis and the
simulator over HTTP, and asserts on what landed in the (simulated) ChartMogul.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relay.simulator.testing import SimulatorHandle
from tests.cli import relay_cli, wait_until_nothing_to_deliver
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, event_record, wait_for
from tests.webhooks import iso, send_generic


def acme(simulator: SimulatorHandle, **overrides: Any) -> dict[str, Any]:
    simulator.add_custom_attribute("CAC", "Integer")
    simulator.add_custom_attribute("channel", "String")
    return simulator.add_customer(
        {
            "company": "Acme Corp",
            "city": "Boston",
            "country": "US",
            "attributes": {"tags": ["existing", "trial"], "custom": {"channel": "Facebook"}, "stripe": {}},
            **overrides,
        }
    )


def patches(simulator: SimulatorHandle, uuid: str) -> list[dict[str, Any]]:
    return [
        r for r in simulator.requests() if r["method"] == "PATCH" and r["path"] == f"/v1/customers/{uuid}"
    ]


@pytest.mark.parametrize("strict", [False, True], ids=["recorded-behaviour", "strict-docs-behaviour"])
def test_event_updates_customer_and_keeps_existing_tags(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, strict: bool, redis_url: str
) -> None:
    if strict:
        simulator.strict()  # what the relay sends must pass the docs' rules too
    customer = acme(simulator)
    event = {
        "id": "evt_01",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {
            "city": "San Francisco",
            "country": "US",
            "state": "US-CA",
            "primary_contact": {"first_name": "Anna"},
        },
        "tags": {"add": ["vip"], "remove": ["trial"]},
        "custom": {"set": {"CAC": 25}},
    }

    answer = send_generic(web, GENERIC_SECRET, event)

    assert answer.status == 202
    assert answer.body == {"status": "accepted", "event_id": "evt_01"}
    wait_for(lambda: event_record(redis_url, "evt_01").get("status") == "applied")
    updated = simulator.customer(customer["uuid"])
    assert updated["city"] == "San Francisco"
    assert updated["attributes"]["tags"] == ["existing", "vip"]  # "existing" survived, "trial" removed
    assert updated["attributes"]["custom"] == {"channel": "Facebook", "CAC": 25}
    assert updated["company"] == "Acme Corp"  # untouched fields stay
    assert updated["state"] == "CA" and "primary_contact" not in updated
    assert (simulator.primary_contact(customer["uuid"]) or {})["first_name"] == "Anna"
    [patch] = patches(simulator, customer["uuid"])
    assert patch["idempotency_key"] == "evt_01"
    assert patch["status"] == 200
    assert "attributes" not in patch["body"]  # tags and custom go to the attribute endpoints
    record = event_record(redis_url, "evt_01")
    assert set(record["applied_fields"].split(",")) == {
        "city",
        "country",
        "state",
        "primary_contact.first_name",
        "tag:vip",
        "tag:trial",
        "custom:CAC",
    }


def test_duplicate_delivery_is_applied_once(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str]
) -> None:
    customer = acme(simulator)
    event = {
        "id": "evt_dup",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "tags": {"add": ["vip"]},
    }

    first = send_generic(web, GENERIC_SECRET, event)
    second = send_generic(web, GENERIC_SECRET, event)

    assert (first.status, second.status) == (202, 200)
    assert second.body == {"status": "duplicate", "event_id": "evt_dup"}
    wait_for(lambda: "vip" in simulator.customer(customer["uuid"])["attributes"]["tags"])
    # A (wrong) second delivery would need something left to deliver: wait until nothing is.
    wait_until_nothing_to_deliver(relay_env)
    tag_path = f"/v1/customers/{customer['uuid']}/attributes/tags"
    assert len([r for r in simulator.requests() if r["path"] == tag_path]) == 1


def test_rejected_event_lands_in_dlq_with_chartmogul_message(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str]
) -> None:
    simulator.set_behaviour(unknown_owner="reject")  # the docs' 400 (a 2023 recording: 200, ignored)
    customer = acme(simulator)
    event = {
        "id": "evt_owner",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"owner": "nobody@example.com"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    def dead_letters() -> list[dict[str, Any]]:
        out = relay_cli(relay_env, "dlq", "list", "--json")
        return [orjson.loads(line) for line in out.stdout.splitlines()]

    [dead] = wait_for(dead_letters)
    assert dead["event_id"] == "evt_owner"
    assert dead["reason"] == "rejected"
    assert int(dead["http_status"]) == 400
    assert "nobody@example.com" in dead["error"]
    assert [p["status"] for p in patches(simulator, customer["uuid"])] == [400]  # never retried


def test_server_errors_are_retried_then_applied_once(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle
) -> None:
    customer = acme(simulator)
    simulator.set_faults(status=500)
    event = {
        "id": "evt_500",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"city": "Oslo"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202
    # The first PATCH fails; later attempts first check (GET) whether it landed after all.
    customer_path = f"/v1/customers/{customer['uuid']}"
    wait_for(
        lambda: (
            len([r for r in simulator.requests() if r["path"] == customer_path and r["status"] == 500]) >= 3
        )
    )
    simulator.clear_faults()

    wait_for(lambda: simulator.customer(customer["uuid"])["city"] == "Oslo")
    statuses = [p["status"] for p in patches(simulator, customer["uuid"])]
    assert statuses.count(200) == 1
    assert set(statuses) == {500, 200}


def test_an_owner_chartmogul_ignores_is_applied_without_changing_the_owner(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle
) -> None:
    """As recorded in 2023: an owner without a seat gets 200 and the owner stays as it was."""
    customer = acme(simulator)
    event = {
        "id": "evt_owner_ignored",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"owner": "nobody@example.com", "city": "Denver"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    wait_for(lambda: simulator.stored_customer(customer["uuid"])["city"] == "Denver")
    assert simulator.stored_customer(customer["uuid"])["owner"] is None
    assert [p["status"] for p in patches(simulator, customer["uuid"])] == [200]


def test_replay_applies_event_once_the_cause_is_fixed(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str]
) -> None:
    simulator.set_behaviour(unknown_owner="reject")
    customer = acme(simulator)
    event = {
        "id": "evt_fixme",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"owner": "sales@acme.test"},
    }
    assert send_generic(web, GENERIC_SECRET, event).status == 202
    wait_for(lambda: "evt_fixme" in relay_cli(relay_env, "dlq", "list", "--json").stdout)

    simulator.add_user("sales@acme.test")  # the operator fixes the cause in ChartMogul
    replay = relay_cli(relay_env, "dlq", "replay", "evt_fixme")

    assert replay.returncode == 0, replay.stderr
    wait_for(lambda: simulator.customer(customer["uuid"])["owner"] == "sales@acme.test")
    assert [p["status"] for p in patches(simulator, customer["uuid"])] == [400, 200]
    assert "evt_fixme" not in relay_cli(relay_env, "dlq", "list", "--json").stdout
    again = relay_cli(relay_env, "dlq", "replay", "evt_fixme")
    assert again.returncode == 1
    assert "not in the dead-letter queue" in again.stderr


def test_retries_exhausted_are_dead_lettered(
    web: str, start_worker: Any, simulator: SimulatorHandle, relay_env: dict[str, str]
) -> None:
    start_worker(RELAY_RETRY_DEADLINE_S="1")
    customer = acme(simulator)
    simulator.set_faults(status=503)
    event = {
        "id": "evt_down",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"zip": "10115"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    out = wait_for(lambda: (o := relay_cli(relay_env, "dlq", "list", "--json").stdout) and o)
    dead = orjson.loads(out.splitlines()[0])
    assert dead["reason"] == "retries_exhausted"
    assert int(dead["attempts"]) >= 2


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        pytest.param(b'{"id": "x"', None, 400, "not valid JSON", id="malformed-json"),
        pytest.param(
            b'{"id": "x", "occurred_at": "2026-01-01T00:00:00Z"}', None, 422, "customer", id="missing-field"
        ),
        pytest.param(
            b'{"id": "x", "occurred_at": "2026-01-01T00:00:00Z", "customer": {"uuid": "cus_1"},'
            b' "set": {"colour": "red"}}',
            None,
            422,
            "set.colour",
            id="unknown-field",
        ),
        pytest.param(
            b'{"id": "x", "occurred_at": "2026-01-01T00:00:00Z", "customer": {}, "set": {"city": "A"}}',
            None,
            422,
            "customer",
            id="customer-without-reference",
        ),
        pytest.param(b"{}", {"webhook-signature": "v1,AAAA"}, 401, "signature", id="bad-signature"),
        pytest.param(b"{}", {"webhook-timestamp": "1000000000"}, 401, "too old", id="replayed-old-timestamp"),
        pytest.param(b"x" * (1024 * 1024 + 1), None, 413, "larger than", id="oversized"),
    ],
)
def test_bad_requests_get_clear_errors(
    web: str, body: bytes, headers: dict[str, str] | None, status: int, message: str
) -> None:
    from relay.demo import signed_headers
    from tests.webhooks import post

    signed = {**signed_headers(GENERIC_SECRET, body, msg_id="msg_bad"), **(headers or {})}
    answer = post(f"{web}/webhooks/generic", body, signed)

    assert answer.status == status
    assert message in answer.body["error"]
    assert "Traceback" not in answer.text


def test_unknown_and_unconfigured_sources_are_404(web: str) -> None:
    from tests.webhooks import post

    unknown = post(f"{web}/webhooks/zoho", b"{}")
    unconfigured = post(f"{web}/webhooks/hubspot", b"[]")

    assert unknown.status == 404
    assert "unknown" in unknown.body["error"]
    assert unconfigured.status == 404
    assert "not configured" in unconfigured.body["error"]


def test_health_and_readiness(web: str, worker: WorkerProcess) -> None:
    from tests.webhooks import get

    assert get(f"{web}/healthz").body == {"status": "ok"}
    # Ready once the worker's first RQ heartbeat is in (readiness needs a live worker).
    ready = wait_for(lambda: (answer := get(f"{web}/readyz")).status == 200 and answer)
    assert ready.body["checks"] == {"redis": "ok", "workers": "ok", "circuit": "ok"}


def test_replaying_an_applied_event_is_a_no_op_unless_forced(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str]
) -> None:
    customer = acme(simulator)
    event = {
        "id": "evt_again",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"zip": "1"},
    }
    assert send_generic(web, GENERIC_SECRET, event).status == 202
    wait_for(lambda: len(patches(simulator, customer["uuid"])) == 1)

    plain = relay_cli(relay_env, "dlq", "replay", "evt_again")
    wait_until_nothing_to_deliver(relay_env)  # a (wrong) replay would have left something to deliver

    assert plain.returncode == 1
    assert "not in the dead-letter queue (applied)" in plain.stdout + plain.stderr
    assert len(patches(simulator, customer["uuid"])) == 1

    forced = relay_cli(relay_env, "dlq", "replay", "evt_again", "--force", "--yes")

    assert forced.returncode == 0, forced.stdout + forced.stderr
    wait_for(lambda: len(patches(simulator, customer["uuid"])) == 2)
    assert [p["body"] for p in patches(simulator, customer["uuid"])] == [{"zip": "1"}, {"zip": "1"}]
