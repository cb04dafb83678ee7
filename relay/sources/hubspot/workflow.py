"""HubSpot workflows' "Send a webhook" action: the whole record, one JSON object per call, in the
legacy object shape, signed (v2 or v3) with the chosen app's client secret like the Webhooks API.

    company  {"portalId": 62515, "objectType": "COMPANY", "objectTypeId": "0-2", "objectId": 1246965,
              "isDeleted": false, "properties": {"city": {"value": "Boston", "timestamp": 1732100000000,
              "source": "CRM_UI", "sourceId": "…", "versions": [{…}, …]}, …}}
    contact  {"vid": 51, "canonical-vid": 51, "merged-vids": [], "portal-id": 62515,
              "properties": {"firstname": {"value": "Anna", "versions": [{"value": "Anna",
              "timestamp": 1732100000000, …}]}, "associatedcompanyid": {…}, …},
              "identity-profiles": [{…}], …}

The body names every property the workflow knows, changed or not. Each one the mapping reads
(and a contact's `associatedcompanyid`, its parent) keeps its own change time — its
`timestamp`, or its newest version's — so properties are grouped by that time and each group
is one event, ordered and checked for staleness like any change to those fields: a value
HubSpot set last month never overwrites one a newer event applied. A group's id is
`hubspot:wf-<object>-<id>-<time>.<digest of its values>`: a workflow's retry (HubSpot retries
5xx and timeouts for up to three days, never a 4xx) and a re-enrolment that changed nothing are
duplicates. A contact's `merged-vids` are a merge into it; a deleted record, or a record of
another object type, is recorded and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from relay.events import ParsedEvent
from relay.exceptions import InvalidEvent
from relay.mapping.plan import PropertyPlans
from relay.mapping.values import epoch_ms
from relay.sources.base import CrmSource, content_digest
from relay.sources.hubspot.records import ID, OBJECT_TYPE_IDS, PARENT_PROPERTY, RECORDS, parent_of

# What a group's stored payload keeps of the body besides its properties (names the record).
_IDENTITY = (
    "portalId",
    "portal-id",
    "objectType",
    "objectTypeId",
    "objectId",
    "companyId",
    "vid",
    "canonical-vid",
)
_OBJECT_TYPES = {"COMPANY": "company", "CONTACT": "contact"}


def is_workflow_body(doc: Mapping[str, Any]) -> bool:
    return isinstance(doc.get("properties"), Mapping)


def workflow_events(
    source: CrmSource, plans: PropertyPlans, doc: dict[str, Any], *, grouped: bool = True
) -> list[ParsedEvent]:
    """The events of one workflow body (`grouped`: one per change time; else one in all, as
    replay re-maps a stored one); InvalidEvent when it is not one HubSpot would send."""
    object_name, record_id = _record(doc)
    crm_record = RECORDS.key(object_name, record_id)
    raw_body = orjson.dumps(doc).decode()
    body_id = f"hubspot:wf-{object_name}-{record_id}.{content_digest(raw_body.encode())}"
    if object_name not in ("company", "contact"):
        why = f"{object_name} workflow bodies are not mapped (only companies and contacts are)"
        return [_ignored(source, body_id, crm_record, raw_body, why)]
    if doc.get("isDeleted") is True:
        return [_ignored(source, body_id, crm_record, raw_body, f"{crm_record} is deleted (isDeleted)")]
    groups: dict[int, dict[str, dict[str, Any]]] = {}
    for name, prop in doc["properties"].items():
        is_parent = object_name == "contact" and name == PARENT_PROPERTY
        plan = plans.plan(object_name, name)
        if not (plan.rules or plan.link or is_parent):
            continue  # the body names every property; only those the mapping reads matter
        value, at_ms = _value(source, name, prop)
        groups.setdefault(at_ms, {})[name] = {"value": value, "timestamp": at_ms}
    if not grouped and len(groups) > 1:
        newest = max(groups)
        groups = {newest: {name: prop for group in groups.values() for name, prop in group.items()}}
    identity = {key: doc[key] for key in _IDENTITY if key in doc}
    events = [
        _group_event(source, object_name, record_id, at_ms, identity, group)
        for at_ms, group in sorted(groups.items())
    ]
    merged = _merged_vids(doc, record_id) if object_name == "contact" else []
    if merged:
        events.append(
            source.merge(
                event_id=f"hubspot:wf-contact-{record_id}-merge.{content_digest(orjson.dumps(merged))}",
                occurred_at_ms=max(groups, default=source.now_ms()),
                crm_record=crm_record,
                merged=[RECORDS.key("contact", vid) for vid in merged],
                raw=orjson.dumps({**identity, "merged-vids": merged}).decode(),
            )
        )
    if not events:
        why = "the mapping maps none of the body's properties"
        events.append(_ignored(source, body_id, crm_record, raw_body, why))
    return events


def _record(doc: Mapping[str, Any]) -> tuple[str, str]:
    """(object name, record id) of a workflow body."""
    if "vid" in doc or "canonical-vid" in doc:
        return "contact", _id(doc.get("canonical-vid", doc.get("vid")), "canonical-vid")
    if "objectTypeId" in doc or "objectType" in doc:
        type_id, type_name = str(doc.get("objectTypeId", "")), str(doc.get("objectType", ""))
        object_name = OBJECT_TYPE_IDS.get(type_id) or _OBJECT_TYPES.get(type_name.upper())
        if object_name is None:
            object_name = RECORDS.object_name((type_name or f"object-{type_id}").lower())
        return object_name, _id(doc.get("objectId"), "objectId")
    if "companyId" in doc:
        return "company", _id(doc["companyId"], "companyId")
    raise InvalidEvent(
        "not a HubSpot workflow body: it names no record (objectId with objectTypeId, companyId, or vid)"
    )


def _id(value: object, what: str) -> str:
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not ID.fullmatch(text):
        raise InvalidEvent(f"{what} {str(value)[:40]!r} is missing or not a HubSpot id")
    return text


def _value(source: CrmSource, name: str, prop: object) -> tuple[Any, int]:
    """(value, change time in ms) of one property: its `timestamp`, else its newest version's."""
    if not isinstance(prop, Mapping) or "value" not in prop:
        raise InvalidEvent(f"properties.{name[:60]}: not a {{value, timestamp}} object")
    stamp = prop.get("timestamp")
    if stamp is None:
        versions = prop.get("versions")
        times = (
            [v.get("timestamp") for v in versions if isinstance(v, Mapping)]
            if isinstance(versions, list)
            else []
        )
        stamp = max((t for t in times if isinstance(t, int | float | str)), key=_as_number, default=None)
    at_ms = source.event_time(epoch_ms(stamp), f"properties.{name[:60]}.timestamp", stamp)
    return prop["value"], at_ms


def _as_number(value: int | float | str) -> float:
    ms = epoch_ms(value)
    return float(ms) if ms is not None else float("-inf")


def _merged_vids(doc: Mapping[str, Any], record_id: str) -> list[str]:
    vids = doc.get("merged-vids")
    if not isinstance(vids, list):
        return []
    return [vid for vid in dict.fromkeys(_id(v, "merged-vids") for v in vids[:100]) if vid != record_id]


def _group_event(
    source: CrmSource,
    object_name: str,
    record_id: str,
    at_ms: int,
    identity: dict[str, Any],
    group: dict[str, dict[str, Any]],
) -> ParsedEvent:
    """One change time's properties as one event, its payload a workflow body of them alone."""
    raw = orjson.dumps({**identity, "properties": group}).decode()
    digest = content_digest(orjson.dumps(group))
    values = {name: prop["value"] for name, prop in group.items()}
    parents = parent_of(record_id, values[PARENT_PROPERTY]) if PARENT_PROPERTY in values else {}
    if object_name != "contact":
        parents = {}
    return source.mapped(
        object_name,
        values,
        event_id=f"hubspot:wf-{object_name}-{record_id}-{at_ms}.{digest}",
        occurred_at_ms=at_ms,
        crm_record=RECORDS.key(object_name, record_id),
        raw=raw,
        not_properties=(PARENT_PROPERTY,) if parents else (),
        parents=parents,
    )


def _ignored(source: CrmSource, event_id: str, crm_record: str, raw: str, reason: str) -> ParsedEvent:
    return source.ignored(
        event_id=event_id, occurred_at_ms=source.now_ms(), crm_record=crm_record, raw=raw, reason=reason
    )
