"""Pipedrive's records: how they are named, merged and parented.

    pipedrive:organization:<id>   pipedrive:person:<id>

A person's parent is its organization (`org_id`: a number in webhooks v2, a number or
{"value": id, "name": …} in v1). A merge deletes one record into another: v2 sends the delete
with `meta.merged_to_id` and the survivor's change with `meta.merged_from_id`; v1 sends one
`merged` event whose record names the merged one in `merge_what_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from relay.exceptions import InvalidEvent
from relay.sources.records import CrmRecords

ENTITIES: Final = ("organization", "person")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

RECORDS: Final = CrmRecords("pipedrive", "organization", "organization", "id")


def text_id(value: object, what: str) -> str:
    """An id as Pipedrive sends it (a string or a number), checked: no ':' ever reaches a key."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidEvent(f"{what} must be a string or a number")
    text = str(value).strip()
    if not text or len(text) > 100 or not set(text) <= _ID_CHARS:
        raise InvalidEvent(f"{what} {text[:40]!r} is not an id")
    return text


def entity_name(entity: str) -> str:
    """`meta.entity` (or v1's `meta.object`), fit for a record key."""
    if not (0 < len(entity) <= 40 and set(entity) <= _ID_CHARS):
        raise InvalidEvent(f"meta.entity {entity[:40]!r} is not an entity name")
    return entity


def org_id(value: object) -> str | None:
    """The organization id of a person's `org_id` (v2: a number; v1: also {"value": id})."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if value is None or value == "":
        return None
    return text_id(value, "org_id")


def parents(
    entity: str, entity_id: str, data: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> dict[str, str]:
    """A person's organization, when the event says it: {person record: organization record};
    "" when it was taken away."""
    if entity != "person" or "org_id" not in data:
        return {}
    organization = org_id(data["org_id"])
    if organization is None and (previous is None or "org_id" not in previous):
        return {}
    parent = RECORDS.key("organization", organization) if organization else ""
    return {RECORDS.key("person", entity_id): parent}
