"""What the store hands out: event records, outcomes, and the typed answers of its operations.

The enums are StrEnums where the value is stored in Redis or shown to operators, so a record
read back compares equal to the enum and to its plain word alike.
"""

from __future__ import annotations

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


# The reasons workers may write, which /metrics exports from the first scrape (a 0 for each).
DEAD_LETTER_REASONS: tuple[str, ...] = tuple(reason.value for reason in DeadLetterReason)


class Accepted(Enum):
    DUPLICATE = 0
    QUEUED = 1  # its customer was already waiting or being delivered
    READY = 2  # its customer just became ready: a worker should be woken
    IGNORED = 3  # recorded in the event log only (e.g. an unmapped deletion)


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
    def from_hash(cls, fields: dict[str, str]) -> EventRecord:
        known = {"event_id", "source", "customer", "status", "occurred_at_ms", "received_at_ms"}
        known |= {"attempts", "change", "raw"}
        change_json = fields.get("change")
        return cls(
            event_id=fields["event_id"],
            source=fields.get("source", ""),
            customer=fields.get("customer", ""),
            status=fields.get("status", ""),
            occurred_at_ms=_int(fields.get("occurred_at_ms")),
            received_at_ms=_int(fields.get("received_at_ms")),
            attempts=_int(fields.get("attempts")),
            change=CustomerChange.from_json(change_json) if change_json else None,
            raw=fields.get("raw", ""),
            details={k: v for k, v in fields.items() if k not in known},
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
    """How one event's delivery ended: applied, dead, stale or expired."""

    event_id: str
    status: EventStatus
    fields: dict[str, str | int] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
