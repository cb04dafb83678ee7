"""Did the writes of a delivery land? Deciding it from the customer as ChartMogul now shows it.

Before a delivery's first call, its whole plan (workers/plan.py: the PATCH of plain fields, tags
to add and remove, custom attributes to set and remove) is written ahead. A worker that dies
before recording the outcome leaves it behind; the next worker reads the customer once
(`GET /v1/customers/{uuid}`, which shows the plain fields, `attributes.tags` and
`attributes.custom`) and, when every call of the plan shows as landed, records the events as
applied instead of sending them a second time. "Landed" for each kind of call:

    patch          every plain field shows the value sent (through ChartMogul's normalisation,
                   workers/verify.py); a body with `primary_contact` never counts as landed
    tags_add       every tag is present
    tags_remove    no such tag is present
    custom_set     every key shows the value sent
    custom_remove  no such key is present

When some calls show as not landed, the events are delivered again, and the calls that did
land are left out when the new plan is the same one (the same events, so the same idempotency
key: `landed_calls`); otherwise the whole new plan is sent. Sending a call again is harmless,
every call sets state rather than changing it by an increment: a PATCH sets fields to the
values given, adding a present tag or removing an absent one changes nothing, a PUT sets a key
to its value, a DELETE of an absent key is a no-op. So applying a plan twice leaves the customer
as applying it once would (a value someone else changed in between is set back, as any write
of the same change would). The real API never shows `primary_contact` in a customer (contacts
are a separate API), so bodies carrying one are always sent again: one extra call, only after a
crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relay.chartmogul.client import ChartMogulClient
from relay.exceptions import Rejected
from relay.logs import get_logger
from relay.store import EventRecord
from relay.store.deliveries import Deliveries
from workers.outcomes import Lease, recovered
from workers.plan import WriteKind, WritePlan
from workers.verify import (
    custom_not_removed,
    custom_not_set,
    patch_not_applied,
    tags_not_added,
    tags_not_removed,
)

log = get_logger("relay.delivery")


async def recover_inflight(
    deliveries: Deliveries, client: ChartMogulClient, lease: Lease, records: list[EventRecord]
) -> list[EventRecord]:
    """A previous worker died with writes in flight: if they all landed, record their events as
    applied; the records still to deliver. When only some landed, the lease remembers which
    (`lease.landed`), so that the same plan sent again leaves them out."""
    inflight = await deliveries.inflight(lease.customer)
    if inflight is None:
        return records
    try:
        current = await client.get_customer(lease.customer)
    except Rejected:
        await deliveries.clear_inflight(lease.customer)
        return records
    plan = WritePlan.from_json(inflight.body, inflight.idempotency_key)
    landed = landed_calls(plan, current)
    if landed != set(plan.calls()):
        lease.landed = (inflight.idempotency_key, landed)
        await deliveries.clear_inflight(lease.customer)
        return records
    landed_events = set(inflight.event_ids)
    recovered(lease, [r for r in records if r.event_id in landed_events], inflight)
    log.info(
        "inflight_recovered",
        customer_uuid=lease.customer,
        events=len(landed_events),
        idempotency_key=inflight.idempotency_key,
    )
    return [r for r in records if r.event_id not in landed_events]


def landed_calls(plan: WritePlan, customer: Mapping[str, Any]) -> set[WriteKind]:
    """The calls of `plan` that `customer` (GET /v1/customers/{uuid}) already shows."""
    attributes = customer.get("attributes") or {}
    tags = [t for t in attributes.get("tags") or [] if isinstance(t, str)]
    custom = dict(attributes.get("custom") or {})
    missed = {
        # never shown by the real API: cannot tell, so send again (harmless)
        WriteKind.PATCH: "primary_contact" in plan.patch or bool(patch_not_applied(plan.patch, customer)),
        WriteKind.TAGS_ADD: bool(tags_not_added(plan.tags_add, tags)),
        WriteKind.TAGS_REMOVE: bool(tags_not_removed(plan.tags_remove, tags)),
        WriteKind.CUSTOM_SET: bool(custom_not_set(plan.custom_set, custom)),
        WriteKind.CUSTOM_REMOVE: bool(custom_not_removed(plan.custom_remove, custom)),
    }
    return {kind for kind in plan.calls() if not missed[kind]}


def plan_is_applied(plan: WritePlan, customer: Mapping[str, Any]) -> bool:
    """True when `customer` (GET /v1/customers/{uuid}) already shows every call of `plan`."""
    return landed_calls(plan, customer) == set(plan.calls())
