"""Planning a delivery, with no I/O: a customer's waiting changes and what ChartMogul holds
→ the PATCH to send, or why none can be sent.

    coalesce(changes, applied_at)    which events are stale; the merged fields and operations
    needs_customer(coalesced)        whether the customer must be read first (GET)
    plan_patch(coalesced, current)   the body, checked against ChartMogul's contract
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relay.coalesce import CoalescedChange, patch_body
from relay.contract import normalize_update, validate_update


@dataclass(frozen=True, slots=True)
class PatchPlan:
    body: dict[str, Any]
    violations: list[str]  # contract rules the body breaks; empty when it may be sent
    idempotency_key: str


def needs_customer(coalesced: CoalescedChange) -> bool:
    """Tags/custom need the current sets (a PATCH replaces them); one changed date needs the
    other's current value for "trial not before lead"."""
    one_date = ("lead_created_at" in coalesced.fields) != ("free_trial_started_at" in coalesced.fields)
    return coalesced.touches_attributes or one_date


def plan_patch(coalesced: CoalescedChange, current: Mapping[str, Any] | None) -> PatchPlan:
    body = normalize_update(patch_body(coalesced, current))
    violations = [str(v) for v in validate_update(body, current=current)]
    return PatchPlan(body, violations, idempotency_key(coalesced.event_ids))


def idempotency_key(event_ids: Sequence[str]) -> str:
    """One event: its own id. Several coalesced events: a digest that names exactly that set."""
    if len(event_ids) == 1:
        return event_ids[0]
    digest = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:32]
    return f"coalesced-{digest}"


def new_custom_attributes(body: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The custom attributes a body sets that the customer (and maybe the account) lacks."""
    if current is None:
        return {}
    known = (current.get("attributes") or {}).get("custom") or {}
    sent = (body.get("attributes") or {}).get("custom") or {}
    return {key: value for key, value in sent.items() if key not in known}


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
