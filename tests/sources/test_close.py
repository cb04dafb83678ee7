"""Close: close-sig-hash over timestamp + body, fresh timestamps only, leads and contacts."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
import redis
from pydantic import SecretStr

from relay.events import IncomingWebhook
from relay.exceptions import InvalidEvent
from relay.mapping.config import load_mapping
from relay.sources.close import CloseKeyError, CloseSource
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import CLOSE_KEY, close_headers, fixture_json, send_close
from tests.webhooks import post

LEAD = "lead_IIDHIStmFcFQZZP0BRe99V1MCoXWz2PGCm6EDmR9v2O"


def source() -> CloseSource:
    return CloseSource(load_mapping("close"), SecretStr(CLOSE_KEY))


def parse(doc: dict[str, Any]) -> Any:
    [event] = source().parse(
        IncomingWebhook("POST", "https://relay.example/webhooks/close", {}, orjson.dumps(doc))
    )
    return event


# --- over HTTP ------------------------------------------------------------------------------


def test_signed_event_is_accepted_once(web: str, redis_client: redis.Redis) -> None:
    doc = fixture_json("close_lead_updated.json")

    first, again = send_close(web, doc), send_close(web, doc)

    assert first.status == 202, first.text
    assert first.body == {"status": "accepted", "event_id": "close:ev_2pJ9u8wNiGgS6Lq0Y8pQ3d"}
    assert again.status == 200
    assert again.body["status"] == "duplicate"
    assert (
        redis_client.hget("relay:event:close:ev_2pJ9u8wNiGgS6Lq0Y8pQ3d", "customer")
        == f"crm:close:lead:{LEAD}"
    )


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        pytest.param({"key": "00" * 32}, "invalid Close signature", id="wrong-key"),
        pytest.param({"timestamp": int(time.time()) - 301}, "too old", id="replayed-old"),
        pytest.param({"timestamp": int(time.time()) + 3600}, "future", id="future"),
    ],
)
def test_bad_signatures_are_refused(
    web: str, redis_client: redis.Redis, tamper: dict[str, Any], message: str
) -> None:
    answer = send_close(web, fixture_json("close_lead_updated.json"), **tamper)

    assert answer.status == 401
    assert message in answer.body["error"]
    assert CLOSE_KEY not in answer.text
    assert stored_event_ids(redis_client) == []


def test_replayed_request_with_its_original_headers_is_refused(web: str) -> None:
    body = orjson.dumps(fixture_json("close_lead_updated.json"))
    captured = close_headers(body, timestamp=int(time.time()) - 600)  # a request captured 10 minutes ago

    assert post(f"{web}/webhooks/close", body, captured).status == 401


def test_missing_headers_and_tampered_bodies_are_refused(web: str) -> None:
    body = orjson.dumps(fixture_json("close_lead_updated.json"))
    headers = close_headers(body)

    assert post(f"{web}/webhooks/close", body, {}).status == 401
    assert post(f"{web}/webhooks/close", body.replace(b"Boston", b"Denver"), headers).status == 401


def test_key_must_be_hex() -> None:
    with pytest.raises(CloseKeyError, match="RELAY_CLOSE_SIGNATURE_KEY"):
        CloseSource(load_mapping("close"), SecretStr("not hex"))


# --- parse and map --------------------------------------------------------------------------


def test_update_maps_only_changed_fields() -> None:
    event = parse(fixture_json("close_lead_updated.json"))

    change = event.change
    assert change.event_id == "close:ev_2pJ9u8wNiGgS6Lq0Y8pQ3d"
    assert change.customer.crm_record == f"close:lead:{LEAD}"
    assert change.occurred_at_ms == 1741176062345
    # name, url and custom.cf_seats are in data but not in changed_fields
    assert change.fields == {
        "city": "Boston",
        "zip": "02110",
        "state": "US-MA",
        "country": "US",
        "status": "Qualified Lead",
    }
    assert change.tags_add == ["segment:Enterprise"]
    assert change.tags_remove == ["segment:SMB"]
    assert change.custom_set == {}


def test_created_contact_maps_to_its_lead_primary_contact() -> None:
    event = parse(fixture_json("close_contact_created.json"))

    assert event.change.customer.crm_record == f"close:lead:{LEAD}"
    assert event.change.fields == {
        "primary_contact": {
            "first_name": "Anna",
            "last_name": "Maria Smith",
            "title": "CFO",
            "email": "anna@acme.example",
            "phone": "+16175550100",
        }
    }


def test_created_lead_maps_every_field() -> None:
    doc = fixture_json("close_lead_updated.json")
    doc["event"].update(action="created", changed_fields=[], previous_data={})

    event = parse(doc)

    assert event.change.fields["company"] == "Acme Corp"
    assert event.change.fields["website_url"] == "https://acme.example"
    assert event.change.fields["lead_created_at"] == "2025-01-10T08:00:00Z"
    assert event.change.custom_set == {"seats": 25}
    assert event.change.tags_add == ["segment:Enterprise"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"action": "deleted", "data": None}, "lead.deleted"),
        ({"object_type": "opportunity", "object_id": "oppo_1"}, "opportunity events are not mapped"),
        ({"changed_fields": ["date_updated"]}, "nothing to change"),
        ({"changed_fields": ["description"]}, "not mapped (lead): description"),
    ],
)
def test_other_events_are_recorded_not_delivered(changes: dict[str, Any], reason: str) -> None:
    doc = fixture_json("close_lead_updated.json")
    doc["event"].update(changes)

    event = parse(doc)

    assert reason in (event.ignored_reason or "")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": None}, "event.id"),
        ({"date_created": "whenever"}, "date_created"),
        ({"lead_id": None, "object_type": "contact"}, "lead_id"),
        ({"changed_fields": "name"}, "changed_fields"),
        ({"data": None}, "event.data"),
    ],
)
def test_bad_events_are_dead_letters_holding_the_body(changes: dict[str, Any], message: str) -> None:
    doc = fixture_json("close_lead_updated.json")
    doc["event"].update(changes)

    event = parse(doc)

    assert event.invalid is not None and message in event.invalid
    assert event.change.event_id.startswith("close:invalid-") and orjson.loads(event.raw) == doc
    with pytest.raises(InvalidEvent, match=message):  # and a replay re-maps it the same way
        source().remap(event.raw)


def test_remap_of_raw_gives_the_same_change() -> None:
    event = parse(fixture_json("close_lead_updated.json"))

    assert source().remap(event.raw).change == event.change
