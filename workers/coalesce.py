"""Coalescing: a customer's waiting changes become one PATCH body.

Changes are applied in occurred_at order: the last writer of a field wins, `primary_contact`
merges field by field, and tag/custom operations are replayed in order over the customer's
current tags and custom attributes (which a PATCH would otherwise replace wholesale).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relay.changes import CustomerChange


@dataclass(slots=True)
class CoalescedChange:
    event_ids: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    tag_ops: list[tuple[str, str]] = field(default_factory=list)  # ("add" | "remove", tag)
    custom_ops: list[tuple[str, str, Any]] = field(default_factory=list)  # ("set" | "remove", key, value)

    @property
    def touches_attributes(self) -> bool:
        return bool(self.tag_ops or self.custom_ops)


def coalesce(changes: Sequence[CustomerChange]) -> CoalescedChange:
    merged = CoalescedChange()
    for change in sorted(changes, key=lambda c: c.occurred_at_ms):
        merged.event_ids.append(change.event_id)
        for name, value in change.fields.items():
            if name == "primary_contact" and isinstance(value, Mapping):
                contact = merged.fields.setdefault("primary_contact", {})
                contact.update(value)
            else:
                merged.fields[name] = value
        merged.tag_ops += [("add", t) for t in change.tags_add]
        merged.tag_ops += [("remove", t) for t in change.tags_remove]
        merged.custom_ops += [("set", k, v) for k, v in change.custom_set.items()]
        merged.custom_ops += [("remove", k, None) for k in change.custom_remove]
    return merged


def merged_attributes(current: Mapping[str, Any], coalesced: CoalescedChange) -> dict[str, Any]:
    """The full `attributes` object to send: current tags/custom with the operations applied."""
    attributes = current.get("attributes") or {}
    tags: list[str] = [t for t in attributes.get("tags") or [] if isinstance(t, str)]
    custom: dict[str, Any] = dict(attributes.get("custom") or {})
    for op, tag in coalesced.tag_ops:
        if op == "add" and tag not in tags:
            tags.append(tag)
        elif op == "remove" and tag in tags:
            tags.remove(tag)
    for op, key, value in coalesced.custom_ops:
        if op == "set":
            custom[key] = value
        else:
            custom.pop(key, None)
    return {"tags": tags, "custom": custom}


def patch_body(coalesced: CoalescedChange, current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The PATCH /v1/customers/{uuid} body. `current` is required when attributes change."""
    body = dict(coalesced.fields)
    if coalesced.touches_attributes:
        if current is None:
            raise ValueError("tag or custom attribute changes need the customer's current attributes")
        body["attributes"] = merged_attributes(current, coalesced)
    return body
