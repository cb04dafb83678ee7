"""HubSpot workflows' "Send a webhook" bodies: the whole company or contact record, one JSON object,
signed v2 or v3 like the Webhooks API. Bodies in the legacy object shape, values made up."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
import redis
from pydantic import SecretStr

from relay.events import IncomingWebhook, ParsedEvent
from relay.mapping.config import load_mapping
from relay.sources.hubspot import HubSpotSource
from relay.store import keys
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import HUBSPOT_SECRET, batch_answer, fixture_json, hubspot_v2_headers, send_hubspot
from tests.webhooks import post


def parse(doc: Any) -> list[ParsedEvent]:
    source = HubSpotSource(load_mapping("hubspot"), SecretStr(HUBSPOT_SECRET))
    return source.parse(
        IncomingWebhook("POST", "https://relay.example/webhooks/hubspot", {}, orjson.dumps(doc))
    )


def company() -> dict[str, Any]:
    return copy.deepcopy(fixture_json("hubspot_workflow_company.json"))


def contact() -> dict[str, Any]:
    return copy.deepcopy(fixture_json("hubspot_workflow_contact.json"))


# --- what a body becomes --------------------------------------------------------------------


def test_a_company_body_is_one_event_per_change_time_each_at_its_own_time() -> None:
    events = parse(company())

    assert [(e.change.occurred_at_ms, e.change.fields, e.change.custom_set) for e in events] == [
        (1732100000000, {"company": "Acme Corp"}, {}),
        (1732200000000, {"city": "Boston", "state": "US-MA"}, {}),
        (1732300000000, {}, {"employees": 250}),
    ]
    assert {e.change.customer.crm_record for e in events} == {"hubspot:company:1246965"}
    # Only what the mapping reads: hs_object_id, hs_lastmodifieddate, … are not events or notes.
    assert all(e.ignored_reason is None and not e.change.notes for e in events)


def test_a_contact_body_takes_each_property_s_newest_version_time_and_its_company() -> None:
    events = parse(contact())

    by_time = {e.change.occurred_at_ms: e for e in events}
    assert by_time[1732100000000].change.fields == {
        "primary_contact": {"first_name": "Anna", "last_name": "Smith"}
    }
    assert by_time[1732400000000].change.fields == {
        "primary_contact": {"title": "CFO"}
    }  # not the 2024 version
    parent = by_time[1704103200500]
    assert parent.parents == {"hubspot:contact:51": "hubspot:company:1246965"}
    assert (
        parent.ignored_reason
        == "sets the parent of hubspot:contact:51 to hubspot:company:1246965; nothing else to change"
    )
    assert {e.change.customer.crm_record for e in events} == {"hubspot:contact:51"}
    assert not any(e.change.merged_records for e in events)  # merged-vids names only itself


def test_the_same_body_again_is_the_same_events_and_a_changed_one_only_adds() -> None:
    first = {e.change.event_id for e in parse(company())}
    changed = company()
    changed["properties"]["city"] = {"value": "Denver", "timestamp": 1732500000000}

    again = {e.change.event_id for e in parse(company())}
    later = {e.change.event_id for e in parse(changed)}

    assert first == again  # a workflow's retry, or a re-enrolment that changed nothing: duplicates
    assert len(later - first) == 2  # Denver at its own time, and state alone at the old one
    assert all(event_id.startswith("hubspot:wf-company-1246965-") for event_id in later)


def test_a_stored_group_re_maps_to_the_same_change() -> None:
    source = HubSpotSource(load_mapping("hubspot"), SecretStr(HUBSPOT_SECRET))
    for event in parse(contact()):
        again = source.remap(event.raw)
        assert (again.change.fields, again.change.occurred_at_ms) == (
            event.change.fields,
            event.change.occurred_at_ms,
        )


def test_merged_vids_are_a_merge_into_the_contact() -> None:
    doc = contact()
    doc["merged-vids"] = [51, 77, 78]

    [merge] = [e for e in parse(doc) if e.change.merged_records]

    assert merge.ignored_reason is None and merge.change.customer.crm_record == "hubspot:contact:51"
    assert merge.change.merged_records == ["hubspot:contact:77", "hubspot:contact:78"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"isDeleted": True}, "is deleted", id="deleted"),
        pytest.param(
            {"objectType": "DEAL", "objectTypeId": "0-3"}, "deal workflow bodies are not mapped", id="deal"
        ),
        pytest.param(
            {"properties": {"hs_num_open_deals": {"value": "3", "timestamp": 1}}}, "maps none", id="unmapped"
        ),
    ],
)
def test_bodies_with_nothing_to_deliver_are_recorded_with_why(change: dict[str, Any], reason: str) -> None:
    [event] = parse({**company(), **change})

    assert event.ignored_reason is not None and reason in event.ignored_reason


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param({"objectId": "12:34"}, "objectId", id="bad-id"),
        pytest.param({"properties": {"city": "Boston"}}, "properties.city", id="bare-value"),
        pytest.param(
            {"properties": {"city": {"value": "Boston"}}}, "properties.city.timestamp", id="no-time"
        ),
        pytest.param(
            {"properties": {"city": {"value": "Boston", "timestamp": 99_999_999_999_999}}},
            "ahead",
            id="future-time",
        ),
    ],
)
def test_a_body_the_relay_cannot_read_is_one_dead_letter_holding_it(
    change: dict[str, Any], problem: str
) -> None:
    doc = {**company(), **change}

    [event] = parse(doc)

    assert event.invalid is not None and problem in event.invalid
    assert orjson.loads(event.raw) == doc


# --- over HTTP ------------------------------------------------------------------------------


def test_workflow_bodies_signed_v2_and_v3_are_accepted_and_retries_are_duplicates(
    web: str, redis_client: redis.Redis
) -> None:
    url = f"{web}/webhooks/hubspot"
    body = orjson.dumps(contact())

    v2 = post(url, body, hubspot_v2_headers(url, body))
    v3 = send_hubspot(web, orjson.dumps(company()))
    retried = post(url, body, hubspot_v2_headers(url, body))

    assert v2.status == 202, v2.text
    assert v2.body == batch_answer(accepted=3, ignored=1)
    assert v3.body == batch_answer(accepted=3)
    assert retried.body == batch_answer(duplicates=4)
    assert len(stored_event_ids(redis_client)) == 7
    # The parent was written with the events.
    assert redis_client.hget(keys.LINKS, keys.parent_link("hubspot:contact:51")) == "hubspot:company:1246965"


def test_a_wrongly_signed_workflow_body_is_refused(web: str, redis_client: redis.Redis) -> None:
    url = f"{web}/webhooks/hubspot"
    body = orjson.dumps(company())

    answer = post(url, body, hubspot_v2_headers(url, body, secret="not-the-app-secret"))

    assert answer.status == 401
    assert stored_event_ids(redis_client) == []
