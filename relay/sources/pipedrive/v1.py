"""Pipedrive webhooks v1, read as the v2 body it stands for.

v1 still runs beside v2 (a webhook created by API with `version: "1.0"` sends it); refusing it
would count towards the ban Pipedrive puts on a webhook after 10 failed first attempts (the
events during a ban are lost). So a v1 body is translated and mapped exactly like v2:

    {"v": 1, "event": "updated.organization", "retry": 0,
     "meta": {"action": "updated", "object": "organization", "id": 42, "timestamp": 1740904200,
              "timestamp_micro": 1740904200123456, "webhook_id": "88", "v": 1, …},
     "current": {"id": 42, "name": "Acme", "address_locality": "Boston",
                 "address_postal_code": "02110", "<40-hex custom field key>": "Gold", …},
     "previous": {…the whole record before…}}

    meta.action   added → create, updated → change, deleted → delete, merged → a merge
    meta.object   → meta.entity;  meta.id → meta.entity_id;  current → data
    previous      the whole record before → only the fields that differ (v2's `previous`)
    address_*     → address.{locality, postal_code, admin_area_level_1, country, …}
                    (a person's postal_address_* likewise); `address` → address.value
    email, phone  → emails, phones;  org_id/owner_id objects → their id
    custom fields (40-hex keys at the top level) → custom_fields.<key>
    what only v1 sends (counts, owner_name, org_name, the activity summary, …): left out

v1 has no delivery id: the event is named `pipedrive:v1-<object>-<id>-<digest>`, the digest of
its object, action, time and records (not `retry`), so a retry is its duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from relay.exceptions import InvalidEvent
from relay.sources.base import content_digest
from relay.sources.pipedrive.records import entity_name, text_id

ACTIONS = {"added": "create", "updated": "change", "deleted": "delete", "merged": "change"}
_CUSTOM_KEY = re.compile(r"[0-9a-f]{40}(_[a-z_]+)?")
# v1's flat address fields → v2's nested objects.
_NESTED = (("postal_address_", "postal_address"), ("address_", "address"))
_RENAMED = {"email": "emails", "phone": "phones"}
# What v1's record holds beside the object's own fields (counts, names of related records, the
# activity summary): v2's `data` has none of it, so neither has the translation.
_DERIVED = frozenset(
    {"owner_name", "org_name", "cc_email", "active_flag", "first_char", "picture_128_url", "delete_time"}
    | {"last_incoming_mail_time", "last_outgoing_mail_time", "company_id", "label"}
)
_DERIVED_AFFIXES = (("_count",), ("next_activity_", "last_activity_"))


def is_v1(doc: Mapping[str, Any]) -> bool:
    meta = doc.get("meta")
    if doc.get("v") == 1 or "current" in doc:
        return True
    return isinstance(meta, Mapping) and (meta.get("v") == 1 or ("object" in meta and "entity" not in meta))


def as_v2(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The v2 body a v1 body stands for."""
    meta = doc.get("meta")
    if not isinstance(meta, Mapping):
        raise InvalidEvent("meta: missing (a Pipedrive webhooks v1 body has meta, current, previous)")
    action, entity = meta.get("action"), meta.get("object")
    if not isinstance(action, str) or not isinstance(entity, str):
        raise InvalidEvent("meta.action and meta.object must be strings (a Pipedrive webhooks v1 body)")
    current, previous = doc.get("current"), doc.get("previous")
    for name, value in (("current", current), ("previous", previous)):
        if value is not None and not isinstance(value, Mapping):
            raise InvalidEvent(f"{name} must be an object or null")
    data = record(current) if current else None
    before = record(previous) if previous else None
    record_id = meta.get("id", (current or previous or {}).get("id"))
    entity_id = text_id(record_id, "meta.id")
    stamp = meta.get("timestamp_micro")
    occurred = (
        stamp // 1000 if isinstance(stamp, int) and not isinstance(stamp, bool) else meta.get("timestamp")
    )
    content = orjson.dumps([entity, entity_id, action, stamp, meta.get("timestamp"), current, previous])
    v2_meta: dict[str, Any] = {
        "id": f"v1-{entity_name(entity)}-{entity_id}-{content_digest(content)}",
        "action": ACTIONS.get(action, action),
        "entity": entity,
        "entity_id": entity_id,
        "timestamp": occurred,
        "version": "1.0",
        "webhook_id": meta.get("webhook_id"),
    }
    if action == "merged":
        merged = (current or {}).get("merge_what_id") or (previous or {}).get("id")
        if merged is not None and str(merged) != entity_id:
            v2_meta["merged_from_id"] = text_id(merged, "merge_what_id")
        return {"meta": v2_meta, "data": data, "previous": {}}
    if action == "added":
        return {"meta": v2_meta, "data": data, "previous": None}
    if action == "deleted":
        return {"meta": v2_meta, "data": None, "previous": before}
    return {"meta": v2_meta, "data": data, "previous": differences(before or {}, data or {})}


def record(v1: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 record in v2's shape."""
    out: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    suffixes, prefixes = _DERIVED_AFFIXES
    for key, value in v1.items():
        if key in _DERIVED or key.endswith(suffixes) or key.startswith(prefixes):
            continue
        if _CUSTOM_KEY.fullmatch(key):
            custom[key] = value
            continue
        for prefix, nested in _NESTED:
            if key.startswith(prefix):
                out.setdefault(nested, {})[key.removeprefix(prefix)] = value
                break
            if key == nested:
                out.setdefault(nested, {})["value"] = value
                break
        else:
            if isinstance(value, Mapping) and key in ("org_id", "owner_id"):
                value = value.get("value", value.get("id"))
            out[_RENAMED.get(key, key)] = value
    if custom:
        out["custom_fields"] = custom
    return out


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What v2's `previous` holds: each field whose value differs, as it was before (inside a
    nested object, only its parts that differ)."""
    changed: dict[str, Any] = {}
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed[key] = differences(old, new)
        else:
            changed[key] = old
    return changed
