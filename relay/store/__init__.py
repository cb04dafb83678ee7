"""Everything the relay keeps in Redis, and the only code that reads or writes it.

Web, admin, CLI and workers call the methods of a `Store`; none of them builds a key or holds a
Lua script. Key names are in `keys`, scripts in `lua/`, records and typed answers in `records`.

    Store
     ├── ledger       event records and history, accepting, the dead-letter queue   ledger.py
     ├── deliveries   customers' delivery state: leases, finish, retries, in-flight  deliveries.py
     ├── log          the event log and the DLQ, page by page                       eventlog.py
     ├── links        CRM record → customer links, parents, merges, look-ups        links.py
     ├── replays      dead letters by the cause keeping them dead; its triggers     replays.py
     ├── limits       the fleet's request rate and connection cap                   limits.py
     ├── circuit      open while ChartMogul refuses our credentials                 circuit.py
     ├── traffic      webhook requests per source and minute (the console)          traffic.py
     ├── sync_runs    the newest `relay sync` runs and what each enqueued           syncruns.py
     └── bulk_jobs    console bulk replays: progress and results                    bulkjobs.py

An event's life (its record's `status`):

    accepted ──▶ queued ──▶ in flight ──▶ applied
       │           ▲            │    ├──▶ stale     a newer change to its fields came first
       │           │            │    ├──▶ ignored   no customer matched: its source ignores those
       │           │            │    └──▶ dead ──▶ purged
       │           └─ replayed ─┼─────────┘           (replay --force: applied|stale too;
       │                                              automatic when its cause goes away)
       ├──▶ duplicate (answered, not stored again)
       ├──▶ ignored (recorded only)           expired: its record outlived the event TTL
       └──▶ dead (invalid_event: the CRM sent what the relay cannot read)

A record is kept for the event TTL; a dead one for the dead letters' retention (RELAY_DLQ_TTL_S)
from when it died. Its fields describing the latest outcome (records.OUTCOME_FIELDS) are
replaced by each outcome and cleared by a replay; its history keeps every one.

A customer's delivery (one state at a time; see `keys`):

    idle ──▶ ready ──▶ leased ──▶ idle
               ▲          ├─────▶ ready      more events arrived meanwhile
               │          ├─────▶ retrying ──▶ ready (when due)
               └──────────┴─ lease expired (its worker died)
"""

from relay.store.client import connect
from relay.store.records import (
    DEAD_LETTER_REASONS,
    REPLAY_TRIGGERS,
    Accepted,
    DeadLetterReason,
    Edited,
    EventRecord,
    EventStatus,
    Outcome,
    Purged,
    Released,
    Replayed,
    ReplayTrigger,
    history_entry,
    now_ms,
)
from relay.store.store import Store

__all__ = [
    "DEAD_LETTER_REASONS",
    "REPLAY_TRIGGERS",
    "Accepted",
    "DeadLetterReason",
    "Edited",
    "EventRecord",
    "EventStatus",
    "Outcome",
    "Purged",
    "Released",
    "ReplayTrigger",
    "Replayed",
    "Store",
    "connect",
    "history_entry",
    "now_ms",
]
