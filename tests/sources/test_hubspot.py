"""HubSpot: v3/v2/v1 signatures, batches all-or-nothing, dedupe on eventId, event kinds."""

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
from relay.store.records import EventRecord
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import (
    HUBSPOT_SECRET,
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


def test_batch_is_accepted_in_one_answer_with_counts(web: str, redis_client: redis.Redis) -> None:
    answer = send_hubspot(web, fixture_bytes("hubspot_batch.json"))

    assert answer.status == 202, answer.text
    assert answer.body == {"status": "accepted", "accepted": 5, "duplicates": 0}
    assert stored_event_ids(redis_client) == [f"hubspot:18047193{n}" for n in range(71, 76)]
    creation = redis_client.hgetall("relay:event:hubspot:1804719375")
    assert creation["status"] == "ignored"
    assert "company.creation" in creation["reason"]
    city = redis_client.hgetall("relay:event:hubspot:1804719371")
    assert city["customer"] == "crm:hubspot:company:1246965"
    assert (
        orjson.loads(EventRecord.from_hash(cast(dict[str, str], city), "hubspot:1804719371").raw)[
            "propertyName"
        ]
        == "city"
    )


def test_one_invalid_event_refuses_the_whole_batch(web: str, redis_client: redis.Redis) -> None:
    batch: list[dict[str, Any]] = fixture_json("hubspot_batch.json")
    del batch[2]["objectId"]

    answer = send_hubspot(web, batch)

    assert answer.status == 422
    assert "event [2]" in answer.body["error"]
    assert "objectId" in answer.body["error"]
    assert stored_event_ids(redis_client) == []  # nothing accepted, not even the valid events


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
    assert answer.body == {"status": "accepted", "accepted": 100, "duplicates": 0}


def test_same_event_id_twice_is_counted_as_duplicate(web: str) -> None:
    first = send_hubspot(web, [hubspot_event(7001, 42, "city", "Boston")])
    again = send_hubspot(
        web, [hubspot_event(7001, 42, "city", "Boston"), hubspot_event(7002, 42, "zip", "02110")]
    )

    assert first.status == 202
    assert first.body == {"status": "accepted", "event_id": "hubspot:7001"}
    assert again.status == 202
    assert again.body == {"status": "accepted", "accepted": 1, "duplicates": 1}


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
        pytest.param(b"{}", 422, "JSON array", id="object-not-array"),
        pytest.param(b"[]", 422, "no events", id="empty"),
        pytest.param(b'[{"eventId": 1}]', 422, "event [0]", id="incomplete"),
        pytest.param(
            b'[{"eventId": 1, "occurredAt": 1732100000000, "objectId": 5,'
            b' "subscriptionType": "company.propertyChange"}]',
            422,
            "propertyName",
            id="property-change-without-property",
        ),
    ],
)
def test_bad_bodies_get_clear_errors(web: str, body: bytes, status: int, message: str) -> None:
    answer = send_hubspot(web, body)

    assert answer.status == status
    assert message in answer.body["error"]
    assert "Traceback" not in answer.text


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

    by_id = {e.change.event_id: e for e in events}
    employees = by_id["hubspot:2904719001"]  # object.propertyChange, objectTypeId 0-2
    assert employees.change.customer.crm_record == "hubspot:company:1246965"
    assert employees.change.custom_set == {"employees": 250}
    assert employees.ignored_reason is None
    email = by_id["hubspot:2904719002"]  # legacy eventType
    assert email.change.customer.crm_record == "hubspot:contact:51"
    assert email.change.fields == {"primary_contact": {"email": "anna.smith@acme.example"}}
    assert email.change.occurred_at_ms == 1732100011000
    assert "merge" in (by_id["hubspot:2904719003"].ignored_reason or "")
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

    with pytest.raises(InvalidEvent, match=r"event \[1\]"):
        source().parse(incoming(orjson.dumps(batch), {}))
