"""The parts of a sync run that are neither planning nor printing: the file's digest and time,
the unmatched file, and enqueueing through the ledger's own accept path."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from relay.events import ParsedEvent
from relay.store import Store
from relay.store.records import Accepted
from relay.sync.plan import Planned

ENQUEUE_BATCH = 200


def file_digest(path: Path) -> str:
    """The export's content digest (streamed): event ids derive from it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def parse_as_of(value: str | None, path: Path) -> int:
    """--as-of (ISO 8601; a time without zone is UTC) or the file's modification time, in ms."""
    if value is None:
        return int(path.stat().st_mtime * 1000)
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


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


class Enqueuer:
    """Sync events into the ledger in batches; counts what was new and what an earlier run of
    the same file had already enqueued."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batch: list[ParsedEvent] = []
        self.enqueued = 0
        self.already = 0
        self.ready = False

    async def add(self, event: ParsedEvent) -> None:
        self.batch.append(event)
        if len(self.batch) >= ENQUEUE_BATCH:
            await self.flush()

    async def flush(self) -> None:
        if not self.batch:
            return
        results: Sequence[Accepted] = await self.store.ledger.accept_many(self.batch)
        self.batch = []
        for result in results:
            if result is Accepted.DUPLICATE:
                self.already += 1
            else:
                self.enqueued += 1
            self.ready = self.ready or result is Accepted.READY
