"""Issue 20 end to end: what real HubSpot, Pipedrive and Salesforce accounts send, through a real
`relay serve` process, a real `relay worker` and the ChartMogul simulator, to the customer.

    workflow bodies      a HubSpot workflow's company and contact bodies reach the customer
    per-event outcomes   an odd or broken event never sinks its batch; the broken one is a dead letter
    dedupe               HubSpot's retry is a duplicate; a reused eventId with another change is not
    Pipedrive v1         translated and delivered like v2
    merges               links follow the surviving record; two customers are a conflict dead letter
    parents              contacts reach their company's customer; their own link wins
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis

from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from tests.cli import relay_cli
from tests.servers import ServeProcess, WorkerProcess, wait_for
from tests.sources.conftest import CRM_SECRETS
from tests.sources.senders import (
    account_notification,
    batch_answer,
    fixture_json,
    hubspot_event,
    hubspot_kind,
    hubspot_v2_headers,
    outbound_message,
    send_hubspot,
    send_pipedrive,
    send_salesforce,
)
from tests.sources.test_end_to_end import acme, expected_from, link, settled
from tests.webhooks import post

NOW_MS = int(time.time() * 1000)


@pytest.fixture
def served(relay_env: dict[str, str], tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess({**relay_env, **CRM_SECRETS}, tmp_path / "web.log")
    yield server
    server.stop()


@pytest.fixture
def relay(served: ServeProcess, start_worker: Callable[..., WorkerProcess]) -> str:
    """`relay serve` and `relay worker`, on the test's Redis and simulator: the base URL."""
    start_worker()
    return served.base_url


def dead_letters(client: redis.Redis) -> dict[str, dict[str, str]]:
    return {str(e): client.hgetall(keys.event(str(e))) for e in client.zrange(keys.DLQ, 0, -1)}  # type: ignore[misc]


def test_hubspot_workflow_bodies_reach_the_customer(
    relay: str, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    customer = acme(simulator)
    link(redis_client, "hubspot:company:1246965", uuid=customer["uuid"])
    url = f"{relay}/webhooks/hubspot"
    company, contact = (
        orjson.dumps(fixture_json(f"hubspot_workflow_{name}.json")) for name in ("company", "contact")
    )

    answers = [post(url, body, hubspot_v2_headers(url, body)) for body in (company, contact)]

    assert [a.status for a in answers] == [202, 202], [a.text for a in answers]
    # The contact has no link of its own: it reaches its company's customer (associatedcompanyid).
    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(
            customer,
            company="Acme Corp",
            city="Boston",
            state="MA",
            custom={"channel": "Facebook", "employees": 250},
            primary_contact={
                "first_name": "Anna",
                "last_name": "Smith",
                "email": "anna.smith@acme.example",
                "title": "CFO",
            },
        ),
    )


def test_a_batch_with_odd_and_broken_events_delivers_the_rest(
    relay: str, simulator: SimulatorHandle, redis_client: redis.Redis, relay_env: dict[str, str]
) -> None:
    customer = acme(simulator)
    link(redis_client, "hubspot:company:1246965", uuid=customer["uuid"])
    association = hubspot_kind(
        5002,
        "company.associationChange",
        associationType="COMPANY_TO_CONTACT",
        fromObjectId=1246965,
        toObjectId=51,
        associationRemoved=False,
        isPrimaryAssociation=True,
    )
    batch = [
        hubspot_event(5001, 1246965, "city", "Boston"),
        association,  # it has no objectId: it used to refuse the whole batch
        hubspot_event(5003, 51, "jobtitle", "CFO", subscriptionType="contact.propertyChange"),
        {**hubspot_event(5004, 1246965, "zip", "02110"), "occurredAt": "yesterday"},
    ]

    answer = send_hubspot(relay, batch)

    assert answer.body == batch_answer(accepted=2, ignored=1, dead_lettered=1)
    [(dead_id, dead)] = dead_letters(redis_client).items()
    assert dead["reason"] == "invalid_event" and "occurredAt" in dead["error"]
    listed = relay_cli(relay_env, "dlq", "list")
    assert dead_id in listed.stdout and "invalid_event" in listed.stdout
    redis_client.zrem(keys.DLQ, dead_id)  # settled() fails on any dead letter: this one is expected
    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(customer, city="Boston", primary_contact={"title": "CFO"}),
    )


def test_hubspot_retries_are_duplicates_and_reused_event_ids_are_not(
    relay: str, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    customer = acme(simulator)
    link(redis_client, "hubspot:company:1246965", uuid=customer["uuid"])
    city = hubspot_event(6001, 1246965, "city", "Boston", occurredAt=NOW_MS - 2000)
    reused = hubspot_event(6001, 1246965, "zip", "02110", occurredAt=NOW_MS - 1000)

    first = send_hubspot(relay, [city])
    retry = send_hubspot(relay, [{**city, "attemptNumber": 1}])
    other = send_hubspot(relay, [reused])

    assert [a.body["status"] for a in (first, retry, other)] == ["accepted", "duplicate", "accepted"]
    settled(simulator, redis_client, customer["uuid"], expected_from(customer, city="Boston", zip="02110"))


def test_pipedrive_v1_is_delivered_like_v2(
    relay: str, served: ServeProcess, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    customer = acme(simulator)
    link(redis_client, "pipedrive:organization:42", uuid=customer["uuid"])

    updated = send_pipedrive(relay, fixture_json("pipedrive_v1_organization_updated.json"))
    person = send_pipedrive(relay, fixture_json("pipedrive_v1_person_added.json"))

    assert (updated.status, person.status) == (202, 202)
    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(
            customer,
            city="Boston",
            zip="02110",
            state="MA",
            primary_contact={
                "first_name": "Anna",
                "last_name": "Smith",
                "email": "anna.smith@acme.example",
                "phone": "+1 617 555 0100",
                "title": "CFO",
            },
        ),
    )
    assert any(line.get("event") == "pipedrive_webhooks_v1" for line in served.log_lines())


def test_links_follow_merges(relay: str, simulator: SimulatorHandle, redis_client: redis.Redis) -> None:
    customer = acme(simulator)
    link(redis_client, "hubspot:company:2", "pipedrive:organization:42", uuid=customer["uuid"])
    merge = hubspot_kind(
        7001, "company.merge", objectId=1, primaryObjectId=1, mergedObjectIds=[2], numberOfPropertiesMoved=2
    )
    deleted = fixture_json("pipedrive_organization_delete.json")
    deleted["meta"]["merged_to_id"] = "7"  # organization 42 was merged into 7

    assert send_hubspot(relay, [merge]).status == 202
    assert send_pipedrive(relay, deleted).status == 202
    wait_for(lambda: redis_client.hget(keys.LINKS, "pipedrive:organization:7"))
    # The surviving records' own events now reach the customer the merged ones were linked to.
    assert send_hubspot(relay, [hubspot_event(7002, 1, "city", "Boston")]).status == 202
    changed = fixture_json("pipedrive_organization_change.json")
    changed["meta"].update(id="0fd6f4b9-7777-4c2e-93b1-5a3c0a8e7d11", entity_id="7")
    changed["data"]["id"] = 7
    assert send_pipedrive(relay, changed).status == 202

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
    assert redis_client.hget(keys.LINKS, "hubspot:company:1") == customer["uuid"]

    def statuses() -> set[object]:
        events = redis_client.zrange(keys.EVENTS, 0, -1)
        return {redis_client.hget(keys.event(str(e)), "status") for e in events}

    # The customer holds every value; the last event's record is written as its delivery ends.
    wait_for(lambda: statuses() == {"applied"})


def test_a_merge_of_records_linked_to_two_customers_is_a_visible_conflict(
    relay: str, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    one, other = acme(simulator), simulator.add_customer({"company": "Other Ltd"})
    link(redis_client, "hubspot:company:3", uuid=one["uuid"])
    link(redis_client, "hubspot:company:4", uuid=other["uuid"])
    merge = hubspot_kind(8001, "company.merge", objectId=3, primaryObjectId=3, mergedObjectIds=[4])

    answer = send_hubspot(relay, [merge])

    assert answer.body["status"] == "accepted"
    [dead] = wait_for(lambda: list(dead_letters(redis_client).values()))
    assert dead["reason"] == "link_conflict"
    assert one["uuid"] in dead["error"] and other["uuid"] in dead["error"]  # both named, no pick
    assert redis_client.hget(keys.LINKS, "hubspot:company:3") == one["uuid"]
    assert redis_client.hget(keys.LINKS, "hubspot:company:4") == other["uuid"]


def test_contacts_reach_their_company_s_customer_and_their_own_link_wins(
    relay: str, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    customer, elsewhere = acme(simulator), simulator.add_customer({"company": "Elsewhere Ltd"})
    link(
        redis_client,
        "salesforce:account:0015e00000AbCdEAAV",
        "pipedrive:organization:42",
        uuid=customer["uuid"],
    )
    link(redis_client, "pipedrive:person:1002", uuid=elsewhere["uuid"])  # an explicit contact link
    contact = (
        "<Notification><Id>04l5e000001AbJ1AAK</Id>"
        '<sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        "<sf:Id>0035e00000AbCdEAAV</sf:Id><sf:AccountId>0015e00000AbCdEAAV</sf:AccountId>"
        "<sf:FirstName>Anna</sf:FirstName><sf:LastName>Smith</sf:LastName></sObject></Notification>"
    )
    deleted_meanwhile = "<Notification><Id>04l5e000001AbJ2AAK</Id></Notification>"
    person = fixture_json("pipedrive_person_create.json")
    person["meta"]["id"], person["meta"]["entity_id"], person["data"]["id"] = "p-1002", 1002, 1002
    person["data"]["job_title"] = "COO"

    acked = send_salesforce(relay, outbound_message(contact + deleted_meanwhile))
    assert acked.status == 200 and "<Ack>true</Ack>" in acked.text
    assert send_pipedrive(relay, person).status == 202

    settled(
        simulator,
        redis_client,
        customer["uuid"],
        expected_from(customer, primary_contact={"first_name": "Anna", "last_name": "Smith"}),
    )
    wait_for(lambda: (simulator.primary_contact(elsewhere["uuid"]) or {}).get("title") == "COO")


def test_a_salesforce_account_notification_beside_a_data_less_one_is_applied(
    relay: str, simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    customer = acme(simulator)
    link(redis_client, "salesforce:account:0015e00000AbCdEAAV", uuid=customer["uuid"])
    account = account_notification("04l5e000001AbK1AAK", "0015e00000AbCdEAAV", BillingCity="Boston")

    answer = send_salesforce(
        relay, outbound_message("<Notification><Id>04l5e000001AbK2AAK</Id></Notification>" + account)
    )

    assert answer.status == 200 and "<Ack>true</Ack>" in answer.text
    settled(simulator, redis_client, customer["uuid"], expected_from(customer, city="Boston"))
