"""One search box for events: an event id, a customer uuid, a CRM record
(`hubspot:company:9001`, or the bare `9001`), an external id, an email, or a company name.

    found = await resolve(store, "9001")       # what the text names
    page = await search_events(store, found, EventFilter.parse(status="dead"), limit=50)

Exact names first: the text is tried as an event id and as each kind of customer key, and a
key counts when events are indexed under it or the link table (or a cached look-up) maps it to
a ChartMogul uuid; then every key of that customer counts too (relay/admin/customers.py).
Only when nothing exact is known is the text looked for in the events themselves (company,
name, email, and the references the CRM sent), newest first, a bounded number of records
(relay/store/eventlog.py: MAX_SCAN): the customers of those that carry it count, with all
their keys, so "Acme" finds every event of Acme's customer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from relay.admin.customers import find_customer
from relay.admin.queries import EventFilter, list_events
from relay.crms import SOURCE_OBJECTS
from relay.sources.records import record_key
from relay.store import EventRecord, Store
from relay.store.eventlog import Page

MAX_TEXT = 200
TEXT_FIELDS = ("company", "name", "email")
# How many events naming a text (newest first) lead to their customers, at most.
NAMED_CUSTOMERS = 20


@dataclass(frozen=True, slots=True)
class Found:
    text: str
    event_id: str | None = None  # an event with exactly this id
    # Customer keys whose events match, and for each uuid the key that led to it.
    customers: tuple[str, ...] = ()
    via: dict[str, str] = field(default_factory=dict)

    @property
    def is_exact(self) -> bool:
        return self.event_id is not None or bool(self.customers)


def crm_records(text: str, sources: Collection[str] = ()) -> list[str]:
    """The CRM records a text may name: itself when written `source:object:id` (a built-in CRM,
    or one of `sources`: those declared by a file), else every built-in CRM's objects with the
    text as id (`9001` → `hubspot:company:9001`, …)."""
    source, _, rest = text.partition(":")
    if rest and ":" in rest and (source in SOURCE_OBJECTS or source in sources):
        return [text]
    if ":" in text or "@" in text or " " in text:
        return []
    return [record_key(crm, obj.lower(), text) for crm, objects in SOURCE_OBJECTS.items() for obj in objects]


def customer_keys(text: str, sources: Collection[str] = ()) -> list[str]:
    """Customer keys (CustomerRef.key) the text may be: a uuid, a key as written, a CRM record,
    an external id, an email."""
    if text.startswith("cus_"):
        return [text]
    if text.startswith(("crm:", "ext:", "extn:", "email:", "uuid:")):
        return [text]
    found = [f"crm:{record}" for record in crm_records(text, sources)]
    if "@" in text:
        found.append(f"email:{text.lower()}")
    elif " " not in text:
        found.append(f"ext:*:{text}")
    return found


async def resolve(store: Store, text: str, sources: Collection[str] = ()) -> Found:
    """What `text` names (`sources`: the declared sources, whose records it may name too)."""
    text = text.strip()[:MAX_TEXT]
    if not text:
        return Found(text)
    event_id = text if await store.ledger.event(text) is not None else None
    customers: dict[str, None] = {}
    via: dict[str, str] = {}

    async def add(key: str, led_by: str | None) -> None:
        customer = await find_customer(store, key)
        if customer.uuid is None and not await store.log.has_events(key):
            return
        for name in customer.keys:
            if name == customer.uuid or await store.log.has_events(name):
                customers[name] = None
        if customer.uuid and customer.uuid != key and led_by:
            via.setdefault(customer.uuid, led_by)

    for key in customer_keys(text, sources):
        await add(key, key.removeprefix("crm:"))
    if not customers and event_id is None:
        # A name no key holds (a company name): the customers of the newest events that carry
        # it, so every event of theirs is found, not only those that named it.
        named = await store.log.events(
            customer=None,
            matches=lambda r: text_matches(r, text),
            since_ms=None,
            until_ms=None,
            cursor=None,
            limit=NAMED_CUSTOMERS,
        )
        for record in named.records:
            await add(record.customer, None)
    return Found(text, event_id, tuple(customers), via)


def text_matches(record: EventRecord, text: str) -> bool:
    """The text appears in what the event's change says about its customer (case ignored)."""
    needle = text.lower()
    change = record.change
    if change is None:
        return needle in record.event_id.lower()
    ref = change.customer
    named = [record.event_id, ref.uuid, ref.external_id, ref.email, ref.crm_record]
    named += [change.fields.get(name) for name in TEXT_FIELDS]
    contact = change.fields.get("primary_contact")
    if isinstance(contact, dict):
        named += [contact.get("email"), contact.get("first_name"), contact.get("last_name")]
    return any(isinstance(value, str) and needle in value.lower() for value in named)


async def search_events(
    store: Store, found: Found, query: EventFilter, *, limit: int, cursor: str | None = None
) -> Page:
    """The events the search finds that pass the filter, newest first."""
    if not found.text:
        return await list_events(store, query, limit=limit, cursor=cursor)
    if found.customers:
        page = await store.log.events_of(
            found.customers,
            matches=query.matches,
            since_ms=query.since_ms,
            until_ms=query.until_ms,
            cursor=cursor,
            limit=limit,
        )
    elif found.event_id is not None:
        page = Page([], None)
    else:
        return await store.log.events(
            customer=None,
            matches=lambda r: query.matches(r) and text_matches(r, found.text),
            since_ms=query.since_ms,
            until_ms=query.until_ms,
            cursor=cursor,
            limit=limit,
        )
    if found.event_id is not None and cursor is None:
        record = await store.ledger.event(found.event_id)
        listed = {r.event_id for r in page.records}
        if record is not None and query.matches(record) and record.event_id not in listed:
            page.records.insert(0, record)
    return page
