"""End to end: each CRM's own request in, the exact ChartMogul customer out.

Real web app, real `relay worker` process, real Redis, the simulator over HTTP.

NOTE (links): CRM events name their customer by CRM record (`hubspot:company:1246965`), and
the worker resolves that to a ChartMogul uuid through the link table `relay:links`
(relay.store.keys.LINKS). Most tests here store the link directly (`HSET relay:links <crm_record>
<cus_uuid>`), as an operator or an earlier link event would; resolving it is the worker's job.
If a test fails with "dead-lettered … customer_not_found", the worker does not resolve
crm_record yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from relay.mapping.config import DEFAULTS_DIR
from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from tests.servers import WorkerProcess
from tests.sources.senders import (
    account_notification,
    batch_answer,
    fixture_json,
    hubspot_event,
    outbound_message,
    send_close,
    send_hubspot,
    send_pipedrive,
    send_salesforce,
)

OWNER = "anna.owner@acme.example"
WAIT_S = 20.0


def acme(simulator: SimulatorHandle) -> dict[str, Any]:
    for key, kind in (("employees", "Integer"), ("seats", "Integer"), ("channel", "String")):
        simulator.add_custom_attribute(key, kind)
    simulator.add_user(OWNER)
    return simulator.add_customer(
        {
            "company": "Acme Inc",
            "city": "Albany",
            "state": "US-NY",
            "country": "US",
            "attributes": {
                "tags": ["existing", "segment:SMB"],
                "custom": {"channel": "Facebook"},
                "stripe": {},
            },
        }
    )


def link(client: redis.Redis, *records: str, uuid: str) -> None:
    """What the link table would hold once the CRM record is linked to its customer."""
    client.hset(keys.LINKS, mapping=dict.fromkeys(records, uuid))


def projection(customer: dict[str, Any], primary_contact: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fields the tests compare; the contact comes apart (the API never shows it in a customer)."""
    contact = {k: v for k, v in (primary_contact or {}).items() if v}
    return {
        "company": customer["company"],
        "city": customer["city"],
        "zip": customer["zip"],
        "state": customer["state"],
        "country": customer["country"],
        "status": customer["status"],
        "owner": customer["owner"],
        "website_url": customer["website_url"],
        "lead_created_at": customer["lead_created_at"],
        "primary_contact": contact,
        "tags": customer["attributes"]["tags"],
        "custom": customer["attributes"]["custom"],
    }


def settled(
    simulator: SimulatorHandle,
    client: redis.Redis,
    uuid: str,
    expected: dict[str, Any],
    shown: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Wait until the stored customer matches (as `projection` shows it, or `shown()`); fail
    early (with the reason) on a dead letter."""
    deadline = time.monotonic() + WAIT_S
    current: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if shown is not None:
            current = shown()
        else:
            current = projection(simulator.stored_customer(uuid), simulator.primary_contact(uuid))
        if current == expected:
            return current
        dead = [str(e) for e in client.zrange(keys.DLQ, 0, -1)]
        if dead:
            reasons = {e: client.hmget(keys.event(e), "reason", "error") for e in dead}
            raise AssertionError(f"dead-lettered instead of applied: {reasons}")
        time.sleep(0.1)
    assert current == expected  # shows the difference
    return current


def expected_from(customer: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**projection(customer), **changes}


def test_hubspot_batch_updates_company_and_primary_contact(
    start_web: Any, start_worker: Any, simulator: SimulatorHandle, redis_client: redis.Redis, tmp_path: Path
) -> None:
    # An operator's mapping: the shipped one plus an owner table.
    default = (DEFAULTS_DIR / "hubspot.toml").read_text()
    (tmp_path / "hubspot.toml").write_text(
        default.replace("[owners]\n", f'[owners]\n"31405216" = "{OWNER}"\n')
    )
    web = start_web(RELAY_MAPPING_DIR=str(tmp_path))
    start_worker(RELAY_MAPPING_DIR=str(tmp_path))
    customer = acme(simulator)
    link(redis_client, "hubspot:company:1246965", "hubspot:contact:51", uuid=customer["uuid"])
    contact = {"subscriptionType": "contact.propertyChange", "objectId": 51}
    batch = [
        hubspot_event(1001, 1246965, "name", "Acme Corp"),
        hubspot_event(1002, 1246965, "city", "Boston"),
        hubspot_event(1003, 1246965, "state", "Massachusetts"),
        hubspot_event(1004, 1246965, "zip", "02110"),
        hubspot_event(1005, 1246965, "domain", "acme.example"),
        hubspot_event(1006, 1246965, "hs_lead_status", "OPEN_DEAL"),
        hubspot_event(1007, 1246965, "hubspot_owner_id", "31405216"),
        hubspot_event(1008, 1246965, "createdate", "1704103200000"),
        hubspot_event(1009, 1246965, "industry", "Software"),
        hubspot_event(1010, 1246965, "numberofemployees", "250"),
        hubspot_event(1011, 51, "firstname", "Anna", **contact),
        hubspot_event(1012, 51, "email", "Anna@Acme.example", **contact),
        hubspot_event(1013, 51, "jobtitle", "CFO", **contact),
        hubspot_event(1014, 1246965, "hs_analytics_source", "ORGANIC_SEARCH"),  # not mapped
    ]

    answer = send_hubspot(web, batch)

    assert answer.status == 202
    assert answer.body == batch_answer(accepted=13, ignored=1)
    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(
            customer,
            company="Acme Corp",
            city="Boston",
            state="MA",
            zip="02110",
            website_url="https://acme.example",
            status="Qualified Lead",
            owner=OWNER,
            lead_created_at="2024-01-01T10:00:00.000Z",
            primary_contact={"first_name": "Anna", "email": "anna@acme.example", "title": "CFO"},
            tags=["existing", "segment:SMB", "industry:Software"],
            custom={"channel": "Facebook", "employees": 250},
        ),
    )
    [unmapped] = [e for e in redis_client.zrange(keys.EVENTS, 0, -1) if str(e).startswith("hubspot:1014.")]
    assert redis_client.hget(keys.event(str(unmapped)), "status") == "ignored"


def test_hubspot_link_property_links_then_updates(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    # No HSET here: the first event's property holds the uuid and the relay records the link.
    customer = acme(simulator)
    batch = [
        hubspot_event(2001, 777, "chartmogul_customer_uuid", customer["uuid"]),
        hubspot_event(2002, 777, "city", "Denver", occurredAt=int(time.time() * 1000) + 1),
    ]

    assert send_hubspot(web, batch).status == 202

    assert redis_client.hget(keys.LINKS, "hubspot:company:777") == customer["uuid"]
    settled(simulator, redis_client, customer["uuid"], expected_from(customer, city="Denver"))


def test_pipedrive_change_updates_address_and_swaps_the_segment_tag(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    customer = acme(simulator)
    link(redis_client, "pipedrive:organization:42", uuid=customer["uuid"])

    answer = send_pipedrive(web, fixture_json("pipedrive_organization_change.json"))

    assert answer.status == 202
    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(
            customer,
            city="Boston",
            zip="02110",
            state="MA",
            country="US",
            tags=["existing", "segment:Enterprise"],
        ),
    )


def test_salesforce_account_updates_customer_and_is_acknowledged(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    customer = acme(simulator)
    link(redis_client, "salesforce:account:0015e00000AbCdEAAV", uuid=customer["uuid"])
    body = outbound_message(
        account_notification(
            "04l5e000001AbE2AAK",
            "0015e00000AbCdEAAV",
            Name="Acme Corp",
            BillingCity="Boston",
            BillingStateCode="MA",
            BillingPostalCode="02110",
            Website="www.acme.example",
            NumberOfEmployees="250",
        )
    )

    answer = send_salesforce(web, body)

    assert answer.status == 200
    assert "<Ack>true</Ack>" in answer.text
    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(
            customer,
            company="Acme Corp",
            city="Boston",
            state="MA",
            zip="02110",
            website_url="https://www.acme.example",
            custom={"channel": "Facebook", "employees": 250},
        ),
    )


def test_close_lead_update_and_new_contact(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    customer = acme(simulator)
    link(redis_client, "close:lead:lead_IIDHIStmFcFQZZP0BRe99V1MCoXWz2PGCm6EDmR9v2O", uuid=customer["uuid"])

    assert send_close(web, fixture_json("close_lead_updated.json")).status == 202
    assert send_close(web, fixture_json("close_contact_created.json")).status == 202

    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(
            customer,
            city="Boston",
            zip="02110",
            state="MA",
            status="Qualified Lead",
            tags=["existing", "segment:Enterprise"],
            primary_contact={
                "first_name": "Anna",
                "last_name": "Maria Smith",
                "title": "CFO",
                "email": "anna@acme.example",
                "phone": "+16175550100",
            },
        ),
    )


def test_missing_custom_attribute_is_created_with_the_declared_type(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    # `annual_revenue` does not exist in the account; the mapping declares it Decimal
    # and the change carries that type from mapping time, so delivery can create it first.
    customer = acme(simulator)
    link(redis_client, "hubspot:company:1246965", uuid=customer["uuid"])

    assert send_hubspot(web, [hubspot_event(3001, 1246965, "annualrevenue", "1,250,000.50")]).status == 202

    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(customer, custom={"channel": "Facebook", "annual_revenue": 1250000.5}),
    )
    created = [
        item
        for r in simulator.requests()
        if r["method"] == "POST" and r["path"].endswith("/attributes/custom")
        for item in (r["body"] or {}).get("custom", [])
    ]
    assert [(c["key"], c["type"]) for c in created] == [("annual_revenue", "Decimal")]
