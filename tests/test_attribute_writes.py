"""Tags and custom attributes go through ChartMogul's attribute endpoints, which change only what
they name: nothing another writer sets in ChartMogul meanwhile is lost, no GET is needed first,
and a burst still costs at most one call of each kind.

Real web app, real `relay worker`, real Redis, the simulator over HTTP.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import SecretStr

from relay.changes import CustomerChange, CustomerRef
from relay.chartmogul.client import ChartMogulClient
from relay.events import ParsedEvent
from relay.simulator.testing import SimResponse, SimulatorHandle
from relay.store import Store
from relay.store.deliveries import Inflight
from tests.conftest import GENERIC_SECRET, SIM_API_KEY
from tests.servers import WorkerProcess, event_record, wait_for
from tests.webhooks import iso, send_generic


def calls_for(simulator: SimulatorHandle, uuid: str) -> list[tuple[str, str]]:
    """(method, path below the customer) of every API call about this customer, oldest first."""
    base = f"/v1/customers/{uuid}"
    return [
        (r["method"], r["path"][len(base) :] or "/")
        for r in simulator.requests()
        if r["path"].startswith(base)
    ]


def all_applied(redis_url: str, event_ids: list[str]) -> bool:
    return all(event_record(redis_url, e).get("status") == "applied" for e in event_ids)


def test_another_writers_tags_and_custom_attributes_survive_a_burst(
    web: str, start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    """While the relay delivers a burst of tag and custom changes, a person (or another
    integration) adds a tag and sets a custom attribute on the same customer in ChartMogul.
    Every tag and attribute of both writers is there at the end."""
    for key, type_ in (
        ("plan", "String"),
        ("seats", "Integer"),
        ("their_key", "String"),
        ("legacy", "String"),
    ):
        simulator.add_custom_attribute(key, type_)
    customer = simulator.add_customer(
        {"company": "Two Writers Inc", "attributes": {"tags": ["own", "old"], "custom": {"legacy": "x"}}}
    )
    uuid = customer["uuid"]
    base = datetime.now(UTC) - timedelta(minutes=5)
    burst: list[dict[str, Any]] = [
        {"tags": {"add": ["a1"]}},
        {"tags": {"add": ["a2"], "remove": ["old"]}},
        {"custom": {"set": {"plan": "Basic"}}},
        {"custom": {"set": {"plan": "Pro", "seats": 5}}},
        {"custom": {"remove": ["legacy"]}},
        {"tags": {"add": ["a3"]}},
    ]
    event_ids = [f"evt_two_writers_{i}" for i in range(len(burst))]
    for i, change in enumerate(burst):
        event = {
            "id": event_ids[i],
            "occurred_at": iso(base + timedelta(seconds=i)),
            "customer": {"uuid": uuid},
        }
        assert send_generic(web, GENERIC_SECRET, {**event, **change}).status == 202
    # Every call takes 0.8 s, so the other writer's calls, sent as soon as the relay's first call
    # for this customer arrives, land while the relay's delivery is still going on.
    simulator.set_faults(latency_ms=800)
    theirs: list[SimResponse] = []

    def other_writer() -> None:
        wait_for(lambda: calls_for(simulator, uuid), timeout_s=30, interval_s=0.01)
        writes = [
            ("POST", "/attributes/tags", {"tags": ["theirs"]}),
            ("PUT", "/attributes/custom", {"custom": {"their_key": "kept"}}),
        ]
        threads = [
            threading.Thread(
                target=lambda m=method, p=path, b=body: theirs.append(
                    simulator.request(m, f"/v1/customers/{uuid}{p}", b)
                )
            )
            for method, path, body in writes
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    writer = threading.Thread(target=other_writer)
    writer.start()
    start_worker()
    writer.join()

    # evt_two_writers_2's plan (Basic) was superseded by evt_two_writers_3's (Pro): stale.
    applied = [e for e in event_ids if e != "evt_two_writers_2"]
    wait_for(lambda: all_applied(redis_url, applied), timeout_s=30)
    superseded = event_record(redis_url, "evt_two_writers_2")
    assert superseded["status"] == "stale" and "evt_two_writers_3" in superseded["stale_fields"]
    assert [answer.status for answer in theirs] == [200, 200]
    attributes = simulator.stored_customer(uuid)["attributes"]
    assert sorted(attributes["tags"]) == ["a1", "a2", "a3", "own", "theirs"]  # "old" removed, "theirs" kept
    assert attributes["custom"] == {"plan": "Pro", "seats": 5, "their_key": "kept"}  # "legacy" removed
    # One call of each kind (the relay's carry an Idempotency-Key, the other writer's none), no
    # GET first, no PATCH.
    base_path = f"/v1/customers/{uuid}"
    relay_calls = [
        (r["method"], r["path"].removeprefix(base_path))
        for r in simulator.requests()
        if r["path"].startswith(base_path) and r["idempotency_key"]
    ]
    assert sorted(relay_calls) == [
        ("DELETE", "/attributes/custom"),
        ("DELETE", "/attributes/tags"),
        ("POST", "/attributes/tags"),
        ("PUT", "/attributes/custom"),
    ]
    assert [c for c in calls_for(simulator, uuid) if c[0] in ("GET", "PATCH")] == []
    # ...and the other writer's calls did land in the middle of the relay's.
    who = [
        "relay" if r["idempotency_key"] else "other"
        for r in simulator.requests()
        if r["path"].startswith(base_path)
    ]
    assert who[0] == "relay" and who[-1] == "relay" and who.count("other") == 2


def test_a_tag_only_change_costs_one_call(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_url: str
) -> None:
    customer = simulator.add_customer(
        {"company": "One Call Co", "attributes": {"tags": ["own"], "custom": {}}}
    )
    event = {
        "id": "evt_one_call",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "tags": {"add": ["vip"]},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    wait_for(lambda: all_applied(redis_url, ["evt_one_call"]))
    assert calls_for(simulator, customer["uuid"]) == [("POST", "/attributes/tags")]
    assert simulator.stored_customer(customer["uuid"])["attributes"]["tags"] == ["own", "vip"]
    assert event_record(redis_url, "evt_one_call")["applied_fields"] == "tag:vip"


def test_a_custom_attribute_the_account_lacks_is_created_then_set(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_url: str
) -> None:
    simulator.add_custom_attribute("known", "String")
    customer = simulator.add_customer({"company": "New Key Ltd", "attributes": {"custom": {"other": 1}}})
    event = {
        "id": "evt_new_key",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "custom": {"set": {"known": "yes", "fresh": 42}},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    wait_for(lambda: all_applied(redis_url, ["evt_new_key"]))
    calls = [
        (r["method"], r["status"], r["body"])
        for r in simulator.requests()
        if r["path"].endswith("/attributes/custom")
    ]
    assert calls == [
        ("PUT", 400, {"custom": {"known": "yes", "fresh": 42}}),  # "fresh" does not exist yet
        ("POST", 200, {"custom": [{"key": "fresh", "value": 42, "type": "Integer"}]}),
        ("PUT", 200, {"custom": {"known": "yes"}}),
    ]
    assert simulator.stored_customer(customer["uuid"])["attributes"]["custom"] == {
        "other": 1,
        "known": "yes",
        "fresh": 42,
    }


def test_tag_calls_that_landed_before_the_worker_died_are_not_sent_again(
    start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    """The crash window for the attribute endpoints: the plan is written ahead, its tag call is
    sent and answered, and nothing is recorded. A new worker sees the tag and records the event."""
    customer = simulator.add_customer({"company": "Window Tags Co", "attributes": {"tags": ["own"]}})
    change = CustomerChange(
        event_id="evt_tag_window",
        source="generic",
        occurred_at_ms=int(time.time() * 1000),
        customer=CustomerRef(uuid=customer["uuid"]),
        tags_add=["vip"],
    )

    async def die_after_calls() -> None:
        store = Store.from_url(redis_url)
        await store.ledger.accept(ParsedEvent(change=change, raw="{}"))
        await store.deliveries.begin_inflight(
            customer["uuid"],
            Inflight("evt_tag_window", {"calls": {"tags_add": ["vip"]}}, ["evt_tag_window"], {"tag:vip": 1}),
        )
        async with aiohttp.ClientSession() as session:
            client = ChartMogulClient(session, base_url=simulator.base_url, api_key=SecretStr(SIM_API_KEY))
            await client.add_tags(customer["uuid"], ["vip"], idempotency_key="evt_tag_window:tags_add")
        await store.aclose()

    asyncio.run(die_after_calls())
    start_worker()

    wait_for(lambda: all_applied(redis_url, ["evt_tag_window"]))
    assert calls_for(simulator, customer["uuid"]) == [("POST", "/attributes/tags"), ("GET", "/")]
    assert event_record(redis_url, "evt_tag_window")["idempotency_key"] == "evt_tag_window"


def test_after_a_crash_between_calls_only_the_calls_that_did_not_land_are_sent(
    start_worker: Callable[..., WorkerProcess], simulator: SimulatorHandle, redis_url: str
) -> None:
    """The plan was PATCH + tag add; the worker died after the PATCH was answered. The next
    worker reads the customer once, leaves the PATCH out (it landed) and sends the tag call."""
    customer = simulator.add_customer({"company": "Half Way Co", "attributes": {"tags": ["own"]}})
    change = CustomerChange(
        event_id="evt_half_way",
        source="generic",
        occurred_at_ms=int(time.time() * 1000),
        customer=CustomerRef(uuid=customer["uuid"]),
        fields={"city": "Lisbon"},
        tags_add=["vip"],
    )
    plan = {"calls": {"patch": {"city": "Lisbon"}, "tags_add": ["vip"]}}

    async def die_between_calls() -> None:
        store = Store.from_url(redis_url)
        await store.ledger.accept(ParsedEvent(change=change, raw="{}"))
        await store.deliveries.begin_inflight(
            customer["uuid"], Inflight("evt_half_way", plan, ["evt_half_way"], {"city": 1, "tag:vip": 1})
        )
        async with aiohttp.ClientSession() as session:
            client = ChartMogulClient(session, base_url=simulator.base_url, api_key=SecretStr(SIM_API_KEY))
            await client.update_customer(customer["uuid"], {"city": "Lisbon"}, idempotency_key="evt_half_way")
        await store.aclose()

    asyncio.run(die_between_calls())
    start_worker()

    wait_for(lambda: all_applied(redis_url, ["evt_half_way"]))
    assert calls_for(simulator, customer["uuid"]) == [
        ("PATCH", "/"),
        ("GET", "/"),
        ("POST", "/attributes/tags"),
    ]
    stored = simulator.stored_customer(customer["uuid"])
    assert (stored["city"], stored["attributes"]["tags"]) == ("Lisbon", ["own", "vip"])
