"""What a delivery's events became: the outcomes collected while a customer is delivered, and
written by the store's `finish` (with the end of the lease) in one atomic call.

    Settlement     outcomes decided but not yet written, what was applied, the in-flight end
    Lease          one leased customer, its token and its settlement
    settle_sent    every call answered: applied, or dead letter `not_applied` per value not kept
    stale          events none of whose values was sent: a newer change won each field
    dead_letter    dead letters with ChartMogul's reason and message, and the causes they wait
                   for (relay/store/replays.py): a link, an owner, ChartMogul's health

What a record says is what happened to *that* event: `applied_fields` are the keys whose value
this event sent and ChartMogul kept; `stale_fields` the keys a newer event won (in the same
delivery, or applied before), each naming that event; `not_applied` the values ChartMogul did
not keep. `attempts` counts the deliveries that sent it to ChartMogul.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from relay import metrics
from relay.coalesce import CoalescedChange
from relay.logs import get_logger
from relay.store import DeadLetterReason, EventRecord, EventStatus, Outcome, ReplayTrigger, now_ms
from relay.store.deliveries import Inflight
from relay.store.replays import RETRIES_EXHAUSTED, link_cause, owner_cause
from workers.plan import WriteKind, WritePlan
from workers.resolve import link_fields
from workers.verify import NotApplied
from workers.writes import not_kept_by_event, record_keys

log = get_logger("relay.delivery")


@dataclass(slots=True)
class Settlement:
    """Outcomes decided but not yet written."""

    outcomes: list[Outcome] = field(default_factory=list)
    applied_fields: dict[str, int] = field(default_factory=dict)
    applied_by: dict[str, str] = field(default_factory=dict)  # field key → the event it came from
    clear_inflight: bool = False
    # Causes this delivery ended (trigger, cause, what happened): pushed once it is written.
    resolved: list[tuple[ReplayTrigger, str, str]] = field(default_factory=list)

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


SHOWN_WITH = 10  # other events of a delivery a record names


def delivered_with(record: EventRecord, live: Sequence[EventRecord]) -> str:
    """The other events of the same delivery, as a person reads them (not a digest of their ids)."""
    others = [r.event_id for r in live if r.event_id != record.event_id]
    more = len(others) - SHOWN_WITH
    return ",".join(others[:SHOWN_WITH]) + (f",… {more} more" if more > 0 else "")


def stale_fields(
    record: EventRecord, senders: Mapping[str, str], applied: Mapping[str, tuple[int, str]]
) -> dict[str, str]:
    """The record's keys a newer event won: sent by a newer event of the same delivery, or
    applied before (field key → that event; "" when the applied state does not name it), and
    those its change left out for a newer one (relay sync's stale checks)."""
    won: dict[str, str] = dict(record.change.stale) if record.change else {}
    for key in record_keys(record):
        sender = senders.get(key)
        if sender is not None and sender != record.event_id:
            won[key] = sender
        elif sender is None:  # dropped: an applied change to it is newer
            won[key] = applied.get(key, (0, ""))[1]
    return won


def stale(lease: Lease, records: Sequence[EventRecord], applied: Mapping[str, tuple[int, str]]) -> None:
    """Events none of whose values was sent: a newer change to each field had been applied."""
    for record in records:
        won = stale_fields(record, {}, applied)
        winners = sorted({w for w in won.values() if w})
        lease.settlement.outcomes.append(
            Outcome(
                record.event_id,
                EventStatus.STALE,
                fields={"stale_fields": orjson.dumps(won).decode()},
                history={"why": "a newer change to the same fields was already applied", "newer": winners},
            )
        )


def settle_sent(
    lease: Lease,
    live: list[EventRecord],
    coalesced: CoalescedChange,
    plan: WritePlan,
    missed: list[NotApplied],
    applied: Mapping[str, tuple[int, str]],
) -> None:
    """Every call answered. Each event is applied with the keys whose value it sent and
    ChartMogul kept; a dead letter `not_applied` when a value it sent was not kept; stale when
    none of its values was sent (newer events won every field). `applied`: the customer's
    applied state before this delivery (who won the keys dropped as stale)."""
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
    senders = coalesced.senders
    for record in live:
        mine = by_event.get(record.event_id, [])
        own = [k for k in record_keys(record) if senders.get(k) == record.event_id]
        took = joined_keys([k for k in own if k not in not_kept])
        won = stale_fields(record, senders, applied)
        common: dict[str, str | int] = {
            "http_status": 200,
            "idempotency_key": key,
            "attempts": record.attempts + 1,
            **({"stale_fields": orjson.dumps(won).decode()} if won else {}),
            **({"delivered_with": delivered_with(record, live)} if len(live) > 1 else {}),
        }
        if mine:
            message = "ChartMogul answered 200 but did not keep " + "; ".join(map(str, mine))
            extra = {**common, "applied_fields": took, "not_applied": "; ".join(map(str, mine))}
            reason = DeadLetterReason.NOT_APPLIED
            # An owner who is not a ChartMogul user yet: this waits until a change to that owner takes.
            owners = tuple(owner_cause(str(m.sent)) for m in mine if m.field == "owner" and m.sent)
            dead_letter(lease, [record], reason, message, status=200, plan=plan, extra=extra, causes=owners)
            continue
        if not own:  # every value it carried was superseded by a newer event of this delivery
            lease.settlement.outcomes.append(
                Outcome(
                    record.event_id,
                    EventStatus.STALE,
                    fields={**common, "patch": sent},
                    history={
                        "why": "newer events of the same delivery won its fields",
                        "newer": sorted(set(won.values())),
                    },
                )
            )
            continue
        lease.settlement.outcomes.append(
            Outcome(
                record.event_id,
                EventStatus.APPLIED,
                fields={**common, "patch": sent, "applied_fields": took},
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
    owner = plan.patch.get("owner")
    if owner and isinstance(owner, str) and "owner" not in not_kept:
        detail = f"{owner} was kept for {lease.customer}"
        lease.settlement.resolved.append((ReplayTrigger.OWNER_APPLIED, owner_cause(owner), detail))
    # A value not kept is not applied: an older change to that field may still set it.
    kept = {k: at for k, at in coalesced.field_times.items() if k not in not_kept}
    lease.settlement.applied_fields.update(kept)
    lease.settlement.applied_by.update({k: senders[k] for k in kept if k in senders})
    lease.settlement.clear_inflight = True


def recovered(lease: Lease, records: Sequence[EventRecord], inflight: Inflight) -> None:
    """A dead worker's calls all landed (workers/recovery.py): its events are applied, each with
    the keys whose value it sent (all of them for plans written before senders were kept)."""
    senders = inflight.field_senders
    sent = orjson.dumps(inflight.body).decode()
    for record in records:
        own = [k for k in record_keys(record) if senders.get(k, record.event_id) == record.event_id]
        lease.settlement.outcomes.append(
            Outcome(
                record.event_id,
                EventStatus.APPLIED,
                fields={
                    "idempotency_key": inflight.idempotency_key,
                    "patch": sent,
                    "attempts": record.attempts + 1,
                    "applied_fields": joined_keys(own),
                },
                history={"idempotency_key": inflight.idempotency_key, "recovered": True},
            )
        )
    lease.settlement.applied_fields.update(inflight.field_times)
    lease.settlement.applied_by.update(senders)
    lease.settlement.clear_inflight = True


def dead_letter(
    lease: Lease,
    records: Sequence[EventRecord],
    reason: DeadLetterReason | None,
    message: str,
    *,
    status: int | None = None,
    plan: WritePlan | None = None,
    extra: dict[str, str | int] | None = None,
    sent: bool = True,
    causes: tuple[str, ...] | None = None,
    recheck_links: bool = False,
) -> None:
    """Dead letters. `sent`: the plan's calls reached ChartMogul (each event counts an attempt,
    the record shows them as sent); an invalid_change never spends a call, so its plan is only
    what would have been sent. `causes`: what they wait for (by default, by the reason: a
    `customer_not_found` one the link of its record or key, a `retries_exhausted` one
    ChartMogul's health); `recheck_links`: they reached no customer at all (see Outcome)."""
    reason = reason or DeadLetterReason.REJECTED
    fields: dict[str, str | int] = {"reason": reason.value, "error": message}
    if status is not None:
        fields["http_status"] = status
    if plan is not None:
        fields["patch" if sent else "planned_calls"] = orjson.dumps(plan.to_json()["calls"]).decode()
    fields.update(extra or {})
    lease.settlement.outcomes += [
        Outcome(
            r.event_id,
            EventStatus.DEAD,
            fields={"attempts": r.attempts + 1, **fields} if sent and status is not None else fields,
            history={"reason": reason.value, "error": message},
            causes=waits_for(r, reason) if causes is None else causes,
            recheck_links=recheck_links,
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


def waits_for(record: EventRecord, reason: DeadLetterReason) -> tuple[str, ...]:
    """What a dead letter of `reason` waits for, unless its caller knows better."""
    if reason is DeadLetterReason.RETRIES_EXHAUSTED:
        return (RETRIES_EXHAUSTED,)
    if reason is DeadLetterReason.CUSTOMER_NOT_FOUND and record.change is not None:
        return tuple(link_cause(f) for f in link_fields(record.change.customer))
    return ()
