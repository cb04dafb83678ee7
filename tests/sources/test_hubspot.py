"""HubSpot: v3/v2/v1 signatures, per-event outcomes in a batch, dedupe on eventId + content,
event kinds. (Workflow bodies: test_hubspot_workflow.py; batches' outcomes counted against
Redis: test_batch_outcomes.py.)"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
import pytest
import redis
from pydantic import SecretStr

from relay.events import IncomingWebhook
from relay.exceptions import InvalidEvent, InvalidSignature
from relay.mapping.config import load_mapping
from relay.sources.hubspot import HubSpotSource
from relay.store import keys
from relay.store.records import EventRecord
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import (
    HUBSPOT_SECRET,
    batch_answer,
    fixture_bytes,
    fixture_json,
    hubspot_event,
    hubspot_v1_headers,
    hubspot_v2_headers,
    hubspot_v3_headers,
    send_hubspot,
)
from tests.webhooks import post


def source() -> HubSpotSource:
    return HubSpotSource(load_mapping("hubspot"), SecretStr(HUBSPOT_SECRET))


def incoming(
    body: bytes, headers: dict[str, str], url: str = "https://relay.example/webhooks/hubspot"
) -> IncomingWebhook:
    return IncomingWebhook(
        method="POST", url=url, headers={k.lower(): v for k, v in headers.items()}, body=body
    )


# --- over HTTP ------------------------------------------------------------------------------


def by_event_id(redis_client: redis.Redis) -> dict[str, str]:
    """Stored event ids by HubSpot's eventId: `hubspot:1804719371` → `hubspot:1804719371.<digest>`."""
    return {event_id.partition(".")[0]: event_id for event_id in stored_event_ids(redis_client)}


def test_batch_is_accepted_in_one_answer_with_counts(web: str, redis_client: redis.Redis) -> None:
    answer = send_hubspot(web, fixture_bytes("hubspot_batch.json"))

    assert answer.status == 202, answer.text
    assert answer.body == batch_answer(accepted=4, ignored=1)
    stored = by_event_id(redis_client)
    assert sorted(stored) == [f"hubspot:18047193{n}" for n in range(71, 76)]
    creation = redis_client.hgetall(keys.event(stored["hubspot:1804719375"]))
    assert creation["status"] == "ignored"
    assert "company.creation" in creation["reason"]
    city = redis_client.hgetall(keys.event(stored["hubspot:1804719371"]))
    assert city["customer"] == "crm:hubspot:company:1246965"
    raw = EventRecord.from_hash(cast(dict[str, str], city), stored["hubspot:1804719371"]).raw
    assert orjson.loads(raw)["propertyName"] == "city"


def test_one_invalid_event_is_a_dead_letter_and_its_neighbours_are_accepted(
    web: str, redis_client: redis.Redis
) -> None:
    batch: list[dict[str, Any]] = fixture_json("hubspot_batch.json")
    del batch[2]["objectId"]

    answer = send_hubspot(web, batch)

    assert answer.status == 202, answer.text
    assert answer.body == batch_answer(accepted=3, ignored=1, dead_lettered=1)
    [dead] = [str(e) for e in redis_client.zrange(keys.DLQ, 0, -1)]
    record = EventRecord.from_hash(cast(dict[str, str], redis_client.hgetall(keys.event(dead))), dead)
    assert (record.status, record.details["reason"]) == ("dead", "invalid_event")
    assert "event [2]" in record.details["error"] and "objectId" in record.details["error"]
    assert orjson.loads(record.raw)["eventId"] == 1804719373  # the payload, kept for an operator
    assert len(stored_event_ids(redis_client)) == 5


def test_more_than_100_events_are_refused(web: str, redis_client: redis.Redis) -> None:
    batch = [hubspot_event(5000 + n, 1, "city", "Boston") for n in range(101)]

    answer = send_hubspot(web, batch)

    assert answer.status == 422
    assert "at most 100" in answer.body["error"]
    assert stored_event_ids(redis_client) == []


def test_100_events_are_accepted(web: str) -> None:
    batch = [hubspot_event(6000 + n, 1 + n % 7, "city", f"City {n}") for n in range(100)]

    answer = send_hubspot(web, batch)

    assert answer.status == 202
    assert answer.body == batch_answer(accepted=100)


def test_a_retry_of_the_same_event_is_a_duplicate(web: str) -> None:
    at_ms = int(time.time() * 1000)
    first = send_hubspot(web, [hubspot_event(7001, 42, "city", "Boston", occurredAt=at_ms)])
    retry = hubspot_event(7001, 42, "city", "Boston", occurredAt=at_ms, attemptNumber=3)
    again = send_hubspot(web, [retry, hubspot_event(7002, 42, "zip", "02110")])

    assert first.status == 202
    assert first.body["status"] == "accepted" and first.body["event_id"].startswith("hubspot:7001.")
    assert again.status == 202
    assert again.body == batch_answer(accepted=1, duplicates=1)


def test_a_different_change_reusing_an_event_id_is_not_a_duplicate(
    web: str, redis_client: redis.Redis
) -> None:
    # HubSpot: eventId "is not guaranteed to be unique".
    first = send_hubspot(web, [hubspot_event(7101, 42, "city", "Boston")])
    other = send_hubspot(web, [hubspot_event(7101, 43, "zip", "02110")])

    assert (first.body["status"], other.body["status"]) == ("accepted", "accepted")
    assert first.body["event_id"] != other.body["event_id"]
    customers = {redis_client.hget(keys.event(e), "customer") for e in stored_event_ids(redis_client)}
    assert customers == {"crm:hubspot:company:42", "crm:hubspot:company:43"}


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        pytest.param({"secret": "not-the-secret"}, "invalid HubSpot signature", id="wrong-secret"),
        pytest.param({"timestamp_ms": int(time.time() * 1000) - 6 * 60 * 1000}, "too old", id="replayed-old"),
        pytest.param({"timestamp_ms": int(time.time() * 1000) + 60 * 60 * 1000}, "future", id="future"),
    ],
)
def test_bad_v3_signatures_are_refused(
    web: str, redis_client: redis.Redis, tamper: dict[str, Any], message: str
) -> None:
    answer = send_hubspot(web, [hubspot_event(8001, 42, "city", "Boston")], **tamper)

    assert answer.status == 401
    assert message in answer.body["error"]
    assert stored_event_ids(redis_client) == []


def test_old_timestamp_is_refused_even_when_correctly_signed(web: str) -> None:
    body = orjson.dumps([hubspot_event(8101, 42, "city", "Boston")])
    url = f"{web}/webhooks/hubspot"
    headers = hubspot_v3_headers(url, body, timestamp_ms=int(time.time() * 1000) - 301 * 1000)

    assert post(url, body, headers).status == 401


def test_tampered_body_is_refused(web: str) -> None:
    body = orjson.dumps([hubspot_event(8201, 42, "city", "Boston")])
    url = f"{web}/webhooks/hubspot"
    headers = hubspot_v3_headers(url, body)

    answer = post(url, body.replace(b"Boston", b"Denver"), headers)

    assert answer.status == 401
    assert HUBSPOT_SECRET not in answer.text


def test_missing_signature_is_refused(web: str) -> None:
    answer = post(f"{web}/webhooks/hubspot", orjson.dumps([hubspot_event(8301, 1, "city", "A")]))

    assert answer.status == 401
    assert "X-HubSpot-Signature" in answer.body["error"]


def test_v1_and_v2_signatures_are_accepted(web: str) -> None:
    url = f"{web}/webhooks/hubspot"
    v1_body = orjson.dumps([hubspot_event(8401, 42, "city", "Boston")])
    v2_body = orjson.dumps([hubspot_event(8402, 42, "city", "Boston")])

    assert post(url, v1_body, hubspot_v1_headers(v1_body)).status == 202
    assert post(url, v2_body, hubspot_v2_headers(url, v2_body)).status == 202
    assert post(url, v1_body, hubspot_v1_headers(v1_body, secret="wrong")).status == 401


def test_v3_signs_the_public_url_behind_a_proxy(start_web: Any) -> None:
    public = "https://relay.example.com"
    web = start_web(RELAY_PUBLIC_BASE_URL=public)
    body = orjson.dumps([hubspot_event(8501, 42, "city", "Boston")])

    signed_for_public = post(
        f"{web}/webhooks/hubspot", body, hubspot_v3_headers(f"{public}/webhooks/hubspot", body)
    )
    signed_for_local = post(
        f"{web}/webhooks/hubspot", body, hubspot_v3_headers(f"{web}/webhooks/hubspot", body)
    )

    assert signed_for_public.status == 202
    assert signed_for_local.status == 401


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        pytest.param(b"[{", 400, "not valid JSON", id="malformed"),
        pytest.param(b"[]", 422, "no events", id="empty"),
    ],
)
def test_bodies_that_hold_no_event_get_clear_errors(web: str, body: bytes, status: int, message: str) -> None:
    answer = send_hubspot(web, body)

    assert answer.status == status
    assert message in answer.body["error"]
    assert "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"{}", "nor a workflow body", id="object-neither-batch-nor-workflow"),
        pytest.param(b'"company"', "nor a workflow body", id="a-string"),
        pytest.param(
            b'[{"eventId": 1}]', "event [0] of its batch: occurredAt: Field required", id="incomplete"
        ),
        pytest.param(
            b'[{"eventId": 1, "occurredAt": 1732100000000, "objectId": 5,'
            b' "subscriptionType": "company.propertyChange"}]',
            "propertyName",
            id="property-change-without-property",
        ),
        pytest.param(b'{"objectTypeId": "0-2", "properties": {}}', "objectId", id="workflow-body-without-id"),
    ],
)
def test_signed_bodies_the_relay_cannot_read_are_dead_letters(
    web: str, redis_client: redis.Redis, body: bytes, message: str
) -> None:
    # A workflow never retries a 4xx: refusing a signed body would lose it.
    answer = send_hubspot(web, body)

    assert answer.status == 202, answer.text
    assert answer.body["status"] == "dead_lettered"
    dead = answer.body["event_id"]
    record = EventRecord.from_hash(cast(dict[str, str], redis_client.hgetall(keys.event(dead))), dead)
    assert record.details["reason"] == "invalid_event" and message in record.details["error"]
    assert redis_client.zscore(keys.DLQ, dead) is not None


# --- parse and map (no HTTP) ----------------------------------------------------------------


def test_v3_hashes_the_url_decoded_uri() -> None:
    body = b"[]"
    encoded = "https://relay.example/webhooks/hubspot?portal=a%3Ab%40c"
    decoded = "https://relay.example/webhooks/hubspot?portal=a:b@c"

    source().verify(incoming(body, hubspot_v3_headers(decoded, body), url=encoded))
    with pytest.raises(InvalidSignature):
        source().verify(incoming(body, hubspot_v3_headers(encoded + "x", body), url=encoded))


def test_unsupported_signature_version_is_refused() -> None:
    headers = {**hubspot_v1_headers(b"[]"), "X-HubSpot-Signature-Version": "v9"}

    with pytest.raises(InvalidSignature, match="unsupported"):
        source().verify(incoming(b"[]", headers))


def test_events_of_every_kind_map_or_are_ignored() -> None:
    body = fixture_bytes("hubspot_generic_and_legacy.json")

    events = source().parse(incoming(body, {}))

    by_id = {e.change.event_id.partition(".")[0]: e for e in events}
    employees = by_id["hubspot:2904719001"]  # object.propertyChange, objectTypeId 0-2
    assert employees.change.customer.crm_record == "hubspot:company:1246965"
    assert employees.change.custom_set == {"employees": 250}
    assert employees.ignored_reason is None
    email = by_id["hubspot:2904719002"]  # legacy eventType
    assert email.change.customer.crm_record == "hubspot:contact:51"
    assert email.change.fields == {"primary_contact": {"email": "anna.smith@acme.example"}}
    assert email.change.occurred_at_ms == 1732100011000
    merge = by_id["hubspot:2904719003"]  # contact 52 merged into 51: queued, so its link follows
    assert merge.ignored_reason is None
    assert (merge.change.customer.crm_record, merge.change.merged_records) == (
        "hubspot:contact:51",
        ["hubspot:contact:52"],
    )
    assert "deal.propertyChange" in (by_id["hubspot:2904719004"].ignored_reason or "")
    assert by_id["hubspot:2904719004"].change.customer.crm_record == "hubspot:deal:9001"


def test_raw_is_the_event_itself_and_remaps_to_the_same_change() -> None:
    hubspot = source()
    [event] = hubspot.parse(incoming(orjson.dumps([hubspot_event(9001, 42, "country", "Deutschland")]), {}))

    again = hubspot.remap(event.raw)

    assert orjson.loads(event.raw)["eventId"] == 9001
    assert again.change == event.change
    assert again.change.fields == {"country": "DE"}


def test_link_property_with_a_uuid_links_the_record() -> None:
    uuid = "cus_ab223d54-75b4-431b-adb2-eb6b9e234571"
    body = orjson.dumps([hubspot_event(9101, 42, "chartmogul_customer_uuid", uuid)])

    [event] = source().parse(incoming(body, {}))

    assert event.links == {"hubspot:company:42": uuid}
    assert event.ignored_reason is not None and "links hubspot:company:42" in event.ignored_reason


def test_link_property_without_a_uuid_is_noted_not_linked() -> None:
    body = orjson.dumps([hubspot_event(9102, 42, "chartmogul_customer_uuid", "12345")])

    [event] = source().parse(incoming(body, {}))

    assert event.links == {}
    assert "not a ChartMogul customer uuid" in (event.ignored_reason or "")


@pytest.mark.parametrize(
    ("name", "value", "fields", "reason"),
    [
        ("hubspot_owner_id", "31405216", {}, "owner id 31405216 has no ChartMogul user"),
        ("hs_analytics_source", "ORGANIC_SEARCH", {}, "not mapped (company): hs_analytics_source"),
        ("country", "Atlantis", {}, "'Atlantis' is not a country"),
        ("state", "California", {"state": "US-CA"}, None),
        ("createdate", "1732100000000", {"lead_created_at": "2024-11-20T10:53:20Z"}, None),
        ("domain", "acme.example", {"website_url": "https://acme.example"}, None),
        ("city", "", {}, "nothing to change"),
    ],
)
def test_property_changes_map_or_say_why_not(
    name: str, value: str, fields: dict[str, Any], reason: str | None
) -> None:
    [event] = source().parse(incoming(orjson.dumps([hubspot_event(9200, 42, name, value)]), {}))

    assert event.change.fields == fields
    if reason is None:
        assert event.ignored_reason is None
    else:
        assert reason in (event.ignored_reason or "")


def test_a_bad_event_names_its_index() -> None:
    batch = [hubspot_event(9301, 1, "city", "A"), {"eventId": 9302, "occurredAt": "yesterday"}]

    good, bad = source().parse(incoming(orjson.dumps(batch), {}))

    assert good.invalid is None and good.change.fields == {"city": "A"}
    assert bad.invalid is not None and bad.invalid.startswith("event [1] of its batch: occurredAt")
    assert orjson.loads(bad.raw) == {"eventId": 9302, "occurredAt": "yesterday"}


def test_a_limit_still_refuses_the_whole_batch() -> None:
    with pytest.raises(InvalidEvent, match="at most 100"):
        source().parse(incoming(orjson.dumps([hubspot_event(n, 1, "city", "A") for n in range(101)]), {}))
