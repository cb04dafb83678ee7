"""Event times outside the sane window are never queued (issue 11 §2): before 2000-01-01, or more
than RELAY_MAX_CLOCK_SKEW_S (5 minutes) ahead of the relay's clock. The generic source refuses
it (422 naming the field: its sender reads the answer); a CRM's event becomes a dead letter
`invalid_event` naming the field (a CRM does not send it again after a 4xx: issue 20). A year-9999
event would otherwise win over every real change of its field for the week it is kept, and a
10**17 ms one broke every listing."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis

from relay.store import keys
from tests.conftest import GENERIC_SECRET
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import (
    account_notification,
    fixture_json,
    hubspot_event,
    outbound_message,
    send_close,
    send_hubspot,
    send_pipedrive,
    send_salesforce,
)
from tests.webhooks import Answer, iso, send_generic

Sender = Callable[[str, Any], Answer]


def ahead(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def generic(base_url: str, when: str) -> Answer:
    event = {"id": "evt_t", "occurred_at": when, "customer": {"uuid": "cus_0001"}, "set": {"city": "X"}}
    return send_generic(base_url, GENERIC_SECRET, event)


def hubspot(base_url: str, when: int) -> Answer:
    return send_hubspot(base_url, [hubspot_event(1, 2, "city", "X", occurredAt=when)])


def close(base_url: str, when: str, field: str = "date_created") -> Answer:
    doc = fixture_json("close_lead_updated.json")
    doc["event"]["date_created"] = doc["event"]["date_updated"] = iso().removesuffix("Z")
    doc["event"][field] = when
    return send_close(base_url, doc)


def pipedrive(base_url: str, when: str) -> Answer:
    doc = fixture_json("pipedrive_organization_change.json")
    doc["meta"]["timestamp"] = when
    return send_pipedrive(base_url, doc)


def salesforce(base_url: str, when: str) -> Answer:
    notification = account_notification("04l5e000001AbCdAAK", "0015e00000AbCdEAAV", LastModifiedDate=when)
    return send_salesforce(base_url, outbound_message(notification))


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


GENERIC_CASES = [
    pytest.param(generic, "0001-01-01T00:00:00Z", "occurred_at", "before 2000-01-01", id="generic-year-1"),
    pytest.param(generic, "9999-12-31T23:59:59Z", "occurred_at", "ahead", id="generic-year-9999"),
    pytest.param(generic, iso(ahead(600)), "occurred_at", "ahead", id="generic-10-minutes-ahead"),
]
CRM_CASES = [
    pytest.param(hubspot, 100_000_000_000_000_000, "occurredAt", "ahead", id="hubspot-10e17"),
    pytest.param(hubspot, 1000, "occurredAt", "before 2000-01-01", id="hubspot-1970"),
    pytest.param(hubspot, ms(ahead(600)), "occurredAt", "ahead", id="hubspot-10-minutes-ahead"),
    pytest.param(close, "1999-12-31T23:59:59", "event.date_created", "before", id="close-1999"),
    pytest.param(close, "9999-01-01T00:00:00", "event.date_created", "ahead", id="close-year-9999"),
    pytest.param(pipedrive, "0001-01-01T00:00:00Z", "meta.timestamp", "before", id="pipedrive-year-1"),
    pytest.param(pipedrive, iso(ahead(600)), "meta.timestamp", "ahead", id="pipedrive-10-minutes-ahead"),
    pytest.param(salesforce, "9999-12-31T23:59:59Z", "LastModifiedDate", "ahead", id="salesforce-9999"),
    pytest.param(salesforce, "1990-01-01T00:00:00Z", "LastModifiedDate", "before", id="salesforce-1990"),
]


@pytest.mark.parametrize(("send", "when", "field", "why"), GENERIC_CASES)
def test_a_time_outside_the_window_is_refused_naming_the_field(
    web: str, redis_client: redis.Redis, send: Sender, when: Any, field: str, why: str
) -> None:
    answer = send(web, when)

    assert answer.status == 422, answer.text
    assert field in answer.text
    assert why in answer.text
    assert stored_event_ids(redis_client) == []


def dead_letter_error(redis_client: redis.Redis) -> str:
    """The one event stored: a dead letter invalid_event; its error."""
    [event_id] = stored_event_ids(redis_client)
    record = redis_client.hgetall(keys.event(event_id))
    assert (record["status"], record["reason"]) == ("dead", "invalid_event"), record
    assert redis_client.zscore(keys.DLQ, event_id) is not None
    return str(record["error"])


@pytest.mark.parametrize(("send", "when", "field", "why"), CRM_CASES)
def test_a_crm_event_at_a_time_outside_the_window_is_a_dead_letter_naming_the_field(
    web: str, redis_client: redis.Redis, send: Sender, when: Any, field: str, why: str
) -> None:
    answer = send(web, when)

    assert answer.status in (200, 202), answer.text
    error = dead_letter_error(redis_client)
    assert field in error and why in error


def test_close_date_updated_is_checked_too(web: str, redis_client: redis.Redis) -> None:
    answer = close(web, "9999-01-01T00:00:00", field="date_updated")

    assert answer.status == 202, answer.text
    assert "event.date_updated" in dead_letter_error(redis_client)


@pytest.mark.parametrize(
    ("send", "when"),
    [
        pytest.param(generic, iso(ahead(120)), id="generic"),
        pytest.param(hubspot, ms(ahead(120)), id="hubspot"),
        pytest.param(pipedrive, iso(ahead(120)), id="pipedrive"),
        pytest.param(salesforce, iso(ahead(120)), id="salesforce"),
        pytest.param(close, ahead(120).isoformat().replace("+00:00", ""), id="close"),
        pytest.param(generic, "2000-01-01T00:00:01Z", id="generic-2000"),
    ],
)
def test_a_clock_a_little_fast_and_old_events_are_accepted(web: str, send: Sender, when: Any) -> None:
    answer = send(web, when)

    assert answer.status in (200, 202), answer.text


def test_the_skew_is_configurable(start_web: Callable[..., str]) -> None:
    strict = start_web(RELAY_MAX_CLOCK_SKEW_S="0")
    when = iso(ahead(30))

    answer = generic(strict, when)

    assert answer.status == 422, answer.text
    assert "more than 0 s ahead" in answer.text
    assert orjson.loads(answer.text)["error"].startswith("occurred_at")
    assert time.time() < datetime.fromisoformat(when).timestamp()  # still ahead when refused
