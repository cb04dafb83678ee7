"""Dead letters that heal themselves, end to end: the web app, a real `relay worker`, the
simulator — and the operator's `relay` command where an operator fixes the cause.

    a link imported          `relay links import` re-queues the record's customer_not_found letters
    a look-up finds it       a customer made in ChartMogul, seen by the next event's look-up
    an owner added           a not_applied owner, once a change setting that owner takes
    ChartMogul recovers      retries_exhausted, once deliveries have succeeded for a while
    switched off             RELAY_AUTO_REPLAY=0: they wait for the operator, as before
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import redis

from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from tests.cli import relay_cli
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, wait_for
from tests.sources.senders import hubspot_event, hubspot_event_id, send_hubspot
from tests.webhooks import iso, send_generic

RECORD = "hubspot:company:4242"
OWNER = "new.owner@acme.example"


def status(client: redis.Redis, event_id: str) -> str | None:
    return client.hget(keys.event(event_id), "status")  # type: ignore[return-value]


def replays(client: redis.Redis, event_id: str) -> list[dict[str, str]]:
    entries = [orjson.loads(e) for e in client.lrange(keys.event_history(event_id), 0, -1)]
    return [e for e in entries if e["what"] == "replayed"]


def generic(web: str, event_id: str, customer: dict[str, str], **fields: str) -> None:
    event = {"id": event_id, "occurred_at": iso(datetime.now(UTC)), "customer": customer, "set": fields}
    assert send_generic(web, GENERIC_SECRET, event).status == 202


@pytest.fixture
def dead_then_linked(
    web: str, relay_env: dict[str, str], simulator: SimulatorHandle, redis_client: redis.Redis, tmp_path: Path
) -> Callable[[int], tuple[str, str]]:
    """dead_then_linked(HubSpot eventId): a HubSpot company's change dead-lettered (no link),
    then its link imported by the operator → (the event's id, the customer's uuid)."""

    def run(hubspot_id: int) -> tuple[str, str]:
        customer = simulator.add_customer({"company": "Linked Later"})
        event = hubspot_event(hubspot_id, 4242, "city", "Denver")
        assert send_hubspot(web, [event]).status == 202
        wait_for(lambda: status(redis_client, hubspot_event_id(event)) == "dead")
        links = tmp_path / "links.csv"
        links.write_text(f"source,crm_id,customer_uuid\nhubspot,4242,{customer['uuid']}\n")
        assert relay_cli(relay_env, "links", "import", str(links)).returncode == 0
        return hubspot_event_id(event), customer["uuid"]

    return run


def test_an_imported_link_re_queues_the_records_dead_letters(
    start_worker: Callable[..., WorkerProcess],
    dead_then_linked: Callable[[int], tuple[str, str]],
    relay_env: dict[str, str],
    simulator: SimulatorHandle,
    redis_client: redis.Redis,
) -> None:
    worker = start_worker()
    event_id, uuid = dead_then_linked(3001)

    wait_for(lambda: status(redis_client, event_id) == "applied")
    assert simulator.stored_customer(uuid)["city"] == "Denver"
    [replay] = replays(redis_client, event_id)
    assert replay["trigger"] == "link_imported"
    assert replay["why"] == f"link imported: {RECORD} is linked to {uuid}"
    assert "link imported" in relay_cli(relay_env, "events", "show", event_id).stdout
    logged = [line for line in worker.log_lines() if line.get("event") == "dlq_auto_replayed"]
    assert [(line["event_id"], line["trigger"]) for line in logged] == [(event_id, "link_imported")]


def test_a_customer_created_in_chartmogul_is_seen_by_the_next_look_up(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    named = {"external_id": "acct-77", "data_source_uuid": "ds_billing"}
    generic(web, "evt_early", named, city="Oslo")
    wait_for(lambda: status(redis_client, "evt_early") == "dead")

    customer = simulator.add_customer({**named, "company": "Made Later"})  # e.g. a billing sync
    generic(web, "evt_later", named, zip="0150")

    wait_for(lambda: status(redis_client, "evt_early") == "applied")
    assert status(redis_client, "evt_later") == "applied"
    stored = simulator.stored_customer(customer["uuid"])
    assert (stored["city"], stored["zip"]) == ("Oslo", "0150")
    [replay] = replays(redis_client, "evt_early")
    assert replay["trigger"] == "lookup"


def test_a_not_applied_owner_goes_through_once_that_owner_takes(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    first = simulator.add_customer({"company": "First"})
    second = simulator.add_customer({"company": "Second"})
    generic(web, "evt_owner_1", {"uuid": first["uuid"]}, owner=OWNER)  # not a ChartMogul user yet
    wait_for(lambda: status(redis_client, "evt_owner_1") == "dead")
    assert redis_client.hget(keys.event("evt_owner_1"), "reason") == "not_applied"

    simulator.add_user(OWNER)  # the fix, in ChartMogul
    generic(web, "evt_owner_2", {"uuid": second["uuid"]}, owner=OWNER)

    wait_for(lambda: status(redis_client, "evt_owner_1") == "applied")
    assert simulator.stored_customer(first["uuid"])["owner"] == OWNER
    [replay] = replays(redis_client, "evt_owner_1")
    assert replay["trigger"] == "owner_applied"


def test_retries_exhausted_go_through_once_chartmogul_has_been_healthy_for_a_while(
    web: str,
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    redis_client: redis.Redis,
) -> None:
    outage = simulator.add_customer({"company": "Outage"})
    healthy = simulator.add_customer({"company": "Healthy"})
    simulator.set_faults(status=503, only=f"PATCH /v1/customers/{outage['uuid']}")
    start_worker(RELAY_RETRY_DEADLINE_S="1", RELAY_AUTO_REPLAY_HEALTHY_S="1")
    generic(web, "evt_outage", {"uuid": outage["uuid"]}, city="Lagos")
    wait_for(lambda: status(redis_client, "evt_outage") == "dead")
    assert redis_client.hget(keys.event("evt_outage"), "reason") == "retries_exhausted"

    simulator.clear_faults()
    generic(web, "evt_healthy", {"uuid": healthy["uuid"]}, city="Accra")  # a success after the failures

    wait_for(lambda: status(redis_client, "evt_outage") == "applied")
    assert simulator.stored_customer(outage["uuid"])["city"] == "Lagos"
    [replay] = replays(redis_client, "evt_outage")
    assert replay["trigger"] == "recovered"


def test_switched_off_dead_letters_wait_for_the_operator(
    start_worker: Callable[..., WorkerProcess],
    dead_then_linked: Callable[[int], tuple[str, str]],
    relay_env: dict[str, str],
    redis_client: redis.Redis,
) -> None:
    start_worker(RELAY_AUTO_REPLAY="0")
    event_id, _ = dead_then_linked(3101)
    wait_for(lambda: redis_client.llen(keys.REPLAY_TRIGGERS) == 0)  # taken, and dropped

    assert status(redis_client, event_id) == "dead"
    assert replays(redis_client, event_id) == []
    replayed = relay_cli(relay_env, "dlq", "replay", "--reason", "customer_not_found", "--yes")
    assert replayed.returncode == 0, replayed.stderr
    wait_for(lambda: status(redis_client, event_id) == "applied")
