"""The parts of a sync run that are neither planning nor printing: the export's time, the
unmatched file, and enqueueing through the ledger's own accept path (counting only what it
really enqueued)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from relay.events import ParsedEvent
from relay.store import Store
from relay.store.records import Accepted
from relay.sync.plan import Planned
from relay.times import parse_time

ENQUEUE_BATCH = 200


def parse_as_of(value: str | None, path: Path) -> int:
    """--as-of as operators write times (relay/times.py: now, 2h, 10:05, ISO 8601), or the
    file's modification time, in ms. TimeSpecError says what a bad one is not."""
    if value is None:
        return int(path.stat().st_mtime * 1000)
    return parse_time(value)


class UnmatchedFile:
    """Unmatched records as CSV in `relay links import` format: fill in customer_uuid, import."""

    HEADER = ("source", "crm_id", "customer_uuid", "where", "why")

    def __init__(self, handle: IO[str], source: str) -> None:
        self.source = source
        self.writer = csv.writer(handle)
        self.writer.writerow(self.HEADER)

    def add(self, planned: Planned) -> None:
        self.writer.writerow(
            (self.source, planned.record.record_id, "", planned.record.where, planned.why_unmatched)
        )


KEPT_EVENT_IDS = 1000


class Enqueuer:
    """Sync events into the ledger in batches. Counts what it really enqueued, and what an
    earlier run with the same --as-of had made already, by what became of it (`already`:
    status → count: queued, applied, dead, …)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batch: list[ParsedEvent] = []
        self.enqueued = 0
        # The ids of the first KEPT_EVENT_IDS events it enqueued: what the console shows of a run.
        self.enqueued_ids: list[str] = []
        self.already: Counter[str] = Counter()
        self.ready = False

    async def add(self, event: ParsedEvent) -> None:
        self.batch.append(event)
        if len(self.batch) >= ENQUEUE_BATCH:
            await self.flush()

    async def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        results: Sequence[Accepted] = await self.store.ledger.accept_many(batch)
        known = [e.change.event_id for e, r in zip(batch, results, strict=True) if r.is_duplicate]
        self.enqueued += len(results) - len(known)
        new = [e.change.event_id for e, r in zip(batch, results, strict=True) if not r.is_duplicate]
        self.enqueued_ids += new[: KEPT_EVENT_IDS - len(self.enqueued_ids)]
        self.ready = self.ready or any(r is Accepted.READY for r in results)
        for record in await self.store.ledger.events(known):
            self.already[record.status if record is not None else "expired"] += 1
