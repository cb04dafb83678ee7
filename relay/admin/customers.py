"""One customer across the keys its events named: the ChartMogul uuid, the CRM records linked to
it (whose events wait or died under `crm:<record>` until the link existed), and the key asked
for. Its timeline is their events merged, newest first (relay/store/eventlog.py `events_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.store import EventRecord, EventStatus, Store
from relay.store.eventlog import Page

# How CustomerRef.key writes a reference that is not a uuid (relay/changes.py).
REFERENCE_PREFIXES = ("crm:", "ext:", "extn:", "email:", "uuid:")


@dataclass(frozen=True, slots=True)
class Customer:
    key: str  # as asked for
    uuid: str | None  # None: no ChartMogul customer is known for it yet
    records: tuple[str, ...]  # CRM records linked to the uuid (or the one the key names)
    keys: tuple[str, ...]  # every customer key whose events are this customer's


async def find_customer(store: Store, key: str) -> Customer:
    record = key.removeprefix("crm:") if key.startswith("crm:") else None
    uuid: str | None = key if key.startswith("cus_") else None
    if uuid is None:
        uuid = (
            (await store.links.get(record) if record else None)
            or await store.links.get(key)
            or await store.links.cached_lookup(key)
        )
    if uuid is None:
        return Customer(key, None, (record,) if record else (), (key,))
    linked = await store.links.linked_to(uuid)
    records = tuple(name for name in linked if not name.startswith(REFERENCE_PREFIXES))
    references = [name for name in linked if name.startswith(REFERENCE_PREFIXES)]
    keys = dict.fromkeys([uuid, *(f"crm:{r}" for r in records), *references, key])
    return Customer(key, uuid, records, tuple(keys))


async def timeline(store: Store, customer: Customer, *, limit: int, cursor: str | None = None) -> Page:
    return await store.log.events_of(
        customer.keys, matches=lambda _: True, since_ms=None, until_ms=None, cursor=cursor, limit=limit
    )


async def why(store: Store, record: EventRecord) -> str:
    """In words, why the event is where it is (applied, stale, dead, waiting…)."""
    details = record.details
    if record.status == EventStatus.DEAD:
        status = f" ({details['http_status']})" if details.get("http_status") else ""
        return f"{details.get('reason', 'dead')}{status}: {details.get('error', '')}".strip(": ")
    if record.status == EventStatus.STALE:
        return _last_said(await store.ledger.history(record.event_id), "stale", "why") or "stale"
    if record.status == EventStatus.APPLIED:
        kept = details.get("applied_fields", "")
        return f"applied: {kept}" if kept else "applied"
    if record.status == EventStatus.IGNORED:
        return f"ignored: {details.get('reason') or 'nothing to change'}"
    return record.status


def _last_said(history: list[dict[str, Any]], what: str, name: str) -> str | None:
    for entry in reversed(history):
        if entry.get("what") == what and isinstance(entry.get(name), str):
            return str(entry[name])
    return None
