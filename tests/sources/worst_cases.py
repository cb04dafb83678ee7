"""The worst bodies of each source (issue 11 §3): nested or wide past the limits of
relay/sources/limits.py, each about as large as RELAY_MAX_BODY_BYTES (1 MiB) allows. Shared by
the limit tests and the event-loop stall test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from relay.demo import signed_headers
from tests.conftest import GENERIC_SECRET
from tests.sources.senders import (
    account_notification,
    close_headers,
    fixture_json,
    hubspot_event,
    hubspot_v3_headers,
    outbound_message,
    pipedrive_headers,
)
from tests.webhooks import iso

# (url, body, headers): built (and signed) up front, so sending costs the sender nothing.
Request = tuple[str, bytes, dict[str, str]]
WorstCase = Callable[[str], Request]


def hubspot_request(base_url: str, body: bytes) -> Request:
    url = f"{base_url}/webhooks/hubspot"
    return url, body, hubspot_v3_headers(url, body)


def close_request(base_url: str, doc: dict[str, Any]) -> Request:
    body = orjson.dumps(doc)
    return f"{base_url}/webhooks/close", body, close_headers(body)


def pipedrive_request(base_url: str, body: bytes) -> Request:
    return f"{base_url}/webhooks/pipedrive", body, pipedrive_headers()


def salesforce_request(base_url: str, body: bytes) -> Request:
    return f"{base_url}/webhooks/salesforce", body, {"Content-Type": "text/xml; charset=utf-8"}


NESTED = "<<nested>>"


def nested(depth: int) -> bytes:
    """JSON objects `depth` deep (orjson will not write past 254 levels)."""
    return b'{"a":' * depth + b'"x"' + b"}" * depth


def with_nested(doc: Any, depth: int) -> bytes:
    """`doc` as JSON with its NESTED placeholder replaced by objects `depth` deep."""
    return orjson.dumps(doc).replace(orjson.dumps(NESTED), nested(depth))


def generic_custom_300_deep(base_url: str) -> Request:
    event = {"id": "evt_deep", "occurred_at": iso(), "customer": {"uuid": "cus_0001"}}
    body = with_nested({**event, "custom": {"set": {"CAC": NESTED}}}, 300)
    return f"{base_url}/webhooks/generic", body, signed_headers(GENERIC_SECRET, body, msg_id="msg_deep")


def hubspot_value_300_deep(base_url: str) -> Request:
    return hubspot_request(base_url, with_nested([hubspot_event(7001, 42, "city", NESTED)], 300))


def close_doc(**event: Any) -> dict[str, Any]:
    doc: dict[str, Any] = fixture_json("close_lead_updated.json")
    doc["event"]["date_created"] = doc["event"]["date_updated"] = iso().removesuffix("Z")
    doc["event"].update(event)
    return doc


def close_58k_changed_fields(base_url: str) -> Request:
    return close_request(base_url, close_doc(changed_fields=[f"custom.cf_{i}" for i in range(58_000)]))


def pipedrive_doc(previous: Any) -> dict[str, Any]:
    doc: dict[str, Any] = fixture_json("pipedrive_organization_change.json")
    doc["meta"]["timestamp"] = iso()
    doc["previous"] = previous
    return doc


def pipedrive_60k_previous(base_url: str) -> Request:
    return pipedrive_request(base_url, orjson.dumps(pipedrive_doc({f"k{i}": i for i in range(60_000)})))


def pipedrive_previous_1000_deep(base_url: str) -> Request:
    return pipedrive_request(base_url, with_nested(pipedrive_doc(NESTED), 1000))


def pipedrive_previous_wide_nested(base_url: str) -> Request:
    """Under every per-object limit and the value count, yet 19 x 999 changed leaves (each is
    matched against the mapping's fields)."""
    previous = {f"o{i}": {f"k{j}": j for j in range(999)} for i in range(19)}
    return pipedrive_request(base_url, orjson.dumps(pipedrive_doc(previous)))


def salesforce_5000_deep(base_url: str) -> Request:
    deep = "<sf:Deep>" * 5000 + "</sf:Deep>" * 5000
    notification = account_notification("04l5e000001AbCdAAK", "0015e00000AbCdEAAV", Name=deep)
    return salesforce_request(base_url, outbound_message(notification))


def salesforce_149k_deep_wrong_org(base_url: str) -> Request:
    deep = "<x>" * 149_000 + "</x>" * 149_000
    notification = account_notification("04l5e000001AbCdAAK", "0015e00000AbCdEAAV", Name=deep)
    return salesforce_request(base_url, outbound_message(notification, org_id="00D000000000000AAA"))


def salesforce_wide_wrong_org(base_url: str) -> Request:
    fields = "".join(f"<F{i}>x</F{i}>" for i in range(40_000))
    notification = account_notification("04l5e000001AbCdAAK", "0015e00000AbCdEAAV") + fields
    return salesforce_request(base_url, outbound_message(notification, org_id="00D000000000000AAA"))


def salesforce_wide(base_url: str) -> Request:
    """The right org id and 25,000 fields: past MAX_VALUES, read up to it."""
    fields = "".join(f"<sf:F{i}>x</sf:F{i}>" for i in range(25_000))
    notification = account_notification("04l5e000001AbCdAAK", "0015e00000AbCdEAAV").replace(
        "</sObject>", fields + "</sObject>"
    )
    return salesforce_request(base_url, outbound_message(notification))
