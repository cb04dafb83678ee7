"""What a delivery's events became: the outcomes collected while a customer is delivered, and
written by the store's `finish` (with the end of the lease) in one atomic call.

    Settlement     outcomes decided but not yet written, what was applied, the in-flight end
    Lease          one leased customer, its token and its settlement
    settle_sent    every call answered: applied, or dead letter `not_applied` per value not kept
    dead_letter    dead letters with ChartMogul's reason and message
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from relay import metrics
from relay.coalesce import CoalescedChange
from relay.logs import get_logger
from relay.store import DeadLetterReason, EventRecord, EventStatus, Outcome, now_ms
from workers.plan import WriteKind, WritePlan
from workers.verify import NotApplied
from workers.writes import not_kept_by_event, record_keys

log = get_logger("relay.delivery")


@dataclass(slots=True)
class Settlement:
    """Outcomes decided but not yet written."""

    outcomes: list[Outcome] = field(default_factory=list)
    applied_fields: dict[str, int] = field(default_factory=dict)
    clear_inflight: bool = False

    def __bool__(self) -> bool:
        return bool(self.outcomes or self.applied_fields or self.clear_inflight)


@dataclass(slots=True)
class Lease:
    customer: str
    token: str
    settlement: Settlement = field(default_factory=Settlement)
    # The calls a dead worker's plan (by its idempotency key) landed, when not all of them did.
    landed: tuple[str, set[WriteKind]] | None = None


def joined_keys(keys: Sequence[str]) -> str:
    """Field keys as a record stores them: comma-separated, each once, in order."""
    return ",".join(dict.fromkeys(keys))


def settle_sent(
    lease: Lease,
    live: list[EventRecord],
    coalesced: CoalescedChange,
    plan: WritePlan,
    missed: list[NotApplied],
) -> None:
    """Every call answered: the events are applied, except those whose value for a field
    ChartMogul did not keep was the one sent (dead letters `not_applied`)."""
    key = plan.idempotency_key
    applied_ms = now_ms()
    metrics.record_delivery(
        200, events=len(live), latency_s=[(applied_ms - r.received_at_ms) / 1000 for r in live]
    )
    for miss in missed:
        metrics.record_not_applied(miss.label)
    not_kept = {miss.field for miss in missed}
    by_event = not_kept_by_event(live, missed)
    sent = orjson.dumps(plan.to_json()["calls"]).decode()
    for record in live:
        mine = by_event.get(record.event_id, [])
        took = joined_keys([k for k in record_keys(record) if k not in not_kept])
        if mine:
            message = "ChartMogul answered 200 but did not keep " + "; ".join(map(str, mine))
            extra = {"applied_fields": took, "not_applied": "; ".join(map(str, mine))}
            reason = DeadLetterReason.NOT_APPLIED
            dead_letter(lease, [record], reason, message, status=200, plan=plan, extra=extra)
            continue
        lease.settlement.outcomes.append(
            Outcome(
                record.event_id,
                EventStatus.APPLIED,
                fields={"applied_by": key, "http_status": 200, "patch": sent, "applied_fields": took},
                history={"idempotency_key": key, "coalesced_with": len(live) - 1},
            )
        )
        log.info(
            "event_applied",
            event_id=record.event_id,
            source=record.source,
            customer_uuid=lease.customer,
            attempt=record.attempts + 1,
            coalesced=len(live),
        )
    # A value not kept is not applied: an older change to that field may still set it.
    lease.settlement.applied_fields.update(
        {k: at for k, at in coalesced.field_times.items() if k not in not_kept}
    )
    lease.settlement.clear_inflight = True


def dead_letter(
    lease: Lease,
    records: Sequence[EventRecord],
    reason: DeadLetterReason | None,
    message: str,
    *,
    status: int | None = None,
    plan: WritePlan | None = None,
    extra: dict[str, str] | None = None,
) -> None:
    reason = reason or DeadLetterReason.REJECTED
    fields: dict[str, str | int] = {"reason": reason.value, "error": message}
    if status is not None:
        fields["http_status"] = status
    if plan is not None:
        fields["patch"] = orjson.dumps(plan.to_json()["calls"]).decode()
    fields.update(extra or {})
    lease.settlement.outcomes += [
        Outcome(
            r.event_id,
            EventStatus.DEAD,
            fields=fields,
            history={"reason": reason.value, "error": message},
        )
        for r in records
    ]
    for record in records:
        log.warning(
            "event_dead_lettered",
            event_id=record.event_id,
            source=record.source,
            customer_uuid=lease.customer,
            attempt=record.attempts + 1,
            reason=reason.value,
            error=message,
        )
