"""Records no ChartMogul customer matches: what their source's mapping file says they become.

    unmatched = "dead_letter"   (the default) a dead letter `customer_not_found`, re-queued by
                                itself when a link or a look-up lets it through (relay/store/replays.py)
    unmatched = "ignore"        recorded as ignored, with the reason
    unmatched = "create"        the record is created in ChartMogul as a lead, linked, and its
                                changes are delivered to it like any other customer's

A lead is `POST /v1/customers` under RELAY_CHARTMOGUL_DATA_SOURCE_UUID, its `external_id` the
record's key (`hubspot:company:8302`), its name the mapped `name` or `company` — or, before
either has arrived, a readable one ("HubSpot company 8302"; ChartMogul requires one) — and the
mapped email, lead date and plain fields that keep ChartMogul's contract. The owner, lead
status, contact, tags and custom attributes follow with the change itself (the create takes no
status, and an owner who is not a user would refuse the whole create).

Exactly once: a customer is looked for by its external_id in that data source before one is
created, and again when ChartMogul answers that the external_id is taken — so several events of
one new record (one lease: one create), a worker that died after its create landed, and two
workers racing once a lease ran out all end with one customer and one link.

A record that is only a contact (HubSpot contact, Pipedrive person, Salesforce Contact, Close
contact, a declared object with a [source.parents] entry) is never created: ChartMogul's
customers are companies. Its events wait as dead letters `customer_not_found` for its parent's
link — which the parent's own events create when they arrive — and are re-queued then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from relay import metrics
from relay.changes import AWAIT_PARENT, CREATE, IGNORE, CustomerChange, CustomerRef
from relay.chartmogul.client import ChartMogulClient
from relay.coalesce import coalesce
from relay.contract import normalize_update, validate_update
from relay.crms import record_title
from relay.exceptions import ExternalIdTaken, Rejected, Transient
from relay.logs import get_logger
from relay.store import DeadLetterReason, EventRecord, EventStatus, Outcome, ReplayTrigger
from relay.store.ledger import Ledger
from relay.store.replays import link_cause
from workers.outcomes import Lease, dead_letter
from workers.resolve import Resolution

log = get_logger("relay.delivery")

# The plain fields a create sends besides its name, when the change maps them and they keep
# the contract; the rest of the change follows as the customer's first delivery.
LEAD_FIELDS = (
    "email",
    "company",
    "lead_created_at",
    "free_trial_started_at",
    "city",
    "zip",
    "state",
    "country",
    "website_url",
)


def lead_body(crm_record: str, data_source_uuid: str, changes: Sequence[CustomerChange]) -> dict[str, Any]:
    """`POST /v1/customers` for the record the changes are about, from what they map."""
    fields = coalesce(changes).fields
    name = next(
        (v for v in (fields.get("name"), fields.get("company")) if isinstance(v, str) and v.strip()), None
    )
    candidate = normalize_update({k: fields[k] for k in LEAD_FIELDS if fields.get(k) not in (None, "")})
    broken = {v.field.partition(".")[0] for v in validate_update(candidate)}
    kept = {k: v for k, v in candidate.items() if k not in broken}
    if validate_update(kept):  # the trial and lead dates only break the rule together
        kept = {k: v for k, v in kept.items() if k not in ("lead_created_at", "free_trial_started_at")}
    return {
        "data_source_uuid": data_source_uuid,
        "external_id": crm_record,
        "name": name.strip() if name else record_title(crm_record),
        **kept,
    }


class Unmatched:
    def __init__(
        self,
        client: ChartMogulClient,
        ledger: Ledger,
        *,
        data_source_uuid: str | None,
        before_create: Callable[[Lease], Awaitable[None]],
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.data_source_uuid = data_source_uuid
        # Called with the lease before a create is sent: raises when the lease was lost.
        self.before_create = before_create

    async def settle(
        self, lease: Lease, records: Sequence[EventRecord], ref: CustomerRef, resolution: Resolution
    ) -> Resolution | None:
        """The customer created (or found) for the records, to deliver to; or None, each record
        settled as its policy says (ignored, or a dead letter waiting for a link)."""
        policies = {r.change.unmatched for r in records if r.change is not None}
        if CREATE in policies and ref.crm_record and not resolution.ambiguous:
            return await self._lead(lease, records, ref.crm_record, resolution)
        waits = tuple(link_cause(f) for f in resolution.waits_for)
        actions: set[str] = set()
        for record in records:
            policy = record.change.unmatched if record.change is not None else ""
            if policy == IGNORE and not resolution.ambiguous:
                why = f'{resolution.why_not}; its source\'s mapping says unmatched = "ignore"'
                ignored = Outcome(
                    record.event_id, EventStatus.IGNORED, fields={"reason": why}, history={"why": why}
                )
                lease.settlement.outcomes.append(ignored)
                actions.add("ignored")
                continue
            why = resolution.why_not
            if policy == AWAIT_PARENT and not resolution.ambiguous:
                why += "; " + contact_waits(ref, resolution.parent)
            reason = DeadLetterReason.CUSTOMER_NOT_FOUND
            dead_letter(lease, [record], reason, why, causes=waits, recheck_links=True)
            actions.add("dead_letter")
        for action in actions:  # a record counts once, whatever number of its events waited
            metrics.record_unmatched(action)
        return None

    async def _lead(
        self, lease: Lease, records: Sequence[EventRecord], crm_record: str, resolution: Resolution
    ) -> Resolution | None:
        data_source = self.data_source_uuid
        if not data_source:
            why = (
                f'{resolution.why_not}; unmatched = "create" cannot create it: '
                "RELAY_CHARTMOGUL_DATA_SOURCE_UUID is not set on the workers"
            )
            waits = tuple(link_cause(f) for f in resolution.waits_for)
            dead_letter(
                lease, records, DeadLetterReason.CUSTOMER_NOT_FOUND, why, causes=waits, recheck_links=True
            )
            metrics.record_unmatched("dead_letter")
            return None
        uuid = await self._find(crm_record, data_source)
        created = uuid is None
        if uuid is None:
            await self.before_create(lease)  # never create what another worker may be creating
            body = lead_body(crm_record, data_source, [r.change for r in records if r.change is not None])
            try:
                uuid = str((await self.client.create_customer(body))["uuid"])
            except ExternalIdTaken:
                # Created meanwhile (a worker whose lease ran out, or another system): that one.
                created = False
                uuid = await self._find(crm_record, data_source)
                if uuid is None:
                    raise Transient(
                        f"ChartMogul has a customer with external_id {crm_record} in {data_source} "
                        "but does not list it yet"
                    ) from None
            except Rejected as exc:
                why = f"ChartMogul refused to create the lead for {crm_record}: {exc.message}"
                dead_letter(lease, records, DeadLetterReason.REJECTED, why, status=exc.status, causes=())
                metrics.record_unmatched("dead_letter")
                return None
        action = "created" if created else "found"
        what = "lead_created" if created else "lead_found"
        detail = (
            f"{crm_record} was created in ChartMogul as {uuid}"
            if created
            else f"{crm_record} is {uuid} in ChartMogul (its external_id): an earlier attempt created it"
        )
        await self.ledger.note(
            [r.event_id for r in records],
            what,
            customer_uuid=uuid,
            external_id=crm_record,
            data_source_uuid=data_source,
        )
        metrics.record_unmatched(action)
        log.info(
            what, crm_record=crm_record, customer_uuid=uuid, data_source_uuid=data_source, events=len(records)
        )
        trigger = ReplayTrigger.LEAD_CREATED if created else ReplayTrigger.LOOKUP
        return Resolution(uuid, crm_record, trigger=trigger, detail=detail)

    async def _find(self, crm_record: str, data_source_uuid: str) -> str | None:
        found = await self.client.find_by_external_id(crm_record, data_source_uuid)
        uuids = [str(c["uuid"]) for c in found if c.get("uuid")]
        return uuids[0] if uuids else None


def contact_waits(ref: CustomerRef, parent: str | None) -> str:
    """Why a contact's events wait instead of creating a customer."""
    record = ref.crm_record or ref.key
    if parent:
        return (
            f'{record} is a contact: unmatched = "create" creates companies, not contacts; '
            f"re-queued by itself once {parent} is linked (its own events create it as a lead)"
        )
    return (
        f'{record} is a contact: unmatched = "create" creates companies, not contacts, and the CRM '
        "has named no company for it; give it one in the CRM, or link it with `relay links import`"
    )
