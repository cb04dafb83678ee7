"""Coalescing: a customer's waiting changes become one set of writes.

Changes are applied in occurred_at order: the last writer of a field wins, `primary_contact`
merges field by field, and the last operation on a tag or custom attribute wins (delivery sends
them through ChartMogul's attribute endpoints, which add and remove rather than replace).

A change older than what was already applied to the same field is stale and dropped, so an
out-of-order delivery from the CRM never overwrites a newer value. Field keys are
"city", "primary_contact.email", "tag:vip", "custom:CAC".

What each event's record may claim follows from two maps: `senders` (key → the event whose
value is the one sent; an older event's value for that key was superseded by it) and `dropped`
(event → its keys older than what was already applied, so never sent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relay.changes import CustomerChange
from relay.contract import normalize_update, validate_update


@dataclass(slots=True)
class CoalescedChange:
    event_ids: list[str] = field(default_factory=list)  # events this PATCH applies
    stale_event_ids: list[str] = field(default_factory=list)  # events whose every change is stale
    fields: dict[str, Any] = field(default_factory=dict)
    tag_ops: list[tuple[str, str]] = field(default_factory=list)  # ("add" | "remove", tag)
    custom_ops: list[tuple[str, str, Any]] = field(default_factory=list)  # ("set" | "remove", key, value)
    field_times: dict[str, int] = field(default_factory=dict)  # field key → newest occurred_at applied
    senders: dict[str, str] = field(default_factory=dict)  # field key → event whose value is sent
    dropped: dict[str, list[str]] = field(default_factory=dict)  # event id → its keys found stale

    @property
    def touches_attributes(self) -> bool:
        return bool(self.tag_ops or self.custom_ops)

    @property
    def is_empty(self) -> bool:
        return not (self.fields or self.touches_attributes)

    def attribute_calls(self) -> AttributeCalls:
        """The tag and custom attribute writes, the last operation on each tag or key winning."""
        last_tag = {tag: op for op, tag in self.tag_ops}
        last_custom = {key: (op, value) for op, key, value in self.custom_ops}
        return AttributeCalls(
            tags_add=[tag for tag, op in last_tag.items() if op == "add"],
            tags_remove=[tag for tag, op in last_tag.items() if op == "remove"],
            custom_set={key: value for key, (op, value) in last_custom.items() if op == "set"},
            custom_remove=[key for key, (op, _) in last_custom.items() if op == "remove"],
        )


def contract_violations(coalesced: CoalescedChange, current: Mapping[str, Any] | None = None) -> list[str]:
    """Every rule of ChartMogul's contract (relay/contract) the writes of `coalesced` break: the
    PATCH's fields, and the tags and custom values the attribute calls send. Delivery checks
    each plan with it before spending a call; `relay dlq edit` checks an operator's edit."""
    checked = normalize_update(dict(coalesced.fields))
    if coalesced.touches_attributes:
        calls = coalesced.attribute_calls()
        checked["attributes"] = {"tags": [*calls.tags_add, *calls.tags_remove], "custom": calls.custom_set}
    return [str(v) for v in validate_update(checked, current=current)]


@dataclass(frozen=True, slots=True)
class AttributeCalls:
    tags_add: list[str]
    tags_remove: list[str]
    custom_set: dict[str, Any]
    custom_remove: list[str]


def coalesce(
    changes: Sequence[CustomerChange], applied_at: Mapping[str, int] | None = None
) -> CoalescedChange:
    applied_at = applied_at or {}
    merged = CoalescedChange()

    for change in sorted(changes, key=lambda c: c.occurred_at_ms):
        at = change.occurred_at_ms

        def fresh(key: str, occurred_ms: int, event_id: str = change.event_id) -> bool:
            if applied_at.get(key, -1) > occurred_ms:
                merged.dropped.setdefault(event_id, []).append(key)
                return False
            merged.field_times[key] = max(occurred_ms, merged.field_times.get(key, occurred_ms))
            merged.senders[key] = event_id  # in occurred_at order: the last one is sent
            return True

        live = False
        for name, value in change.fields.items():
            if name == "primary_contact" and isinstance(value, Mapping):
                for sub, sub_value in value.items():
                    if fresh(f"primary_contact.{sub}", at):
                        merged.fields.setdefault("primary_contact", {})[sub] = sub_value
                        live = True
            elif fresh(name, at):
                merged.fields[name] = value
                live = True
        for op, tags in (("add", change.tags_add), ("remove", change.tags_remove)):
            for tag in tags:
                if fresh(f"tag:{tag}", at):
                    merged.tag_ops.append((op, tag))
                    live = True
        for key, value in change.custom_set.items():
            if fresh(f"custom:{key}", at):
                merged.custom_ops.append(("set", key, value))
                live = True
        for key in change.custom_remove:
            if fresh(f"custom:{key}", at):
                merged.custom_ops.append(("remove", key, None))
                live = True
        (merged.event_ids if live else merged.stale_event_ids).append(change.event_id)
    return merged
