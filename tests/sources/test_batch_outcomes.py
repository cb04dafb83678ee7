"""Per-event outcomes inside a batch (issue 20): every event of a 2xx answer is accepted, ignored
with a reason, or a dead letter with a reason, counted here against what Redis holds; the
answer's counts are those counts; dead letters are what `relay dlq list` and `relay events`
show, payload and all. Only a bad signature, an unparseable body or a broken limit refuses."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson
import redis

from relay.store import keys
from tests.cli import relay_cli
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import (
    account_notification,
    batch_answer,
    hubspot_event,
    hubspot_kind,
    outbound_message,
    send_hubspot,
    send_salesforce,
)

NOW_MS = int(time.time() * 1000)


def kind(event_id: int, subscription: str, **fields: Any) -> dict[str, Any]:
    return hubspot_kind(event_id, subscription, **{"objectId": 1246965, **fields})


def mixed_batch() -> list[Any]:
    city = hubspot_event(3001, 1246965, "city", "Boston", occurredAt=NOW_MS - 5000)
    return [
        city,
        hubspot_event(3002, 51, "firstname", "Anna", subscriptionType="contact.propertyChange"),
        kind(
            3003,
            "company.associationChange",
            associationType="COMPANY_TO_CONTACT",
            fromObjectId=1246965,
            toObjectId=51,
            associationRemoved=False,
            isPrimaryAssociation=True,
        ),
        kind(
            3004,
            "contact.associationChange",
            associationType="CONTACT_TO_DEAL",
            fromObjectId=51,
            toObjectId=9001,
            associationRemoved=False,
            isPrimaryAssociation=False,
        ),
        kind(
            3005,
            "company.merge",
            primaryObjectId=1246965,
            mergedObjectIds=[1246966],
            numberOfPropertiesMoved=3,
        ),
        kind(3006, "company.deletion"),
        kind(3007, "contact.creation", objectId=52),
        kind(3008, "company.restore"),
        kind(3009, "contact.privacyDeletion", objectId=53),
        hubspot_event(3010, 9001, "amount", "5000", subscriptionType="deal.propertyChange"),
        kind(3011, "ticket.somethingNew"),
        {**city, "attemptNumber": 1},  # HubSpot's retry of the first event: the same delivery
        {
            "eventId": 3012,
            "subscriptionType": "company.propertyChange",
            "objectId": 1,
            "propertyName": "city",
        },
        kind(3013, "company.propertyChange"),  # no propertyName
        "not an event",
    ]


def statuses(client: redis.Redis) -> Counter[str]:
    return Counter(str(client.hget(keys.event(e), "status")) for e in stored_event_ids(client))


def test_every_event_of_a_mixed_batch_is_recorded_one_way_or_another(
    web: str, redis_client: redis.Redis, relay_env: dict[str, str]
) -> None:
    batch = mixed_batch()

    answer = send_hubspot(web, orjson.dumps(batch))

    assert answer.status == 202, answer.text
    counts = {"accepted": 3, "duplicates": 1, "ignored": 8, "dead_lettered": 3}
    assert answer.body == {"status": "accepted", **counts}
    assert sum(counts.values()) == len(batch)
    # What Redis holds: the merge and both property changes queued, every other one recorded.
    assert statuses(redis_client) == Counter(queued=3, ignored=8, dead=3)
    records = [redis_client.hgetall(keys.event(e)) for e in stored_event_ids(redis_client)]
    assert all(r["reason"] for r in records if r["status"] in ("ignored", "dead"))
    assert redis_client.zcard(keys.DLQ) == 3
    # The primary association set the contact's company.
    assert redis_client.hget(keys.LINKS, keys.parent_link("hubspot:contact:51")) == "hubspot:company:1246965"

    listed = relay_cli(relay_env, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    dead = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(d["reason"] for d in dead) == ["invalid_event"] * 3
    errors = sorted(d["error"] for d in dead)
    assert errors[0].startswith("event [12] of its batch: occurredAt: Field required")
    assert "a propertyChange event needs propertyName" in errors[1]
    assert "an event must be a JSON object" in errors[2]

    shown = relay_cli(relay_env, "events", "show", "--json", dead[0]["event_id"])
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout)["event"]["raw"] in batch[12:]  # the payload, as sent
    logged = relay_cli(relay_env, "events", "list", "--status", "dead", "--source", "hubspot", "--json")
    assert len(logged.stdout.splitlines()) == 3
    # Replay re-maps the payload: while the relay cannot read it, it is skipped, saying why.
    replay = relay_cli(relay_env, "dlq", "replay", "--reason", "invalid_event", "--dry-run")
    assert replay.returncode == 1 and "0 would be replayed" in replay.stdout  # (1: some were skipped)
    assert replay.stderr.count("skipped\n  the current mapping refuses it: ") == 3


def test_the_same_batch_again_is_all_duplicates(web: str, redis_client: redis.Redis) -> None:
    body = orjson.dumps(mixed_batch())

    send_hubspot(web, body)
    again = send_hubspot(web, body)

    assert again.body == batch_answer(duplicates=15)
    assert redis_client.zcard(keys.DLQ) == 3  # not dead-lettered twice


def test_a_salesforce_message_is_acknowledged_once_every_notification_is_recorded(
    web: str, redis_client: redis.Redis
) -> None:
    good = account_notification("04l5e000001AbG1AAK", "0015e00000AbCdEAAV", BillingCity="Boston")
    deleted_meanwhile = "<Notification><Id>04l5e000001AbG2AAK</Id></Notification>"
    unreadable = account_notification("04l5e000001AbG3AAK", "not an id!", BillingCity="Denver")
    other_object = (
        "<Notification><Id>04l5e000001AbG4AAK</Id>"
        '<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        "<sf:Id>0065e00000AbCdEAAV</sf:Id><sf:Amount>5000</sf:Amount></sObject></Notification>"
    )

    answer = send_salesforce(web, outbound_message(good + deleted_meanwhile + unreadable + other_object))

    assert answer.status == 200 and "<Ack>true</Ack>" in answer.text
    assert statuses(redis_client) == Counter(queued=1, ignored=2, dead=1)
    [dead] = [str(e) for e in redis_client.zrange(keys.DLQ, 0, -1)]
    assert "Notification [2]" in str(redis_client.hget(keys.event(dead), "error"))
