"""Sending a delivery's write calls (workers/plan.py) and checking each answer (workers/verify.py).

    send_plan(client, customer, plan, changes, progress)   every call, in the plan's order
    not_kept_by_event(records, missed)                      which event's value did not take

Every call goes through the same client, so the fleet's rate limit and connection cap cover
them all. Each call carries an Idempotency-Key: the PATCH the plan's own, the others the plan's
key with the call's kind (`coalesced-…:tags_add`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from relay.changes import CustomerChange
from relay.chartmogul.client import ChartMogulClient
from relay.exceptions import Rejected
from relay.logs import get_logger
from relay.store import EventRecord
from workers.decide import Action, Call, decide
from workers.plan import WriteKind, WritePlan, guessed_type
from workers.verify import NotApplied, custom_not_set, patch_not_applied, tags_not_added, tags_not_removed

log = get_logger("relay.delivery")


@dataclass(slots=True)
class Progress:
    """The call being sent: what a failure is decided for (workers/decide.py)."""

    kind: WriteKind = WriteKind.PATCH
    done: list[WriteKind] = field(default_factory=list)  # the calls answered 2xx

    @property
    def call(self) -> Call:
        return Call(self.kind.value)


async def send_plan(
    client: ChartMogulClient,
    customer: str,
    plan: WritePlan,
    changes: Sequence[CustomerChange],
    progress: Progress,
) -> list[NotApplied]:
    """Send every call of `plan`; what the answers show was not kept. Raises DeliveryError on
    the first call that fails (`progress.kind` names it)."""
    missed: list[NotApplied] = []
    for kind, payload in plan.calls().items():
        progress.kind = kind
        key = plan.idempotency_key if kind is WriteKind.PATCH else f"{plan.idempotency_key}:{kind}"
        missed += await _write(client, customer, kind, payload, changes, key)
        progress.done.append(kind)
    return missed


async def _write(
    client: ChartMogulClient,
    customer: str,
    kind: WriteKind,
    payload: Any,
    changes: Sequence[CustomerChange],
    key: str,
) -> list[NotApplied]:
    if kind is WriteKind.PATCH:
        return patch_not_applied(
            payload, await client.update_customer(customer, payload, idempotency_key=key)
        )
    if kind is WriteKind.TAGS_ADD:
        return tags_not_added(payload, await client.add_tags(customer, payload, idempotency_key=key))
    if kind is WriteKind.TAGS_REMOVE:
        return tags_not_removed(payload, await client.remove_tags(customer, payload, idempotency_key=key))
    if kind is WriteKind.CUSTOM_SET:
        return custom_not_set(payload, await _set_custom(client, customer, payload, changes, key))
    # DELETE .../attributes/custom answers 204 with no body: nothing to compare.
    await client.remove_custom_attributes(customer, payload, idempotency_key=key)
    return []


async def _set_custom(
    client: ChartMogulClient,
    customer: str,
    custom: dict[str, Any],
    changes: Sequence[CustomerChange],
    key: str,
) -> dict[str, Any]:
    """PUT the values → every custom attribute the customer has now. A key the account does not
    define is refused; create those first (POST, with the type the source's mapping declared),
    which sets them too, then PUT the rest. Ends: each round takes at least one key out."""
    remaining = dict(custom)
    shown: dict[str, Any] = {}
    while remaining:
        try:
            return await client.set_custom_attributes(customer, remaining, idempotency_key=key)
        except Rejected as exc:
            if decide(exc, Call.CUSTOM_SET).action is not Action.CREATE_CUSTOM_ATTRIBUTES:
                raise
            named = [name for name in remaining if f'"{name}"' in exc.message]
            new = {name: remaining.pop(name) for name in named or list(remaining)}
            attributes = [
                {"key": name, "value": value, "type": declared_type(changes, name, value)}
                for name, value in new.items()
            ]
            shown = await client.add_custom_attributes(customer, attributes, idempotency_key=f"{key}:create")
            log.info("custom_attributes_created", customer_uuid=customer, keys=sorted(new))
    return shown


def declared_type(changes: Sequence[CustomerChange], key: str, value: Any) -> str:
    """A custom attribute's type as the newest change's mapping declared it, else by value."""
    for change in sorted(changes, key=lambda c: c.occurred_at_ms, reverse=True):
        if declared := change.custom_types.get(key):
            return declared
    return guessed_type(value)


def record_keys(record: EventRecord) -> list[str]:
    return record.change.field_keys() if record.change else []


def not_kept_by_event(
    records: Sequence[EventRecord], missed: Sequence[NotApplied]
) -> dict[str, list[NotApplied]]:
    """event id → the fields ChartMogul did not keep whose value that event sent (the newest
    event touching a field sent its value; older ones were overwritten by it in coalescing)."""
    sender: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r.occurred_at_ms):
        sender.update(dict.fromkeys(record_keys(record), record.event_id))
    by_event: dict[str, list[NotApplied]] = {}
    for miss in missed:
        if event_id := sender.get(miss.field):
            by_event.setdefault(event_id, []).append(miss)
    return by_event
