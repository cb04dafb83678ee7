"""Changing the dead-letter queue: replay, edit, purge. Shared by `POST /admin/dlq/*` and `relay dlq`.

Replay re-maps by default: the event's stored CRM payload (`raw`) goes through the source's
*current* mapping (`WebhookSource.remap`), so a mapping fix applies to the events it failed.
An operator's edit (`relay dlq edit`) is different: an edited dead letter is replayed as edited,
by every replay, unless `remap` asks to re-map it (which replaces the edit). `as_stored`
resends the stored change of any event. When the current mapping refuses or ignores the payload
the event is skipped, unless `force` sends the stored change. A dry run changes nothing and
shows what would be sent, and which of these it is (`mode`, `edited`, `differences`).

Every action appends to the event's history (the store writes "replayed", "edited" and
"purged"); nothing here deletes history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from relay.admin.queries import QueryError, change_document
from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS, LEAD_STATUSES, CustomerChange, CustomerRef
from relay.coalesce import coalesce, contract_violations
from relay.crms import SYNC_SOURCE
from relay.exceptions import WebhookError
from relay.logs import get_logger
from relay.sources import WebhookSource
from relay.sources.base import EARLIEST_EVENT_MS
from relay.store import EventRecord, EventStatus, Replayed, Store, now_ms

log = get_logger("relay.admin")
EDIT_CLOCK_SKEW_MS = 300_000  # RELAY_MAX_CLOCK_SKEW_S's default

# --- replay -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    dry_run: bool = False
    as_stored: bool = False
    force: bool = False
    remap: bool = False  # re-map an edited dead letter too (its edit is replaced)


@dataclass(slots=True)
class ReplayResult:
    event_id: str
    # replayed | would_replay | skipped (the current mapping refuses it) | not_dead | expired
    outcome: str
    mode: str | None = None  # remapped | as_stored
    change: CustomerChange | None = None
    differs_from_stored: bool | None = None
    warning: str | None = None
    error: str | None = None
    edited: bool = False  # an operator edited its stored change
    differences: list[str] = dataclasses.field(default_factory=list)  # re-mapped vs stored, by path

    @property
    def ok(self) -> bool:
        return self.outcome in ("replayed", "would_replay")

    def public(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "event_id": self.event_id,
            "outcome": self.outcome,
            "mode": self.mode,
            "edited": self.edited,
        }
        if self.change is not None:
            body, merged = patch_preview(self.change)
            view["customer"] = self.change.customer.key
            view["change"] = orjson.loads(self.change.to_json())
            view["patch"] = body
            view["merged_at_delivery"] = merged
            view["differs_from_stored"] = self.differs_from_stored
            view["differences"] = self.differences
        if self.warning:
            view["warning"] = self.warning
        if self.error:
            view["error"] = self.error
        return view


def patch_preview(change: CustomerChange) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The PATCH body the change makes (plain fields), and the tag and custom attribute operations
    that delivery sends to the attribute endpoints."""
    coalesced = coalesce([change])
    body = dict(coalesced.fields)
    if not coalesced.touches_attributes:
        return body, None
    return body, dataclasses.asdict(coalesced.attribute_calls())


def plan_change(
    record: EventRecord, sources: dict[str, WebhookSource], options: ReplayOptions
) -> ReplayResult:
    """What replaying `record` would send, without sending it."""
    stored = record.change
    edited = "edited_at_ms" in record.details
    if options.as_stored or record.source not in sources or (edited and not options.remap):
        if stored is None or stored.is_empty:  # (an invalid_event was never read: it has none)
            return ReplayResult(record.event_id, "skipped", error="the event has no stored change")
        warning = None
        # A sync event has no CRM payload to re-map: its change is what the sync found different.
        if not (options.as_stored or edited) and record.source != SYNC_SOURCE:
            warning = f"source {record.source!r} is not enabled here; replaying the stored change"
        return ReplayResult(
            record.event_id, "would_replay", "as_stored", stored, False, warning=warning, edited=edited
        )
    refusal: str | None = None
    remapped: CustomerChange | None = None
    try:
        parsed = sources[record.source].remap(record.raw)
    except WebhookError as exc:
        refusal = f"the current mapping refuses it: {exc.message}"
    except NotImplementedError:
        refusal = f"source {record.source!r} cannot re-map stored events"
    except Exception as exc:  # a bug in one source's mapping must not stop a bulk replay
        log.exception("remap_failed", event_id=record.event_id, source=record.source)
        refusal = f"re-mapping failed ({type(exc).__name__}; see the log)"
    else:
        if parsed.ignored_reason:
            refusal = f"the current mapping ignores it: {parsed.ignored_reason}"
        elif parsed.change.is_empty:
            refusal = "the current mapping turns it into no change"
        else:
            remapped = dataclasses.replace(parsed.change, event_id=record.event_id)
    if remapped is not None:
        differences = changed_paths(
            orjson.loads(stored.to_json()) if stored else None, orjson.loads(remapped.to_json())
        )
        warning = "re-mapping replaces the operator's edit" if edited else None
        return ReplayResult(
            record.event_id,
            "would_replay",
            "remapped",
            remapped,
            bool(differences),
            warning=warning,
            edited=edited,
            differences=differences,
        )
    if options.force and stored is not None and not stored.is_empty:
        warning = f"{refusal}; replaying the stored change (force)"
        return ReplayResult(record.event_id, "would_replay", "as_stored", stored, False, warning=warning)
    # An event never read (invalid_event) has an empty stored change: nothing to force.
    hint = " (--as-stored or --force sends the stored change)" if stored and not stored.is_empty else ""
    return ReplayResult(record.event_id, "skipped", error=f"{refusal}{hint}")


async def replay_events(
    store: Store,
    sources: dict[str, WebhookSource],
    event_ids: Sequence[str],
    options: ReplayOptions,
) -> AsyncIterator[ReplayResult]:
    """Replay each event (or plan it, on a dry run), yielding one result per event as it goes."""
    for event_id in event_ids:
        record = await store.ledger.event(event_id)
        if record is None:
            if not options.dry_run:
                await store.ledger.replay(event_id)  # drops a dangling DLQ entry and its mirror
            why = "no such event (unknown, or its record has expired); nothing to replay"
            yield ReplayResult(event_id, "expired", error=why)
            continue
        sent = record.status in (EventStatus.APPLIED, EventStatus.STALE)
        reapply = options.force and sent
        if record.status != EventStatus.DEAD and not reapply:
            hint = " (--force sends an applied event again)" if sent else ""
            yield ReplayResult(
                event_id, "not_dead", error=f"not in the dead-letter queue ({record.status}){hint}"
            )
            continue
        plan = plan_change(record, sources, options)
        if reapply and plan.change is not None:
            # Sent again as the newest change: an older occurred_at would only be found stale.
            plan.change = dataclasses.replace(plan.change, occurred_at_ms=now_ms())
        if not plan.ok or options.dry_run:
            yield plan
            continue
        change = plan.change if plan.mode == "remapped" or reapply else None
        result = await store.ledger.replay(event_id, change=change, force=reapply)
        plan.outcome = result.value
        if result is Replayed.REPLAYED:
            if change is not None and change.customer.key != record.customer:
                await store.ledger.move_customer(record, change.customer.key)
        else:
            plan.error = (
                "not in the dead-letter queue" if result is Replayed.NOT_DEAD else "its record has expired"
            )
        yield plan


# --- purge ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurgeResult:
    event_id: str
    outcome: str  # purged | would_purge | not_dead | expired

    def public(self) -> dict[str, str]:
        return {"event_id": self.event_id, "outcome": self.outcome}


async def purge_events(
    store: Store, event_ids: Sequence[str], *, dry_run: bool = False
) -> AsyncIterator[PurgeResult]:
    """Take events out of the DLQ for good (their record and history stay until they expire)."""
    for event_id in event_ids:
        if dry_run:
            dead = await store.ledger.is_dead(event_id)
            yield PurgeResult(event_id, "would_purge" if dead else "not_dead")
            continue
        yield PurgeResult(event_id, (await store.ledger.purge(event_id)).value)


# --- edit -------------------------------------------------------------------------------

_CHANGE_KEYS = frozenset(f.name for f in dataclasses.fields(CustomerChange))
_REF_KEYS = frozenset(f.name for f in dataclasses.fields(CustomerRef))
_SCALAR = (str, int, float, bool, type(None))


def _str_list(doc: dict[str, Any], name: str) -> list[str]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError(f"{name} must be a list of strings")
    return value


def _text_fields(value: object, where: str, allowed: Iterable[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise QueryError(f"{where} must be an object")
    allowed = set(allowed)
    for name, item in value.items():
        if name not in allowed:
            raise QueryError(
                f"{where}.{name} is not a ChartMogul customer field ({', '.join(sorted(allowed))})"
            )
        if name != "primary_contact" and not isinstance(item, str | None):
            raise QueryError(f'{where}.{name} must be a string (quote numbers: {name}="10115")')
    return value


def validate_change(doc: object, *, event_id: str) -> CustomerChange:
    """An edited change, checked the way the relay's own changes are built; QueryError says what is wrong."""
    if not isinstance(doc, dict):
        raise QueryError("the change must be a JSON object")
    unknown = sorted(set(doc) - _CHANGE_KEYS)
    if unknown:
        raise QueryError(f"unknown key(s) in the change: {', '.join(unknown)}")
    if doc.get("event_id") != event_id:
        raise QueryError(f"event_id must stay {event_id!r}")
    if not isinstance(doc.get("source"), str):
        raise QueryError("source must be a string")
    occurred = doc.get("occurred_at_ms")
    if not isinstance(occurred, int) or isinstance(occurred, bool):
        raise QueryError("occurred_at_ms must be a whole number of milliseconds")
    if not EARLIEST_EVENT_MS <= occurred <= now_ms() + EDIT_CLOCK_SKEW_MS:
        # As at ingest: a year-9999 change would win over every real change of its fields.
        raise QueryError("occurred_at_ms must lie between 2000-01-01 and 5 minutes from now")
    customer = doc.get("customer")
    if not isinstance(customer, dict) or set(customer) - _REF_KEYS:
        raise QueryError(f"customer must be an object with {', '.join(sorted(_REF_KEYS))}")
    if not all(isinstance(v, str | None) for v in customer.values()):
        raise QueryError("customer values must be strings")
    ref = CustomerRef(**customer)
    if ref.uuid is not None and not ref.uuid.startswith("cus_"):
        raise QueryError("customer.uuid must be a ChartMogul customer uuid (cus_…)")
    try:
        ref.key  # noqa: B018 - raises when the reference names no customer
    except ValueError as exc:
        raise QueryError(f"customer: {exc}") from None
    fields = _text_fields(doc.get("fields", {}), "fields", (*CUSTOMER_FIELDS, "primary_contact"))
    if "primary_contact" in fields:
        _text_fields(fields["primary_contact"], "fields.primary_contact", CONTACT_FIELDS)
    if fields.get("status") is not None and fields["status"] not in LEAD_STATUSES:
        raise QueryError(f"fields.status must be one of: {', '.join(LEAD_STATUSES)}")
    custom_set = doc.get("custom_set", {})
    if not isinstance(custom_set, dict) or not all(
        isinstance(v, _SCALAR) or (isinstance(v, list) and all(isinstance(i, _SCALAR) for i in v))
        for v in custom_set.values()
    ):
        raise QueryError("custom_set must map attribute names to values")
    change = CustomerChange(
        event_id=event_id,
        source=doc["source"],
        occurred_at_ms=occurred,
        customer=ref,
        fields=fields,
        tags_add=_str_list(doc, "tags_add"),
        tags_remove=_str_list(doc, "tags_remove"),
        custom_set=custom_set,
        custom_remove=_str_list(doc, "custom_remove"),
        notes=_str_list(doc, "notes"),
    )
    if change.is_empty:
        raise QueryError("the change changes nothing: give fields, tags or custom attributes")
    # The same rules as the relay's own changes, before any call is spent on it.
    violations = contract_violations(coalesce([change]))
    if violations:
        raise QueryError("ChartMogul would refuse it: " + "; ".join(violations))
    return change


def parse_value(text: str, *, as_text: bool = False) -> Any:
    """`--set` values: JSON when they parse (["vip"], 25, null, "quoted"), else the text itself."""
    if as_text and not text.startswith('"'):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def apply_assignments(
    doc: dict[str, Any], assignments: Sequence[str], unsets: Sequence[str] = ()
) -> dict[str, Any]:
    """`fields.owner=ann@acme.com`, `tags_add=["vip"]`, `custom_set.CAC=25` on a change document."""
    values: list[tuple[str, Any]] = []
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        if not sep or not path.strip():
            raise QueryError(f"--set wants path=value, not {assignment!r}")
        # ChartMogul's customer fields are text: `fields.zip=10115` stays the string "10115".
        values.append((path.strip(), parse_value(text, as_text=path.strip().startswith("fields."))))
    return set_paths(doc, values, unsets)


def set_paths(
    doc: dict[str, Any], values: Sequence[tuple[str, Any]], unsets: Sequence[str] = ()
) -> dict[str, Any]:
    """A copy of `doc` with dotted paths set (objects created on the way) and removed."""
    out: dict[str, Any] = orjson.loads(orjson.dumps(doc))
    for path, value in values:
        parts = path.split(".")
        if not all(parts):
            raise QueryError(f"{path!r} is not a path like fields.owner")
        target = out
        for part in parts[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise QueryError(f"{path}: {part} is not an object")
            target = child
        target[parts[-1]] = value
    for path in unsets:
        parts = path.strip().split(".")
        node: Any = out
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or parts[-1] not in node:
            raise QueryError(f"unset {path}: the change has no such key")
        del node[parts[-1]]
    return out


def _paths(doc: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(doc, dict) and doc:
        flat: dict[str, Any] = {}
        for name, value in doc.items():
            flat.update(_paths(value, f"{prefix}{name}."))
        return flat
    return {prefix.rstrip("."): doc}


def changed_paths(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    old, new = _paths(before or {}), _paths(after)
    return sorted(p for p in set(old) | set(new) if old.get(p, ...) != new.get(p, ...))


async def edit_change(store: Store, record: EventRecord, change: CustomerChange) -> str:
    """Store an edited change on a dead event (it stays dead): edited | not_dead | expired."""
    if change.event_id != record.event_id:
        raise QueryError("the change belongs to another event")
    changed = changed_paths(change_document(record), orjson.loads(change.to_json()))
    return (await store.ledger.edit(record, change, changed=changed)).value
