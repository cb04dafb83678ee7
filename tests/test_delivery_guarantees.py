"""Delivery guarantees, proven by counting what reached the (simulated) ChartMogul.

Ordering and staleness, coalescing, crash safety (SIGKILL mid-delivery), the write-ahead
recovery of a PATCH whose outcome was never recorded, and the circuit for bad credentials.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import redis as redis_sync
from pydantic import SecretStr

from relay.changes import CONTACT_FIELDS, CustomerChange, CustomerRef
from relay.chartmogul.client import ChartMogulClient
from relay.events import ParsedEvent
from relay.simulator.testing import SimulatorHandle
from relay.store import Store, keys
from relay.store.deliveries import Inflight
from tests.cli import relay_state
from tests.conftest import GENERIC_SECRET, SIM_API_KEY
from tests.servers import WorkerProcess, event_record, wait_for
from tests.webhooks import iso, send_generic
from workers.plan import idempotency_key


def customer_requests(simulator: SimulatorHandle, uuid: str, method: str) -> list[dict[str, Any]]:
    return [r for r in simulator.requests() if r["method"] == method and r["path"] == f"/v1/customers/{uuid}"]


def event_status(redis_url: str, event_id: str) -> str | None:
    return event_record(redis_url, event_id).get("status")


def behind_open_circuit(env: dict[str, str]) -> dict[str, Any] | None:
    """`relay status` once a worker has probed the open circuit and one customer waits ready."""
    state = relay_state(env)
    circuit = state["circuit"]
    probed = circuit["state"] == "open" and circuit["probes"] >= 1
    waiting = (state["ready"], state["delivering"], state["retrying"]) == (1, 0, 0)
    return state if probed and waiting else None


def done_statuses(redis_url: str, event_ids: list[str]) -> list[str] | None:
    """The events' statuses once none is queued any more."""
    statuses = [event_status(redis_url, e) or "" for e in event_ids]
    return None if "queued" in statuses else statuses


def jobs_done(state: dict[str, Any]) -> int:
    return sum(int(worker["successful_jobs"]) for worker in state["workers"])


def test_a_burst_of_changes_to_one_customer_costs_one_patch(
    web: str, start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    customer = simulator.add_customer(
        {"company": "Burst Inc", "attributes": {"tags": ["keep"], "custom": {}}}
    )
    base = datetime.now(UTC) - timedelta(minutes=10)
    for i in range(50):  # the worker is not running yet: all 50 wait together
        event = {
            "id": f"evt_burst_{i}",
            "occurred_at": iso(base + timedelta(seconds=i)),
            "customer": {"uuid": customer["uuid"]},
            "set": {"city": f"City {i}"},
            "tags": {"add": [f"t{i % 5}"]},
        }
        assert send_generic(web, GENERIC_SECRET, event).status == 202

    start_worker()

    statuses = wait_for(lambda: done_statuses(redis_url, [f"evt_burst_{i}" for i in range(50)]))
    # Only the newest writer of each field sent its value: those are applied; every value of
    # the others was superseded by a newer event of the same delivery, which each record names.
    assert [i for i, status in enumerate(statuses) if status == "applied"] == [45, 46, 47, 48, 49]
    assert set(statuses[:45]) == {"stale"}
    first = event_record(redis_url, "evt_burst_0")
    assert orjson.loads(first["stale_fields"]) == {"city": "evt_burst_49", "tag:t0": "evt_burst_45"}
    assert "applied_fields" not in first
    assert event_record(redis_url, "evt_burst_49")["applied_fields"] == "city,tag:t4"
    assert event_record(redis_url, "evt_burst_45")["applied_fields"] == "tag:t0"
    [patch] = customer_requests(simulator, customer["uuid"], "PATCH")
    assert patch["body"] == {"city": "City 49"}  # the last writer wins; no `attributes`
    assert patch["idempotency_key"] == idempotency_key([f"evt_burst_{i}" for i in range(50)])
    [tags] = [
        r for r in simulator.requests() if r["path"] == f"/v1/customers/{customer['uuid']}/attributes/tags"
    ]
    assert tags["method"] == "POST" and sorted(tags["body"]["tags"]) == ["t0", "t1", "t2", "t3", "t4"]
    assert customer_requests(simulator, customer["uuid"], "GET") == []  # nothing is read first
    stored = simulator.stored_customer(customer["uuid"])
    assert sorted(stored["attributes"]["tags"]) == ["keep", "t0", "t1", "t2", "t3", "t4"]


def test_an_older_change_never_overwrites_a_newer_one(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_url: str
) -> None:
    customer = simulator.add_customer({"company": "Order Ltd", "city": "Start"})
    now = datetime.now(UTC)
    newer = {
        "id": "evt_new",
        "occurred_at": iso(now),
        "customer": {"uuid": customer["uuid"]},
        "set": {"city": "New"},
    }
    older = {
        "id": "evt_old",
        "occurred_at": iso(now - timedelta(minutes=5)),
        "customer": {"uuid": customer["uuid"]},
        "set": {"city": "Old", "zip": "10115"},
    }
    stale_only = {
        "id": "evt_stale",
        "occurred_at": iso(now - timedelta(minutes=6)),
        "customer": {"uuid": customer["uuid"]},
        "set": {"city": "Older still"},
    }

    assert send_generic(web, GENERIC_SECRET, newer).status == 202
    wait_for(lambda: event_status(redis_url, "evt_new") == "applied")
    assert send_generic(web, GENERIC_SECRET, older).status == 202
    assert send_generic(web, GENERIC_SECRET, stale_only).status == 202

    wait_for(lambda: event_status(redis_url, "evt_stale") == "stale")
    wait_for(lambda: event_status(redis_url, "evt_old") == "applied")
    stored = simulator.stored_customer(customer["uuid"])
    assert stored["city"] == "New"  # the older city was dropped...
    assert stored["zip"] == "10115"  # ...while the older event's other field still applied
    assert [p["body"] for p in customer_requests(simulator, customer["uuid"], "PATCH")] == [
        {"city": "New"},
        {"zip": "10115"},
    ]


def test_a_worker_killed_mid_delivery_loses_nothing(
    web: str, start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    customers = [simulator.add_customer({"company": f"Crash {i}"}) for i in range(6)]
    simulator.set_faults(latency_ms=1500)  # every call is slow: the kill lands mid-request
    first = start_worker(RELAY_LEASE_S="2")
    for i, customer in enumerate(customers):
        event = {
            "id": f"evt_crash_{i}",
            "occurred_at": iso(datetime.now(UTC)),
            "customer": {"uuid": customer["uuid"]},
            "set": {"city": "Recovered"},
        }
        assert send_generic(web, GENERIC_SECRET, event).status == 202
    client = redis_sync.Redis.from_url(redis_url)
    wait_for(lambda: client.zcard(keys.LEASES) > 0)

    first.kill()
    simulator.set_faults(latency_ms=100)
    start_worker(RELAY_LEASE_S="2")
    started = time.monotonic()

    wait_for(
        lambda: all(event_status(redis_url, f"evt_crash_{i}") == "applied" for i in range(6)), timeout_s=60
    )
    assert time.monotonic() - started < 60
    for customer in customers:
        assert simulator.stored_customer(customer["uuid"])["city"] == "Recovered"
        applied = [p for p in customer_requests(simulator, customer["uuid"], "PATCH") if p["status"] == 200]
        assert len(applied) == 1  # applied exactly once, though one worker died mid-way
    client.close()


def test_a_patch_that_landed_before_the_worker_died_is_not_sent_again(
    start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    """The crash window between "ChartMogul applied it" and "we recorded it", reproduced
    exactly: the event is accepted, its PATCH is written ahead and sent, and nothing is
    recorded (as if the worker died right then). A new worker must not send it again."""
    customer = simulator.add_customer({"company": "Window Co"})
    change = CustomerChange(
        event_id="evt_window",
        source="generic",
        occurred_at_ms=int(time.time() * 1000),
        customer=CustomerRef(uuid=customer["uuid"]),
        fields={"city": "Lisbon"},
    )

    async def die_after_patch() -> None:
        store = Store.from_url(redis_url)
        await store.ledger.accept(ParsedEvent(change=change, raw="{}"))
        body = {"city": "Lisbon"}
        await store.deliveries.begin_inflight(
            customer["uuid"],
            Inflight(idempotency_key="evt_window", body=body, event_ids=["evt_window"], field_times={}),
        )
        async with aiohttp.ClientSession() as session:
            client = ChartMogulClient(session, base_url=simulator.base_url, api_key=SecretStr(SIM_API_KEY))
            await client.update_customer(customer["uuid"], body, idempotency_key="evt_window")
        await store.aclose()

    asyncio.run(die_after_patch())
    start_worker()

    wait_for(lambda: event_status(redis_url, "evt_window") == "applied")
    assert len(customer_requests(simulator, customer["uuid"], "PATCH")) == 1
    assert len(customer_requests(simulator, customer["uuid"], "GET")) == 1  # the check that it landed


def test_a_landed_patch_with_a_primary_contact_is_sent_again_harmlessly(
    start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    """Like the test above, but the body carries `primary_contact`, which ChartMogul never shows
    in a customer: recovery cannot see that it landed, so it sends the PATCH again. Sending the
    same plain fields twice leaves the customer as once would, and the event is applied once."""
    customer = simulator.add_customer({"company": "Contact Co"})
    body = {"city": "Porto", "primary_contact": {"title": "CFO", "first_name": "Ana"}}
    change = CustomerChange(
        event_id="evt_contact_window",
        source="generic",
        occurred_at_ms=int(time.time() * 1000),
        customer=CustomerRef(uuid=customer["uuid"]),
        fields=body,
    )

    async def die_after_patch() -> None:
        store = Store.from_url(redis_url)
        await store.ledger.accept(ParsedEvent(change=change, raw="{}"))
        await store.deliveries.begin_inflight(
            customer["uuid"],
            Inflight(
                idempotency_key="evt_contact_window",
                body=body,
                event_ids=["evt_contact_window"],
                field_times={},
            ),
        )
        async with aiohttp.ClientSession() as session:
            client = ChartMogulClient(session, base_url=simulator.base_url, api_key=SecretStr(SIM_API_KEY))
            await client.update_customer(customer["uuid"], body, idempotency_key="evt_contact_window")
        await store.aclose()

    asyncio.run(die_after_patch())
    after_first = simulator.stored_customer(customer["uuid"])
    assert "primary_contact" not in simulator.customer(customer["uuid"])  # nothing to judge it by
    start_worker()

    wait_for(lambda: event_status(redis_url, "evt_contact_window") == "applied")
    patches = customer_requests(simulator, customer["uuid"], "PATCH")
    assert [p["status"] for p in patches] == [200, 200]
    assert patches[0]["body"] == patches[1]["body"] == body
    # the second PATCH changed nothing the first had not
    assert simulator.stored_customer(customer["uuid"]) == after_first
    assert simulator.primary_contact(customer["uuid"]) == {
        **dict.fromkeys(CONTACT_FIELDS),
        "title": "CFO",
        "first_name": "Ana",
    }


def test_bad_credentials_pause_delivery_without_dead_lettering(
    web: str,
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    redis_url: str,
    relay_env: dict[str, str],
) -> None:
    customer = simulator.add_customer({"company": "Keys Ltd"})
    wrong = start_worker(CHARTMOGUL_API_KEY="not-the-key")
    for i in range(3):
        event = {
            "id": f"evt_key_{i}",
            "occurred_at": iso(datetime.now(UTC)),
            "customer": {"uuid": customer["uuid"]},
            "set": {"zip": f"0{i}"},
        }
        assert send_generic(web, GENERIC_SECRET, event).status == 202
    client = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    wait_for(lambda: client.hget(keys.CIRCUIT, "state") == "open")
    # While open, nothing is dead-lettered and nothing more is attempted. Wait until the worker
    # has been through it: it probed ChartMogul (still refused), the customer's retry came due,
    # and wake-up jobs ran (two, so one whole) while the customer stayed ready, unclaimed.
    jobs_then = jobs_done(wait_for(lambda: behind_open_circuit(relay_env)))
    wait_for(lambda: (now := behind_open_circuit(relay_env)) and jobs_done(now) >= jobs_then + 2)
    assert client.zcard(keys.DLQ) == 0
    assert all(event_status(redis_url, f"evt_key_{i}") == "queued" for i in range(3))
    patches_while_open = len(customer_requests(simulator, customer["uuid"], "PATCH"))
    assert patches_while_open <= 1

    wrong.stop()
    start_worker()  # the operator fixes CHARTMOGUL_API_KEY and restarts the workers

    wait_for(lambda: client.hget(keys.CIRCUIT, "state") is None, timeout_s=20)
    statuses = wait_for(lambda: done_statuses(redis_url, [f"evt_key_{i}" for i in range(3)]))
    assert statuses == ["stale", "stale", "applied"]  # one PATCH: the newest zip won
    assert simulator.stored_customer(customer["uuid"])["zip"] == "02"
    client.close()


def test_sigterm_finishes_in_flight_calls_then_exits(
    web: str, start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    customers = [simulator.add_customer({"company": f"Term {i}"}) for i in range(3)]
    simulator.set_faults(latency_ms=1500)
    worker = start_worker()
    for i, customer in enumerate(customers):
        event = {
            "id": f"evt_term_{i}",
            "occurred_at": iso(datetime.now(UTC)),
            "customer": {"uuid": customer["uuid"]},
            "set": {"city": "Drained"},
        }
        assert send_generic(web, GENERIC_SECRET, event).status == 202
    client = redis_sync.Redis.from_url(redis_url)
    wait_for(lambda: client.zcard(keys.LEASES) == 3)  # all three PATCHes are in flight

    exit_code = worker.stop(timeout_s=20)

    assert exit_code == 0
    assert all(event_status(redis_url, f"evt_term_{i}") == "applied" for i in range(3))
    assert client.zcard(keys.LEASES) == 0
    client.close()


def test_a_worker_serves_its_delivery_metrics(
    web: str, start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    from tests.servers import free_port
    from tests.webhooks import get

    port = free_port()
    start_worker("--metrics-port", str(port))
    customers = [simulator.add_customer({"company": f"Metered {i}"}) for i in range(2)]
    simulator.set_faults(status=500, rate=1.0)
    fail_first = {
        "id": "evt_metered_0",
        "occurred_at": iso(datetime.now(UTC)),
        "customer": {"uuid": customers[0]["uuid"]},
        "set": {"city": "Turin"},
    }
    assert send_generic(web, GENERIC_SECRET, fail_first).status == 202
    wait_for(lambda: customer_requests(simulator, customers[0]["uuid"], "PATCH"))
    simulator.clear_faults()
    wait_for(lambda: event_status(redis_url, "evt_metered_0") == "applied")

    exposition = wait_for(lambda: (m := get(f"http://127.0.0.1:{port}/metrics").text) and m)

    assert 'relay_deliveries_total{status="500"} 1.0' in exposition
    assert 'relay_deliveries_total{status="200"} 1.0' in exposition
    assert "relay_delivery_retries_total 1.0" in exposition
    assert "relay_delivery_latency_seconds_count 1.0" in exposition


def test_concurrent_tag_adds_to_one_customer_all_survive(
    web: str, start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    """Read-merge-write of tags is safe when changes to one customer race: 30 tag adds sent at
    once, two workers delivering, and every tag (and the customer's own) ends up present."""
    from concurrent.futures import ThreadPoolExecutor

    customer = simulator.add_customer({"company": "Race Co", "attributes": {"tags": ["own"], "custom": {}}})
    start_worker()
    start_worker()
    base = datetime.now(UTC) - timedelta(minutes=1)
    events: list[dict[str, Any]] = [
        {
            "id": f"evt_race_{i}",
            "occurred_at": iso(base + timedelta(milliseconds=i)),
            "customer": {"uuid": customer["uuid"]},
            "tags": {"add": [f"race-{i}"]},
        }
        for i in range(30)
    ]

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda e: send_generic(web, GENERIC_SECRET, e).status, events))

    assert answers == [202] * 30
    wait_for(lambda: all(event_status(redis_url, e["id"]) == "applied" for e in events))
    tags = set(simulator.stored_customer(customer["uuid"])["attributes"]["tags"])
    assert tags == {"own"} | {f"race-{i}" for i in range(30)}
