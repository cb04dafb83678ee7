"""Merges: CRM records merged into one, their links following the surviving record.

A merge event (HubSpot's `company.merge`/`contact.merge`, Pipedrive's delete with
`merged_to_id` or change with `merged_from_id`, a HubSpot contact workflow body's `merged-vids`)
waits in the surviving record's queue with its other events. Before that record's customer is
resolved, its merges are applied to the link table (one atomic script each, relay/store/links.py):

    none of the records is linked      nothing to move                          applied
    they name one customer             the surviving record is linked to it     applied
    they name two customers            nothing changes; a dead letter `link_conflict` naming
                                       both records and both customers: never a silent pick

The merged records keep their own links, so a late event of theirs still finds its customer.
"""

from __future__ import annotations

from collections.abc import Sequence

from relay.logs import get_logger
from relay.store import DeadLetterReason, EventRecord, EventStatus, Outcome
from relay.store.links import Links, Merged
from workers.outcomes import Lease, dead_letter

log = get_logger("relay.delivery")


async def apply_merges(links: Links, lease: Lease, records: Sequence[EventRecord]) -> list[EventRecord]:
    """Apply the merges among `records`, settling the events that only merge; the records left
    to resolve and deliver."""
    rest: list[EventRecord] = []
    for record in records:
        change = record.change
        if change is None or not change.merged_records or not change.customer.crm_record:
            rest.append(record)
            continue
        surviving, merged = change.customer.crm_record, change.merged_records
        result = await links.merge(surviving, merged)
        if result.outcome == "conflict":
            dead_letter(lease, [record], DeadLetterReason.LINK_CONFLICT, conflict(surviving, merged, result))
            continue
        what = done(surviving, result)
        log.info("records_merged", event_id=record.event_id, into=surviving, merged=merged, links=what)
        if change.touches_customer:
            rest.append(record)  # its own changes are delivered like any other
        else:
            lease.settlement.outcomes.append(
                Outcome(record.event_id, EventStatus.APPLIED, fields={"merge": what}, history={"merge": what})
            )
    return rest


def done(surviving: str, result: Merged) -> str:
    if result.outcome == "moved":
        return f"{surviving} is now linked to {result.uuid}, as {result.record} was"
    if result.outcome == "kept":
        return f"{surviving} stays linked to {result.uuid}; no merged record names another customer"
    return "no link to move: none of the merged records is linked"


def conflict(surviving: str, merged: Sequence[str], result: Merged) -> str:
    return (
        f"merge conflict: {', '.join(merged)} merged into {surviving}, but {result.record} is linked "
        f"to {result.uuid} and {result.other_record} to {result.other_uuid}; link {surviving} to the "
        "right customer (`relay links import`), delete the other link (`relay links delete`), "
        "then replay this event"
    )
