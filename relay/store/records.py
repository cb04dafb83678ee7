"""What the store hands out: event records, outcomes, and the typed answers of its operations.

The enums are StrEnums where the value is stored in Redis or shown to operators, so a record
read back compares equal to the enum and to its plain word alike.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

import orjson

from relay.changes import CustomerChange


def now_ms() -> int:
    return int(time.time() * 1000)


def history_entry(what: str, **details: Any) -> bytes:
    return orjson.dumps({"at_ms": now_ms(), "what": what, **details})


def first_history_entry(received_at_ms: int, source: str) -> dict[str, Any]:
    """The entry every event's history starts with; records of the compact layout are it."""
    return {"at_ms": received_at_ms, "what": "accepted", "source": source}


class EventStatus(StrEnum):
    QUEUED = "queued"  # waiting in its customer's pending set (or being delivered)
    APPLIED = "applied"
    STALE = "stale"  # a newer change to the same fields was applied first
    DEAD = "dead"  # in the dead-letter queue, with a reason
    IGNORED = "ignored"  # recorded in the event log only
    EXPIRED = "expired"  # its record expired before delivery (never stored: a settle outcome)
    PURGED = "purged"  # taken out of the dead-letter queue for good


class DeadLetterReason(StrEnum):
    REJECTED = "rejected"  # ChartMogul refused it (400/402/422…)
    INVALID_CHANGE = "invalid_change"  # it breaks ChartMogul's contract; never sent
    CUSTOMER_NOT_FOUND = "customer_not_found"  # no (single) ChartMogul customer matches
    RETRIES_EXHAUSTED = "retries_exhausted"  # transient failures past the retry deadline
    NOT_APPLIED = "not_applied"  # answered 200, but ChartMogul did not keep a value sent
    INVALID_EVENT = "invalid_event"  # the CRM sent something the relay cannot read (on arrival)
    LINK_CONFLICT = "link_conflict"  # a merge joined records linked to different customers


# The reasons the relay may write, which /metrics exports from the first scrape (a 0 for each).
DEAD_LETTER_REASONS: tuple[str, ...] = tuple(reason.value for reason in DeadLetterReason)


class ReplayTrigger(StrEnum):
    """Why a dead letter was re-queued without an operator: its cause went away
    (relay/store/replays.py keeps the triggers, workers/replays.py acts on them)."""

    LINK_IMPORTED = "link_imported"  # `relay links import` or the console linked its record
    LINK_SENT = "link_sent"  # the CRM sent a link property, or its record's parent
    MERGE = "merge"  # a merge moved a link to its record
    LEAD_CREATED = "lead_created"  # the relay created its record's customer (unmatched = "create")
    LOOKUP = "lookup"  # ChartMogul's look-up (external id, email) now finds its customer
    LINK_FOUND = "link_found"  # its record was linked while it was being dead-lettered
    RECOVERED = "recovered"  # the circuit is closed and deliveries have succeeded for a while
    OWNER_APPLIED = "owner_applied"  # a change setting the owner it could not set was applied

    @property
    def phrase(self) -> str:
        """How an event's history says it: "replayed: link imported"."""
        return _TRIGGER_PHRASES[self]


_TRIGGER_PHRASES = {
    ReplayTrigger.LINK_IMPORTED: "link imported",
    ReplayTrigger.LINK_SENT: "link sent by the CRM",
    ReplayTrigger.MERGE: "records merged",
    ReplayTrigger.LEAD_CREATED: "lead created",
    ReplayTrigger.LOOKUP: "customer found by a look-up",
    ReplayTrigger.LINK_FOUND: "link found",
    ReplayTrigger.RECOVERED: "ChartMogul healthy again",
    ReplayTrigger.OWNER_APPLIED: "owner applied",
}
# The triggers /metrics exports from the first scrape (relay_dlq_replayed_total{trigger}).
REPLAY_TRIGGERS: tuple[str, ...] = tuple(trigger.value for trigger in ReplayTrigger)


# A record's fields that describe its current outcome: each outcome (finish.lua) and each
# replay (replay.lua) removes them all first, so a record never shows what an earlier attempt
# found beside what the latest one did; the history keeps every attempt.
OUTCOME_FIELDS: tuple[str, ...] = (
    "reason",  # why it is dead (DeadLetterReason) or ignored
    "error",  # ChartMogul's message, or the rule broken
    "http_status",  # ChartMogul's answer to the call that decided it
    "patch",  # the calls sent (JSON), of the delivery that decided it
    "planned_calls",  # the calls that would have been sent: an invalid_change never spends one
    "applied_fields",  # the field keys whose value this event sent and ChartMogul kept
    "stale_fields",  # JSON {field key: the newer event whose value won ("" when unknown)}
    "not_applied",  # the fields ChartMogul answered 200 for but did not keep
    "idempotency_key",  # the Idempotency-Key of the delivery's calls
    "delivered_with",  # the other events of the same delivery (comma-separated, at most 10)
    "applied_by",  # the first layout's name of idempotency_key
    "applied_at_ms",
    "stale_at_ms",
    "dead_at_ms",
    "expired_at_ms",
)


def applied_value(at_ms: int, event_id: str = "") -> str:
    """How the applied-fields hash stores a field: when its newest applied change happened and
    which event that was (`relay:applied:{uuid}`; the first layout held the time alone)."""
    return f"{at_ms}:{event_id}" if event_id else str(at_ms)


def parse_applied(value: str) -> tuple[int, str]:
    """(occurred ms, event id or "") of an applied-fields hash value, of either layout."""
    at, _, event_id = value.partition(":")
    return _int(at), event_id


class Accepted(Enum):
    DUPLICATE = 0
    QUEUED = 1  # its customer was already waiting or being delivered
    READY = 2  # its customer just became ready: a worker should be woken
    IGNORED = 3  # recorded in the event log only (e.g. an unmapped deletion)
    # Its id was seen before with another change: answered as a duplicate, the conflict is
    # recorded in the first event's history.
    CONFLICTING_DUPLICATE = 4
    DEAD_LETTERED = 5  # recorded in the dead-letter queue at once (`invalid_event`)

    @property
    def is_duplicate(self) -> bool:
        return self in (Accepted.DUPLICATE, Accepted.CONFLICTING_DUPLICATE)


class Replayed(StrEnum):
    REPLAYED = "replayed"
    NOT_DEAD = "not_dead"  # not in the dead-letter queue (and not forced)
    EXPIRED = "expired"  # its record has expired; the DLQ entry was dropped


class Purged(StrEnum):
    PURGED = "purged"
    NOT_DEAD = "not_dead"
    EXPIRED = "expired"


class Edited(StrEnum):
    EDITED = "edited"
    NOT_DEAD = "not_dead"
    EXPIRED = "expired"


class Released(Enum):
    """How a delivery's lease ended (Deliveries.finish)."""

    LEASE_LOST = -1  # the lease was no longer ours: nothing was written
    IDLE = 0
    READY = 1  # more events wait: the customer is ready again
    RETRYING = 2


# --- the record's compact layout -----------------------------------------------------------------
#
# Redis keeps a hash "listpack"-encoded (a few bytes per field) only while every value is at most
# hash-max-listpack-value (64 bytes by default); one longer value turns the whole hash into a
# hashtable, ~60 bytes per field more. So the accept path stores the change and the raw payload
# in chunks of at most CHUNK_BYTES ("c:0", "c:1", … and "r:0", …), the change without the fields
# the record already holds (its id, source, time, and a customer named by uuid alone) and without
# empty defaults. The record holds no event_id (its key names it) and no attempts until the first
# one (absent: 0). The first history entry ("accepted", at received_at_ms) is the record itself:
# the history list is created by the second entry. Records of the first layout ("change", "raw",
# "event_id" and a history list from the start) and the "change" an operator's edit or a replay
# writes (it wins over the chunks) are read alike.

CHUNK_BYTES = 64
# Beyond this many chunks a payload is one field: the hash would pass hash-max-listpack-entries
# (128) anyway, and a script's arguments must stay few (Lua's unpack() has a stack limit).
MAX_CHUNKS = 32
CHANGE_CHUNK = "c:"
RAW_CHUNK = "r:"
_CHUNK_FIELD = re.compile(r"[cr]:\d+")


_NAMES = {prefix: [f"{prefix}{i}" for i in range(MAX_CHUNKS)] for prefix in (CHANGE_CHUNK, RAW_CHUNK)}


def chunk_fields(prefix: str, text: str) -> list[str]:
    """[field, value, …] storing `text` in pieces of at most CHUNK_BYTES UTF-8 bytes, never
    splitting a character (records are read back as str); one piece when it is long.
    On every accept's path: kept cheap for the usual short ASCII payload."""
    if len(text) > CHUNK_BYTES * MAX_CHUNKS:
        return [f"{prefix}0", text]
    if text.isascii():
        parts = [text[at : at + CHUNK_BYTES] for at in range(0, len(text), CHUNK_BYTES)] or [""]
    else:
        parts = []
        at = 0
        while at < len(text):
            end = min(len(text), at + CHUNK_BYTES)
            while len(text[at:end].encode()) > CHUNK_BYTES:
                end -= 1
            parts.append(text[at:end])
            at = end
        if len(parts) > MAX_CHUNKS:
            return [f"{prefix}0", text]
    out = parts * 2  # then interleaved by slice assignment: the cheapest way in CPython
    out[0::2] = _NAMES[prefix][: len(parts)]
    out[1::2] = parts
    return out


def joined_chunks(fields: dict[str, str], prefix: str) -> str | None:
    if f"{prefix}0" not in fields:
        return None
    parts, i = [], 0
    while (part := fields.get(f"{prefix}{i}")) is not None:
        parts.append(part)
        i += 1
    return "".join(parts)


def compact_change(change: CustomerChange) -> str:
    """The change as stored at accept: without event_id, source and occurred_at_ms (the record
    holds them), without a customer named by uuid alone (the record's customer) and without
    empty defaults; decode_change puts them back. On every accept's path: plain attribute reads."""
    doc: dict[str, Any] = {}
    ref = change.customer
    alone = ref.external_id is None and ref.email is None and ref.crm_record is None
    if not (alone and ref.data_source_uuid is None and ref.uuid and ":" not in ref.uuid):
        named = (
            ("uuid", ref.uuid),
            ("external_id", ref.external_id),
            ("data_source_uuid", ref.data_source_uuid),
            ("email", ref.email),
            ("crm_record", ref.crm_record),
        )
        doc["customer"] = {k: v for k, v in named if v is not None}
    if change.fields:
        doc["fields"] = change.fields
    if change.tags_add:
        doc["tags_add"] = change.tags_add
    if change.tags_remove:
        doc["tags_remove"] = change.tags_remove
    if change.custom_set:
        doc["custom_set"] = change.custom_set
    if change.custom_remove:
        doc["custom_remove"] = change.custom_remove
    if change.custom_types:
        doc["custom_types"] = change.custom_types
    if change.notes:
        doc["notes"] = change.notes
    if change.merged_records:
        doc["merged_records"] = change.merged_records
    if change.unmatched:
        doc["unmatched"] = change.unmatched
    if change.stale:
        doc["stale"] = change.stale
    return orjson.dumps(doc).decode()


def decode_change(fields: dict[str, str], event_id: str) -> CustomerChange | None:
    whole = fields.get("change")
    if whole:
        return CustomerChange.from_json(whole)
    compact = joined_chunks(fields, CHANGE_CHUNK)
    if not compact:
        return None
    doc = orjson.loads(compact)
    doc.setdefault("customer", {"uuid": fields.get("customer", "")})
    doc.setdefault("event_id", event_id)
    doc.setdefault("source", fields.get("source", ""))
    doc.setdefault("occurred_at_ms", _int(fields.get("occurred_at_ms")))
    return CustomerChange.from_json(orjson.dumps(doc))


@dataclass(slots=True)
class EventRecord:
    event_id: str
    source: str
    customer: str
    status: str
    occurred_at_ms: int
    received_at_ms: int
    attempts: int
    change: CustomerChange | None
    raw: str
    details: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, fields: dict[str, str], event_id: str = "") -> EventRecord:
        """`event_id`: the id the record was read by (compact records do not repeat it)."""
        known = {"event_id", "source", "customer", "status", "occurred_at_ms", "received_at_ms"}
        known |= {"attempts", "change", "raw"}
        return cls(
            event_id=fields.get("event_id") or event_id,
            source=fields.get("source", ""),
            customer=fields.get("customer", ""),
            status=fields.get("status", ""),
            occurred_at_ms=_int(fields.get("occurred_at_ms")),
            received_at_ms=_int(fields.get("received_at_ms")),
            attempts=_int(fields.get("attempts")),
            change=decode_change(fields, fields.get("event_id") or event_id),
            raw=fields.get("raw") or joined_chunks(fields, RAW_CHUNK) or "",
            details={k: v for k, v in fields.items() if k not in known and not _CHUNK_FIELD.fullmatch(k)},
        )

    def to_public(self) -> dict[str, Any]:
        """The record as operators see it (CLI, admin API): no internal encodings."""
        return {
            "event_id": self.event_id,
            "source": self.source,
            "customer": self.customer,
            "status": self.status,
            "occurred_at_ms": self.occurred_at_ms,
            "received_at_ms": self.received_at_ms,
            "attempts": self.attempts,
            **self.details,
        }


def _int(value: str | None) -> int:
    # A reader must survive whatever an older version (or an operator) left in a record.
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one event's delivery ended: applied, dead, stale, ignored or expired. A dead letter's
    `causes` (relay/store/replays.py) are what would let it through: it waits for them."""

    event_id: str
    status: EventStatus
    fields: dict[str, str | int] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    causes: tuple[str, ...] = ()
    # A cause of kind "link:" that holds a link already when the dead letter is written (a race
    # with the write) re-queues it at once (ReplayTrigger.LINK_FOUND); only for events that
    # reached no customer, never for one whose customer ChartMogul said does not exist.
    recheck_links: bool = False
