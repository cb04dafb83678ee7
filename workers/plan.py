"""Planning a delivery, with no I/O: a customer's waiting changes → the write calls to send, or
why none can be sent.

    coalesce(changes, applied_at)    which events are stale; the merged fields and operations
    needs_customer(coalesced)        whether the customer must be read first (GET)
    plan_writes(coalesced, current)  the calls, checked against ChartMogul's contract

A burst of changes to one customer costs at most one call of each kind, sent in this order:

    patch          PATCH  /v1/customers/{uuid}                   plain fields, never `attributes`
    tags_add       POST   /v1/customers/{uuid}/attributes/tags   {"tags": [...]}
    tags_remove    DELETE /v1/customers/{uuid}/attributes/tags   {"tags": [...]}
    custom_set     PUT    /v1/customers/{uuid}/attributes/custom {"custom": {key: value}}
    custom_remove  DELETE /v1/customers/{uuid}/attributes/custom {"custom": [key, ...]}

Tags and custom attributes go to the attribute endpoints, which change only what they name, so
a tag someone else adds in ChartMogul meanwhile is never erased, and no GET is needed first.
Each tag or key appears in one call only: the last operation on it wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from relay.changes import CustomerChange
from relay.coalesce import CoalescedChange
from relay.contract import normalize_update, validate_update


class WriteKind(StrEnum):
    PATCH = "patch"
    TAGS_ADD = "tags_add"
    TAGS_REMOVE = "tags_remove"
    CUSTOM_SET = "custom_set"
    CUSTOM_REMOVE = "custom_remove"


@dataclass(frozen=True, slots=True)
class WritePlan:
    patch: dict[str, Any] = field(default_factory=dict)
    tags_add: list[str] = field(default_factory=list)
    tags_remove: list[str] = field(default_factory=list)
    custom_set: dict[str, Any] = field(default_factory=dict)
    custom_remove: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # contract rules broken; empty: may be sent
    idempotency_key: str = ""

    def calls(self) -> dict[WriteKind, Any]:
        """The calls to send, in order, each with its payload (only the kinds with something to do)."""
        payloads: dict[WriteKind, Any] = {
            WriteKind.PATCH: self.patch,
            WriteKind.TAGS_ADD: self.tags_add,
            WriteKind.TAGS_REMOVE: self.tags_remove,
            WriteKind.CUSTOM_SET: self.custom_set,
            WriteKind.CUSTOM_REMOVE: self.custom_remove,
        }
        return {kind: payload for kind, payload in payloads.items() if payload}

    def without(self, kinds: set[WriteKind]) -> WritePlan:
        """The plan less the calls of these kinds (they landed already)."""
        empty: dict[str, Any] = {str(kind): type(getattr(self, str(kind)))() for kind in kinds}
        return replace(self, **empty)

    def to_json(self) -> dict[str, Any]:
        """What is written ahead of sending (crash recovery reads it back with `from_json`)."""
        return {"calls": {str(kind): payload for kind, payload in self.calls().items()}}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], idempotency_key: str = "") -> WritePlan:
        """A plan written ahead; a bare PATCH body (written before the attribute endpoints) too."""
        calls = doc.get("calls")
        if not isinstance(calls, Mapping):  # a whole PATCH body, tags and custom as full sets
            attributes = doc.get("attributes") or {}
            patch = {name: value for name, value in doc.items() if name != "attributes"}
            calls = {
                "patch": patch,
                "tags_add": attributes.get("tags"),
                "custom_set": attributes.get("custom"),
            }
        return cls(
            patch=dict(calls.get("patch") or {}),
            tags_add=list(calls.get("tags_add") or []),
            tags_remove=list(calls.get("tags_remove") or []),
            custom_set=dict(calls.get("custom_set") or {}),
            custom_remove=list(calls.get("custom_remove") or []),
            idempotency_key=idempotency_key,
        )


def needs_customer(coalesced: CoalescedChange) -> bool:
    """One changed date needs the other's current value for "trial not before lead"."""
    return ("lead_created_at" in coalesced.fields) != ("free_trial_started_at" in coalesced.fields)


def plan_writes(coalesced: CoalescedChange, current: Mapping[str, Any] | None = None) -> WritePlan:
    patch = normalize_update(dict(coalesced.fields))
    calls = coalesced.attribute_calls()
    plan = WritePlan(
        patch=patch,
        tags_add=calls.tags_add,
        tags_remove=calls.tags_remove,
        custom_set=calls.custom_set,
        custom_remove=calls.custom_remove,
        idempotency_key=idempotency_key(coalesced.event_ids),
    )
    # The contract's checks of tags and custom values apply to what the attribute calls send.
    checked = dict(patch)
    if coalesced.touches_attributes:
        checked["attributes"] = {"tags": [*plan.tags_add, *plan.tags_remove], "custom": calls.custom_set}
    violations = [str(v) for v in validate_update(checked, current=current)]
    return replace(plan, violations=violations)


def field_keys(change: CustomerChange) -> list[str]:
    """The field keys a change writes, as coalescing and verification name them."""
    return change.field_keys()


def idempotency_key(event_ids: Sequence[str]) -> str:
    """One event: its own id. Several coalesced events: a digest that names exactly that set."""
    if len(event_ids) == 1:
        return event_ids[0]
    digest = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:32]
    return f"coalesced-{digest}"


def guessed_type(value: Any) -> str:
    """A custom attribute's ChartMogul type from its value, when no mapping declares it."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Decimal"
    return "String"
