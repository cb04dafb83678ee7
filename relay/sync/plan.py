"""Planning a sync: each export record mapped as a whole snapshot (the webhooks' mapping,
transforms and validation), its customer found, and compared with what ChartMogul holds.

    planner = Planner(mapping, shape, account, links, applied=…, occurred_at_ms=…)
    for item in planner.plan(read_export(path, shape, mapping)):   # streamed
        …
    planner.totals

Customers are found as delivery finds them, without a call per record: the record's own link
property (cus_…), the link table, then the mapping's external_id or email link in the account
read once through the paged list.

A difference is sent only when the record is newer than what was applied to that field: a
change applied after the record's time (`--as-of` for a file; for a record read from the CRM's
API, when the CRM last changed it) wins, and the field is reported stale with the event that
won, never enqueued to be found stale at delivery.

An event's id is the record's and a digest of what it changes, as of when, and which applied
events it overrides: the same difference at the same time is one event (the ledger accepts it
once, however often a sync runs), while a later time, a changed value, or ChartMogul drifting
again after that event was applied (its override is then the applied event) makes a new one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from relay.changes import CREATE, CustomerChange, CustomerRef
from relay.crms import SYNC_SOURCE
from relay.events import ParsedEvent
from relay.mapping.apply import Mapped, map_record
from relay.mapping.rules import SourceMapping
from relay.sources.records import CrmRecords
from relay.sync.account import Account, list_calls
from relay.sync.diff import Difference, FieldChange, difference
from relay.sync.readers import ExportRecord, Item, Skipped

_KEPT_PROBLEMS = 50  # skipped and unmatched records named in the totals (all go to --unmatched)


@dataclass(frozen=True, slots=True)
class StaleChange:
    """A difference not sent: a change newer than --as-of was applied to the field."""

    change: FieldChange
    newer_event: str  # "" when the applied state does not name it
    newer_at_ms: int

    def field_keys(self) -> list[str]:
        """The field keys not sent, as records name them ("city", "tag:vip", "custom:CAC")."""
        if self.change.name == "tags":
            return [f"tag:{tag}" for tag in self.change.new]
        return [field_key(self.change.name)]


def field_key(name: str) -> str:
    """A difference's field ("city", "custom.CAC") as records and the applied state name it."""
    return f"custom:{name.removeprefix('custom.')}" if name.startswith("custom.") else name


@dataclass(slots=True)
class Planned:
    record: ExportRecord
    crm_record: str
    uuid: str | None
    occurred_at_ms: int = 0  # the time its difference is as of (stale checks, event)
    why_unmatched: str = ""
    changes: list[FieldChange] = field(default_factory=list)
    stale: list[StaleChange] = field(default_factory=list)
    event: ParsedEvent | None = None  # None: unmatched, unchanged or only stale


@dataclass(slots=True)
class Totals:
    records_read: int = 0
    matched: int = 0
    unmatched: int = 0
    unchanged: int = 0
    to_change: int = 0
    to_create: int = 0  # unmatched records the mapping's `unmatched = "create"` makes leads of
    stale_only: int = 0  # records whose every difference is stale: nothing to send
    stale: int = 0  # records with a difference not sent: a newer change was applied
    skipped: int = 0
    fields: Counter[str] = field(default_factory=Counter)
    stale_fields: Counter[str] = field(default_factory=Counter)
    unmatched_why: Counter[str] = field(default_factory=Counter)
    skipped_records: list[str] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def api_calls(self) -> int:
        return sum(self.calls.values())

    def to_json(self, rate_per_s: float) -> dict[str, Any]:
        calls = self.api_calls()
        return {
            "records_read": self.records_read,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "unmatched_why": dict(self.unmatched_why),
            "unchanged": self.unchanged,
            "to_change": self.to_change,
            "to_create": self.to_create,
            "stale_only": self.stale_only,
            "stale": self.stale,
            "stale_fields": dict(self.stale_fields.most_common()),
            "skipped": self.skipped,
            "skipped_records": self.skipped_records,
            "fields_to_change": dict(self.fields.most_common()),
            "api_calls": calls,
            "api_calls_by_kind": dict(self.calls),
            "seconds_at_rate": round(calls / rate_per_s, 1),
            "rate_per_s": rate_per_s,
        }


class Planner:
    def __init__(
        self,
        mapping: SourceMapping,
        shape: CrmRecords,
        account: Account,
        links: Mapping[str, str],
        *,
        occurred_at_ms: int,
        applied: Mapping[str, Mapping[str, tuple[int, str]]] | None = None,
        origin: str = "export",
    ) -> None:
        self.mapping = mapping
        self.shape = shape
        self.account = account
        self.links = links
        self.occurred_at_ms = occurred_at_ms  # a record's time when it has none of its own
        self.origin = origin  # where records come from, for events' notes: "export", "API"
        # customer uuid → field key → (occurred ms, event) of the newest change applied to it
        self.applied = applied or {}
        self.totals = Totals()
        self.totals.calls["list"] = list_calls(len(account.customers))

    def plan(self, items: Iterable[Item]) -> Iterator[Planned | Skipped]:
        for item in items:
            if isinstance(item, Skipped):
                self.totals.skipped += 1
                if len(self.totals.skipped_records) < _KEPT_PROBLEMS:
                    self.totals.skipped_records.append(f"{item.where}: {item.why}")
                yield item
                continue
            self.totals.records_read += 1
            yield self.plan_one(item)

    def plan_one(self, record: ExportRecord) -> Planned:
        totals = self.totals
        crm_record = self.shape.crm_record(record.record_id)
        mapped = map_record(self.mapping, self.shape.object_type, record.properties)
        at_ms = self.occurred_at_ms if record.occurred_at_ms is None else record.occurred_at_ms
        uuid, why = self._find(crm_record, mapped)
        if uuid is None:
            lead = self._lead(record, crm_record, mapped, at_ms, why)
            if lead is None:
                totals.unmatched += 1
                totals.unmatched_why[why.split(":")[0]] += 1
                return Planned(record, crm_record, None, at_ms, why)
            totals.to_create += 1
            totals.calls["create"] += 1
            changes = [FieldChange(name, None, value) for name, value in mapped.fields.items()]
            changes += [FieldChange(f"custom.{k}", None, v) for k, v in mapped.custom_set.items()]
            changes += [FieldChange("tags", [], mapped.tags_add)] if mapped.tags_add else []
            return Planned(record, crm_record, None, at_ms, why, changes=changes, event=lead)
        totals.matched += 1
        diff = difference(mapped, self.account.customers[uuid])
        applied = self.applied.get(uuid, {})
        stale = self._drop_stale(diff, applied, at_ms)
        if stale:
            totals.stale += 1
            totals.stale_fields.update(s.change.name for s in stale)
        if diff.is_empty:
            if stale:
                totals.stale_only += 1
            else:
                totals.unchanged += 1
            return Planned(record, crm_record, uuid, at_ms, stale=stale)
        totals.to_change += 1
        totals.fields.update(change.name for change in diff.shown)
        totals.calls.update(_calls(diff))
        event = self._event(record, crm_record, uuid, mapped, diff, at_ms, applied)
        event.change.stale = {key: s.newer_event for s in stale for key in s.field_keys()}
        return Planned(record, crm_record, uuid, at_ms, changes=diff.shown, stale=stale, event=event)

    @staticmethod
    def _drop_stale(
        diff: Difference, applied: Mapping[str, tuple[int, str]], at_ms: int
    ) -> list[StaleChange]:
        """Take out of `diff` what a change newer than the record (`at_ms`) already set
        (delivery would find it stale); what was taken, with the event that won."""
        stale: list[StaleChange] = []

        def newer(key: str) -> tuple[int, str] | None:
            found = applied.get(key)
            return found if found is not None and found[0] > at_ms else None

        for change in list(diff.shown):
            if change.name == "tags":
                keep = [t for t in diff.tags_add if newer(f"tag:{t}") is None]
                gone = [t for t in diff.tags_add if t not in keep]
                if not gone:
                    continue
                at, event = max(n for t in gone if (n := newer(f"tag:{t}")) is not None)
                diff.tags_add = keep
                stale.append(StaleChange(FieldChange("tags", change.current, gone), event, at))
                if keep:
                    continue
            else:
                found = newer(field_key(change.name))
                if found is None:
                    continue
                diff.fields.pop(change.name, None)
                diff.custom_set.pop(change.name.removeprefix("custom."), None)
                stale.append(StaleChange(change, found[1], found[0]))
            diff.shown.remove(change)
        return stale

    def _find(self, crm_record: str, mapped: Mapped) -> tuple[str | None, str]:
        customers = self.account.customers
        if mapped.link_uuid:
            if mapped.link_uuid in customers:
                return mapped.link_uuid, ""
            return (
                None,
                f"unknown uuid: {self.mapping.link_property} holds {mapped.link_uuid}, no such customer",
            )
        if linked := self.links.get(crm_record):
            if linked in customers:
                return linked, ""
            return None, f"unknown uuid: linked to {linked}, no such customer"
        for key, index, what in (
            (mapped.link_external_id, self.account.by_external_id, "external_id"),
            (mapped.link_email and mapped.link_email.lower(), self.account.by_email, "email"),
        ):
            if key:
                found = index.get(key, [])
                if len(found) == 1:
                    return found[0], ""
                if found:
                    return (
                        None,
                        f"ambiguous: {len(found)} customers have {what} {key}: {', '.join(found[:5])}",
                    )
                return None, f"no match: no customer has {what} {key}"
        return None, f"no link: {crm_record} has no link (relay links suggest, then relay links import)"

    def _event(
        self,
        record: ExportRecord,
        crm_record: str,
        uuid: str,
        mapped: Mapped,
        diff: Difference,
        at_ms: int,
        applied: Mapping[str, tuple[int, str]],
    ) -> ParsedEvent:
        change = CustomerChange(
            event_id=self._event_id(record, diff, at_ms, applied),
            source=SYNC_SOURCE,
            occurred_at_ms=at_ms,
            customer=CustomerRef(uuid=uuid, crm_record=crm_record),
            fields=diff.fields,
            tags_add=diff.tags_add,
            custom_set=diff.custom_set,
            custom_types=diff.custom_types,
            notes=[f"{self.shape.source} {self.origin} {record.where}", *mapped.notes],
        )
        links = {crm_record: mapped.link_uuid} if mapped.link_uuid else {}
        return ParsedEvent(change=change, raw=record.raw, links=links)

    def _lead(
        self, record: ExportRecord, crm_record: str, mapped: Mapped, at_ms: int, why: str
    ) -> ParsedEvent | None:
        """With `unmatched = "create"`, the event a record no customer matches (no link, no
        match; never an ambiguous one) becomes: a worker creates its lead, links it and applies
        the whole record, as for a webhook's (workers/unmatched.py). None otherwise."""
        policy = self.mapping.unmatched_for(self.shape.object_type)
        if policy != CREATE or not why.startswith(("no link", "no match")) or mapped.is_empty:
            return None
        diff = Difference(
            fields=mapped.fields,
            tags_add=mapped.tags_add,
            custom_set=mapped.custom_set,
            custom_types=mapped.custom_types,
            shown=[],
        )
        change = CustomerChange(
            event_id=self._event_id(record, diff, at_ms, {}),
            source=SYNC_SOURCE,
            occurred_at_ms=at_ms,
            # As a webhook's event names it (mapping/apply.py): a worker looks the customer up by
            # the mapping's external_id or email before creating a lead, and a look-up that finds
            # one later re-queues the event if it waits.
            customer=CustomerRef(
                crm_record=crm_record,
                external_id=mapped.link_external_id,
                data_source_uuid=self.mapping.link_data_source_uuid if mapped.link_external_id else None,
                email=mapped.link_email,
            ),
            fields=mapped.fields,
            tags_add=mapped.tags_add,
            custom_set=mapped.custom_set,
            custom_types=mapped.custom_types,
            notes=[f"{self.shape.source} {self.origin} {record.where}", *mapped.notes],
            unmatched=CREATE,
        )
        return ParsedEvent(change=change, raw=record.raw)

    def _event_id(
        self, record: ExportRecord, diff: Difference, at_ms: int, applied: Mapping[str, tuple[int, str]]
    ) -> str:
        """The record's id and a digest of what the event changes, as of when, and the applied
        events whose values it replaces: the same difference at the same time is one event (the
        ledger accepts it once), a later time or a changed value a new one — and so is the same
        difference once an event that set it was applied and ChartMogul drifted back, since the
        applied event now stands where the difference was. Ids: letters, digits and `_ . : -`
        (a generic id's alphabet)."""
        keys = [*diff.fields, *(f"tag:{t}" for t in diff.tags_add), *(f"custom:{k}" for k in diff.custom_set)]
        replaced = {key: f"{applied[key][0]}:{applied[key][1]}" for key in keys if key in applied}
        what = orjson.dumps(
            [at_ms, diff.fields, sorted(diff.tags_add), diff.custom_set, *([replaced] if replaced else [])],
            option=orjson.OPT_SORT_KEYS,
        )
        digest = hashlib.sha256(what).hexdigest()[:16]
        return f"{SYNC_SOURCE}:{self.shape.source}:{record.record_id}"[:180] + f":{digest}"


def _calls(diff: Difference) -> Counter[str]:
    """The calls delivering `diff` costs: one per kind (PATCH, tag add, custom set)."""
    calls: Counter[str] = Counter()
    if diff.fields:
        calls["update"] += 1
    if diff.tags_add:
        calls["tags"] += 1
    if diff.custom_set:
        calls["custom"] += 1
    return calls
