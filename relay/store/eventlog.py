"""Reading the event log and the dead-letter queue page by page, newest first.

Three time indexes: every event by received time (ms), each customer's events by received time
(ms), and the DLQ by the time each event died (µs). A cursor encodes the score and the event id
of the last item returned, so ties (a batch accepted in the same millisecond) page correctly.
Expired records found on the way are dropped from the index.

One customer may be known by several keys (its uuid, the CRM records and external ids its events
named before they were linked): `events_of` walks their indexes merged, newest first, each
event once, with the same cursors.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from relay.store import keys
from relay.store.ledger import Ledger
from relay.store.records import EventRecord, now_ms

# Records examined per call at most; a filter that matches little returns a cursor to go on.
MAX_SCAN = 5000


class QueryError(ValueError):
    """An operator's query (filter, time, cursor, limit, edit) is not valid; the message says why."""


@dataclass(frozen=True, slots=True)
class Cursor:
    score: int  # in the index's own unit
    event_id: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(orjson.dumps([self.score, self.event_id])).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        try:
            doc = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            raise QueryError("cursor is not one this API returned") from None
        if (
            not isinstance(doc, list)
            or len(doc) != 2
            or not isinstance(doc[0], int)
            or isinstance(doc[0], bool)
            or not isinstance(doc[1], str)
        ):
            raise QueryError("cursor is not one this API returned")
        return cls(doc[0], doc[1])


@dataclass(slots=True)
class Page:
    records: list[EventRecord]
    next_cursor: str | None  # None: nothing older matches


@dataclass(frozen=True, slots=True)
class _Index:
    key: str
    per_ms: int  # index units per millisecond


class EventLog:
    def __init__(
        self,
        redis: aioredis.Redis,
        ledger: Ledger,
        *,
        event_ttl_s: int,
        dlq_ttl_s: int | None = None,
        max_scan: int = MAX_SCAN,
    ) -> None:
        self.redis = redis
        self.ledger = ledger
        self.event_ttl_s = event_ttl_s
        self.dlq_ttl_s = dlq_ttl_s if dlq_ttl_s is not None else event_ttl_s
        self.max_scan = max_scan

    async def events(
        self,
        *,
        customer: str | Sequence[str] | None,
        matches: Callable[[EventRecord], bool],
        since_ms: int | None,
        until_ms: int | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        """`customer`: one customer key, or every key one customer is known by."""
        known = [customer] if isinstance(customer, str) else list(customer or [])
        if known:
            return await self.events_of(
                known, matches=matches, since_ms=since_ms, until_ms=until_ms, cursor=cursor, limit=limit
            )
        await self.trim()
        return await self._page([_Index(keys.EVENTS, 1)], matches, since_ms, until_ms, cursor, limit)

    async def events_of(
        self,
        customers: Sequence[str],
        *,
        matches: Callable[[EventRecord], bool],
        since_ms: int | None,
        until_ms: int | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        """The events of several customer keys, merged newest first; an event indexed under
        two of them (moved from a CRM record's key to the uuid it was linked to) comes once."""
        await self.trim(*customers)
        indexes = [_Index(keys.customer_events(c), 1) for c in dict.fromkeys(customers)]
        return await self._page(indexes, matches, since_ms, until_ms, cursor, limit)

    async def has_events(self, customer: str) -> bool:
        """Whether any event is indexed under this customer key."""
        return bool(await self.redis.exists(keys.customer_events(customer)))

    async def dead_letters(
        self,
        *,
        matches: Callable[[EventRecord], bool],
        since_ms: int | None,
        until_ms: int | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        return await self._page([_Index(keys.DLQ, 1000)], matches, since_ms, until_ms, cursor, limit)

    async def trim(self, *customers: str) -> None:
        """Drop ids older than the event TTL from the time indexes (their records have expired)."""
        horizon = now_ms() - self.event_ttl_s * 1000
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in (keys.EVENTS, *(keys.customer_events(c) for c in customers)):
                pipe.zremrangebyscore(key, "-inf", f"({horizon}")
            await pipe.execute()

    async def trim_dead_letters(self) -> None:
        """Drop dead letters older than their retention from the DLQ index (their records expired)."""
        horizon_us = (now_ms() - self.dlq_ttl_s * 1000) * 1000
        await self.redis.zremrangebyscore(keys.DLQ, "-inf", f"({horizon_us}")

    async def oldest_dead_letter_age_s(self) -> float:
        """How long ago the oldest dead letter died (0 when there is none)."""
        oldest: list[tuple[str, float]] = await self.redis.zrange(keys.DLQ, 0, 0, withscores=True)  # type: ignore[assignment]
        if not oldest:
            return 0.0
        return max(0.0, (now_ms() * 1000 - oldest[0][1]) / 1_000_000)

    async def dead_letter_counts(self, *, cap: int = 10_000) -> tuple[int, dict[str, int]]:
        """(total, count by reason) of the DLQ; beyond the newest `cap` entries counted as "not_counted"."""
        await self.trim_dead_letters()
        total = int(await self.redis.zcard(keys.DLQ))
        event_ids: list[str] = await self.redis.zrevrange(keys.DLQ, 0, cap - 1)  # type: ignore[assignment]
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.hget(keys.event(event_id), "reason")
            reasons: list[str | None] = await pipe.execute()
        counts: dict[str, int] = {}
        for reason in reasons:
            label = reason or "unknown"
            counts[label] = counts.get(label, 0) + 1
        if total > len(event_ids):
            counts["not_counted"] = total - len(event_ids)
        return total, counts

    async def _walk(
        self,
        index: _Index,
        *,
        since_ms: int | None,
        until_ms: int | None,
        after: Cursor | None,
        batch: int = 200,
    ) -> AsyncGenerator[tuple[str, int, EventRecord | None], None]:
        """(event id, score, record or None if expired) from newest to oldest, after `after`."""
        ceiling = (now_ms() + 60_000) * index.per_ms
        tops = (until_ms * index.per_ms if until_ms is not None else None, after.score if after else None)
        top = min([ceiling, *(t for t in tops if t is not None)])
        bottom = "-inf" if since_ms is None else str(since_ms * index.per_ms)
        offset = 0
        while True:
            rows: list[tuple[str, float]] = await self.redis.zrevrangebyscore(
                index.key, str(top), bottom, start=offset, num=batch, withscores=True
            )  # type: ignore[assignment]
            if not rows:
                return
            offset += len(rows)
            fresh = [
                (event_id, int(score))
                for event_id, score in rows
                if not (after and int(score) == after.score and event_id >= after.event_id)
            ]
            records = await self.ledger.events([event_id for event_id, _ in fresh])
            for (event_id, score), record in zip(fresh, records, strict=True):
                yield event_id, score, record
            if len(rows) < batch:
                return

    async def _merged(
        self, indexes: list[_Index], since_ms: int | None, until_ms: int | None, after: Cursor | None
    ) -> AsyncGenerator[tuple[str, str, int, EventRecord | None], None]:
        """(index key, event id, score, record) from every index, newest first, each id once.
        Each walk is ordered by (score, id) descending, as ZREVRANGEBYSCORE orders ties."""
        walks: list[AsyncGenerator[tuple[str, int, EventRecord | None], None]] = [
            self._walk(index, since_ms=since_ms, until_ms=until_ms, after=after) for index in indexes
        ]
        heads: list[tuple[str, int, EventRecord | None] | None] = [await _next(w) for w in walks]
        last: tuple[int, str] | None = None
        try:
            while live := [(i, head) for i, head in enumerate(heads) if head is not None]:
                i, (event_id, score, record) = max(live, key=lambda item: (item[1][1], item[1][0]))
                heads[i] = await _next(walks[i])
                if last != (score, event_id):
                    last = (score, event_id)
                    yield indexes[i].key, event_id, score, record
        finally:
            for walk in walks:
                await walk.aclose()

    async def _page(
        self,
        indexes: list[_Index],
        matches: Callable[[EventRecord], bool],
        since_ms: int | None,
        until_ms: int | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        after = Cursor.decode(cursor)
        found: list[EventRecord] = []
        scanned = 0
        last: Cursor | None = None
        expired: dict[str, list[str]] = {}
        walk = self._merged(indexes, since_ms, until_ms, after)
        async with contextlib.aclosing(walk):
            async for key, event_id, score, record in walk:
                last = Cursor(score, event_id)
                scanned += 1
                if record is None:
                    expired.setdefault(key, []).append(event_id)
                elif matches(record):
                    found.append(record)
                    if len(found) == limit:
                        break
                if scanned >= self.max_scan:
                    break
            else:
                last = None  # the indexes are exhausted: no next page
        for key, event_ids in expired.items():
            await self.redis.zrem(key, *event_ids)
        return Page(found, last.encode() if last else None)


_Row = tuple[str, int, EventRecord | None]


async def _next(walk: AsyncIterator[_Row]) -> _Row | None:
    return await anext(walk, None)
