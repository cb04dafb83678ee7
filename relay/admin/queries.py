"""Reading the event log and the dead-letter queue: filters, time specs, cursors, public views.

One module for both surfaces: `GET /admin/...` and `relay events|dlq ...` parse their inputs
with `EventFilter.parse` / `DeadLetterFilter.parse` and page with `list_events` /
`list_dead_letters`; a bad input raises `QueryError` (HTTP 400, or a CLI usage error).

Listings are newest first; the store pages them (relay/store/eventlog.py) and hands out
opaque cursors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from relay.store import EventRecord, EventStatus, Store, now_ms
from relay.store.eventlog import Page
from relay.store.eventlog import QueryError as QueryError  # raised for bad cursors too

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_DURATION_MS = 100 * 365 * 86_400_000
EVENT_STATUSES: tuple[str, ...] = tuple(status.value for status in EventStatus)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# Detail fields stored as strings that are numbers to operators.
_INT_FIELDS = ("http_status", "coalesced_with")


# --- times ------------------------------------------------------------------------------


def parse_duration_ms(text: str) -> int | None:
    """ "90s", "30m", "1h", "1h30m", "7d", "2w", "500ms" → milliseconds; None if not a duration."""
    text = text.strip().lower()
    if not text:
        return None
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_MS[match.group(2)]
        position = match.end()
    if position != len(text):
        return None
    if total > MAX_DURATION_MS:
        raise QueryError(f"{text!r} is longer ago than anything the relay keeps")
    return int(total)


def parse_time(text: str, *, now: int | None = None) -> int:
    """A point in time (ms): a duration means that long ago; else an ISO 8601 time (UTC if naive)."""
    now = now_ms() if now is None else now
    duration = parse_duration_ms(text)
    if duration is not None:
        return now - duration
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(
            f"{text!r} is neither a duration (30m, 1h, 7d) nor an ISO time (2026-11-20T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso(ms: int | None) -> str | None:
    """ms as ISO 8601 UTC; None for no time and for one no calendar can show (a stored
    occurred_at of 10**17 ms: the `_ms` field beside it still says what is stored)."""
    if not ms:
        return None
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    return parse_time(value, now=now) if value else None


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
    ) -> EventFilter:
        now = now_ms() if now is None else now
        if status and status not in EVENT_STATUSES:
            raise QueryError(f"status must be one of {', '.join(EVENT_STATUSES)}")
        since_ms, until_ms = _optional_time(since, now), _optional_time(until, now)
        _check_range(since_ms, until_ms)
        return cls(customer or None, status or None, source or None, since_ms, until_ms)

    def matches(self, record: EventRecord) -> bool:
        return (
            (self.status is None or record.status == self.status)
            and (self.source is None or record.source == self.source)
            and (self.customer is None or record.customer == self.customer)
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
    ) -> DeadLetterFilter:
        now = now_ms() if now is None else now
        http_status: int | None = None
        if status is not None and status != "":
            try:
                http_status = int(status)
            except (TypeError, ValueError):
                raise QueryError(f"status is ChartMogul's HTTP status (e.g. 400), not {status!r}") from None
        since_ms, until_ms = _optional_time(since, now), _optional_time(until, now)
        _check_range(since_ms, until_ms)
        return cls(source or None, reason or None, http_status, customer or None, since_ms, until_ms)

    @classmethod
    def from_document(cls, doc: object, *, now: int | None = None) -> DeadLetterFilter:
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
            and (self.customer is None or record.customer == self.customer)
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


# --- listing ----------------------------------------------------------------------------


def page_public(page: Page, name: str) -> dict[str, Any]:
    return {name: [public_record(r) for r in page.records], "next_cursor": page.next_cursor}


async def list_events(
    store: Store, query: EventFilter, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page:
    return await store.log.events(
        customer=query.customer,
        matches=query.matches,
        since_ms=query.since_ms,
        until_ms=query.until_ms,
        cursor=cursor,
        limit=limit,
    )


async def list_dead_letters(
    store: Store, query: DeadLetterFilter, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> Page:
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
    """The record as the admin API and `--json` show it: typed numbers, JSON parsed, ISO times."""
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
    if isinstance(view.get("patch"), str):
        view["patch"] = _json_or_text(view["patch"])
    if with_raw:
        view["raw"] = _json_or_text(record.raw)
    return view


async def event_detail(store: Store, event_id: str) -> dict[str, Any] | None:
    """The record (with its CRM payload) and its whole history, or None if unknown or expired."""
    record = await store.ledger.event(event_id)
    if record is None:
        return None
    return {"event": public_record(record, with_raw=True), "history": await store.ledger.history(event_id)}
