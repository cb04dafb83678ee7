"""Reading the event log and the dead-letter queue: filters, time specs, cursors, public views.

One module for both surfaces: `GET /admin/...` and `relay events|dlq ...` parse their inputs
with `EventFilter.parse` / `DeadLetterFilter.parse` and page with `list_events` /
`list_dead_letters`; a bad input raises `QueryError` (HTTP 400, or a CLI usage error).

Listings are newest first; the store pages them (relay/store/eventlog.py) and hands out
opaque cursors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from relay.admin.advice import next_step
from relay.crms import KNOWN_SOURCES, SYNC_SOURCE
from relay.queue import mirrored_event_id
from relay.store import DEAD_LETTER_REASONS, EventRecord, EventStatus, Store, now_ms
from relay.store.eventlog import Page
from relay.store.eventlog import QueryError as QueryError  # raised for bad cursors too
from relay.times import TimeSpecError, iso, parse_time

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
EVENT_STATUSES: tuple[str, ...] = tuple(status.value for status in EventStatus)


def event_sources(declared: Iterable[str] = ()) -> tuple[str, ...]:
    """What an event's source may be: a webhook source (built in, or `declared` by a file in
    RELAY_MAPPING_DIR), or `relay sync`."""
    return (*KNOWN_SOURCES, *sorted(set(declared) - set(KNOWN_SOURCES)), SYNC_SOURCE)


SOURCES: tuple[str, ...] = event_sources()
# Detail fields stored as strings that are numbers to operators.
_INT_FIELDS = ("http_status", "coalesced_with")


def parse_limit(value: str | int | None, *, default: int = DEFAULT_LIMIT) -> int:
    if value is None or value == "":
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise QueryError(f"limit must be a whole number, not {value!r}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _optional_time(value: str | None, now: int) -> int | None:
    try:
        return parse_time(value, now=now) if value else None
    except TimeSpecError as exc:
        raise QueryError(str(exc)) from None


def _check_choice(name: str, value: str | None, choices: Collection[str]) -> None:
    if value and value not in choices:
        raise QueryError(f"{name} {value!r} is not one of: {', '.join(choices)}")


def _check_range(since_ms: int | None, until_ms: int | None) -> None:
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise QueryError("since is later than until")


# --- filters ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFilter:
    customer: str | None = None
    status: str | None = None
    source: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    # The names a source may have (declared ones included): not a condition of the filter.
    sources: Collection[str] = field(default=SOURCES, compare=False)

    @classmethod
    def parse(
        cls,
        *,
        customer: str | None = None,
        status: str | None = None,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        now: int | None = None,
        sources: Collection[str] = SOURCES,
    ) -> EventFilter:
        now = now_ms() if now is None else now
        if status and status not in EVENT_STATUSES:
            raise QueryError(f"status must be one of {', '.join(EVENT_STATUSES)}")
        _check_choice("source", source, sources)
        since_ms, until_ms = _optional_time(since, now), _optional_time(until, now)
        _check_range(since_ms, until_ms)
        return cls(customer or None, status or None, source or None, since_ms, until_ms, tuple(sources))

    def matches(self, record: EventRecord) -> bool:
        """The customer is not checked here: the customer's events indexes are what is read."""
        return (self.status is None or record.status == self.status) and (
            self.source is None or record.source == self.source
        )


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: since/until bound the time they were dead-lettered."""

    source: str | None = None
    reason: str | None = None
    http_status: int | None = None
    customer: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    customer_keys: frozenset[str] = frozenset()  # every key the customer is known by (customer_keys)
    # The names a source may have (declared ones included): not a condition of the filter.
    sources: Collection[str] = field(default=SOURCES, compare=False)

    @classmethod
    def parse(
        cls,
        *,
        source: str | None = None,
        reason: str | None = None,
        status: str | int | None = None,
        customer: str | None = None,
        since: str | None = None,
        until: str | None = None,
        now: int | None = None,
        sources: Collection[str] = SOURCES,
    ) -> DeadLetterFilter:
        now = now_ms() if now is None else now
        http_status: int | None = None
        if status is not None and status != "":
            try:
                http_status = int(status)
            except (TypeError, ValueError):
                raise QueryError(f"status is ChartMogul's HTTP status (e.g. 400), not {status!r}") from None
        _check_choice("source", source, sources)
        _check_choice("reason", reason, DEAD_LETTER_REASONS)
        since_ms, until_ms = _optional_time(since, now), _optional_time(until, now)
        _check_range(since_ms, until_ms)
        return cls(
            source or None,
            reason or None,
            http_status,
            customer or None,
            since_ms,
            until_ms,
            sources=tuple(sources),
        )

    @classmethod
    def from_document(
        cls, doc: object, *, now: int | None = None, sources: Collection[str] = SOURCES
    ) -> DeadLetterFilter:
        """A filter given as JSON (`POST /admin/dlq/replay {"filter": {...}}`)."""
        if not isinstance(doc, dict):
            raise QueryError("filter must be an object")
        allowed = {"source", "reason", "status", "customer", "since", "until"}
        unknown = sorted(set(doc) - allowed)
        if unknown:
            raise QueryError(
                f"unknown filter field(s): {', '.join(unknown)}; use {', '.join(sorted(allowed))}"
            )
        values: dict[str, str | int | None] = {}
        for name, value in doc.items():
            if (value is not None and not isinstance(value, str | int)) or isinstance(value, bool):
                raise QueryError(f"filter.{name} must be a string")
            values[name] = value
        return cls.parse(
            source=_str_or_none(values.get("source")),
            reason=_str_or_none(values.get("reason")),
            status=values.get("status"),
            customer=_str_or_none(values.get("customer")),
            since=_str_or_none(values.get("since")),
            until=_str_or_none(values.get("until")),
            now=now,
            sources=sources,
        )

    @property
    def is_empty(self) -> bool:
        return self == DeadLetterFilter()

    def matches(self, record: EventRecord) -> bool:
        return (
            record.status == EventStatus.DEAD
            and (self.source is None or record.source == self.source)
            and (self.reason is None or record.details.get("reason") == self.reason)
            and (self.http_status is None or record.details.get("http_status") == str(self.http_status))
            and (self.customer is None or _named_by(record, self.customer_keys or {self.customer}))
        )

    def describe(self) -> str:
        parts = [
            f"{name}={value}"
            for name, value in (
                ("source", self.source),
                ("reason", self.reason),
                ("status", self.http_status),
                ("customer", self.customer),
                ("since", iso(self.since_ms)),
                ("until", iso(self.until_ms)),
            )
            if value is not None
        ]
        return ", ".join(parts) or "every dead letter"


def _str_or_none(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _named_by(record: EventRecord, keys: frozenset[str] | set[str]) -> bool:
    ref = record.change.customer if record.change is not None else None
    named = {
        record.customer,
        ref.key if ref else "",
        f"crm:{ref.crm_record}" if ref and ref.crm_record else "",
    }
    return bool(named & set(keys))


# --- customers --------------------------------------------------------------------------

_KEY_PREFIXES = ("crm:", "ext:", "extn:", "email:", "uuid:")


def customer_key(given: str, sources: Collection[str] = KNOWN_SOURCES) -> str:
    """How an operator names a customer → its key: a uuid (cus_…), a CRM record of one of
    `sources` (hubspot:company:9001, or crm:…), an email, an external id (ext:<data source>:<id>,
    or the bare id of events that named no data source), or a key as the relay prints it."""
    text = given.strip()
    if text.startswith("cus_") or text.startswith(_KEY_PREFIXES):
        return text
    if "@" in text:
        return f"email:{text.lower()}"
    if text.count(":") >= 2 and text.split(":")[0] in sources:
        return f"crm:{text}"
    return f"ext:*:{text}"


async def customer_keys(store: Store, given: str, sources: Collection[str] = KNOWN_SOURCES) -> frozenset[str]:
    """Every key the customer is known by: the one given, the uuid it resolved to (the link
    table, a cached look-up), and the CRM records and keys linked to that uuid. A customer's
    events are indexed under the key they named it by and, once resolved, under its uuid.
    `sources`: the webhook sources whose records a `source:object:id` may name."""
    key = customer_key(given, sources)
    found = {key}
    uuid = key if key.startswith("cus_") else None
    if uuid is None:
        record = key.removeprefix("crm:") if key.startswith("crm:") else None
        for link in (record, key):
            if link and (linked := await store.links.get(link)):
                uuid = linked
                break
        uuid = uuid or await store.links.cached_lookup(key)
    if uuid:
        found.add(uuid)
        for link, target in (await store.links.all()).items():
            if target == uuid:
                found.add(link if link.startswith(_KEY_PREFIXES) else f"crm:{link}")
    return frozenset(found)


# --- listing ----------------------------------------------------------------------------


def page_public(page: Page, name: str) -> dict[str, Any]:
    return {name: [public_record(r) for r in page.records], "next_cursor": page.next_cursor}


async def list_events(
    store: Store, query: EventFilter, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page:
    known = sorted(await customer_keys(store, query.customer, query.sources)) if query.customer else None
    return await store.log.events(
        customer=known,
        matches=query.matches,
        since_ms=query.since_ms,
        until_ms=query.until_ms,
        cursor=cursor,
        limit=limit,
    )


async def list_dead_letters(
    store: Store, query: DeadLetterFilter, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page:
    if query.customer and not query.customer_keys:
        keys = await customer_keys(store, query.customer, query.sources)
        query = dataclasses.replace(query, customer_keys=keys)
    return await store.log.dead_letters(
        matches=query.matches,
        since_ms=query.since_ms,
        until_ms=query.until_ms,
        cursor=cursor,
        limit=limit,
    )


async def matching_dead_letters(
    store: Store, query: DeadLetterFilter, *, limit: int | None = None
) -> list[EventRecord]:
    """Every dead letter the filter matches (up to `limit`), newest first: the set a bulk action acts on."""
    found: list[EventRecord] = []
    cursor: str | None = None
    while True:
        page = await list_dead_letters(store, query, limit=MAX_LIMIT, cursor=cursor)
        found.extend(page.records)
        if limit is not None and len(found) >= limit:
            return found[:limit]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


# --- views ------------------------------------------------------------------------------


def _json_or_text(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def change_document(record: EventRecord) -> dict[str, Any] | None:
    return orjson.loads(record.change.to_json()) if record.change is not None else None  # type: ignore[no-any-return]


def public_record(record: EventRecord, *, with_raw: bool = False) -> dict[str, Any]:
    """The record as the admin API and `--json` show it: typed numbers, JSON parsed, ISO times,
    the field keys its change touches, and for a dead letter what to do next."""
    view: dict[str, Any] = record.to_public()
    for name in _INT_FIELDS:
        if isinstance(view.get(name), str) and view[name].lstrip("-").isdigit():
            view[name] = int(view[name])
    for name in [n for n in view if n.endswith("_at_ms")]:
        if isinstance(view[name], str) and view[name].removeprefix("-").isdigit():
            view[name] = int(view[name])
    for name in [n for n in view if n.endswith("_at_ms")]:
        view[name.removesuffix("_ms")] = iso(view[name]) if isinstance(view[name], int) else None
    view["change"] = change_document(record)
    view["fields"] = record.change.field_keys() if record.change is not None else []
    for name in ("patch", "planned_calls", "stale_fields"):
        if isinstance(view.get(name), str):
            view[name] = _json_or_text(view[name])
    view["edited"] = "edited_at_ms" in view
    if record.status == EventStatus.DEAD:
        view["next_step"] = next_step(view.get("reason"), record.event_id)
    if with_raw:
        view["raw"] = _json_or_text(record.raw)
    return view


async def resolve_id(store: Store, given: str) -> str:
    """The event an operator means: an event id, or the dashboard's job id of a dead letter
    (`dlq-hubspot_c42`, pasted from /dashboard) when no event has that id."""
    mirrored = mirrored_event_id(given)
    if mirrored is None or mirrored == given or await store.ledger.event(given) is not None:
        return given
    return mirrored


async def resolve_ids(store: Store, given: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([await resolve_id(store, text) for text in given]))


async def event_detail(store: Store, event_id: str) -> dict[str, Any] | None:
    """The record (with its CRM payload) and its whole history, or None if unknown or expired."""
    record = await store.ledger.event(event_id)
    if record is None:
        return None
    return {"event": public_record(record, with_raw=True), "history": await store.ledger.history(event_id)}
