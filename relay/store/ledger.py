"""The event ledger: every accepted event's record and history, and the dead-letter queue.

The web app accepts; operators replay, edit and purge dead letters; everyone reads records.
What workers do with a customer's waiting events is relay/store/deliveries.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from relay.changes import CustomerChange
from relay.events import ParsedEvent
from relay.exceptions import StoreRejected
from relay.queue import DeadLetterMirror, mirror_job_id
from relay.store import keys
from relay.store.commit import GroupCommit
from relay.store.records import (
    CHANGE_CHUNK,
    OUTCOME_FIELDS,
    RAW_CHUNK,
    Accepted,
    DeadLetterReason,
    Edited,
    EventRecord,
    Purged,
    Replayed,
    chunk_fields,
    compact_change,
    first_history_entry,
    history_entry,
    now_ms,
)
from relay.store.scripts import Scripts


def _recorded_only(event: ParsedEvent, payload: list[str]) -> tuple[str, list[str]]:
    """accept.lua's kind for an event that is not queued, and its payload with the reason."""
    if event.ignored_reason is not None:
        return "i", [*payload, "reason", event.ignored_reason]
    reason = DeadLetterReason.INVALID_EVENT.value
    return "d", [*payload, "reason", reason, "error", event.invalid or ""]


def _link_pairs(events: Sequence[ParsedEvent]) -> list[str]:
    """The link table's fields and values the events prove: record links, then parents."""
    pairs: list[str] = []
    for event in events:
        for record, uuid in event.links.items():
            pairs += [record, uuid]
        for record, parent in (event.parents or {}).items():
            pairs += [keys.parent_link(record), parent]
    return pairs


# accept.lua's answers by code: indexing is ~1 µs an event cheaper than Accepted(code).
_ACCEPTED = tuple(sorted(Accepted, key=lambda a: a.value))
_REPLAYED = {1: Replayed.REPLAYED, 0: Replayed.NOT_DEAD, -1: Replayed.EXPIRED}
_PURGED = {1: Purged.PURGED, 0: Purged.NOT_DEAD, -1: Purged.EXPIRED}
_EDITED = {1: Edited.EDITED, 0: Edited.NOT_DEAD, -1: Edited.EXPIRED}


class Ledger:
    def __init__(
        self,
        redis: aioredis.Redis,
        scripts: Scripts,
        *,
        accept_redis: aioredis.Redis | None = None,
        event_ttl_s: int,
        mirror: DeadLetterMirror | None,
        replica_acks: int = 0,
        replica_ack_timeout_ms: int = 1000,
    ) -> None:
        self.redis = redis
        self.scripts = scripts
        self.event_ttl_s = event_ttl_s
        self.mirror = mirror
        # accept_many returns only once this many replicas hold the write (0: the primary alone).
        self.replica_acks = replica_acks
        self.replica_ack_timeout_ms = replica_ack_timeout_ms
        # Accepts of one event-loop tick share one script call (relay/store/commit.py).
        self.commit = GroupCommit(
            accept_redis or redis,
            scripts.accept_many,
            script_keys=[
                keys.LINKS,
                keys.READY,
                keys.LEASES,
                keys.RETRY,
                keys.EVENTS,
                keys.DLQ,
                keys.REPLAY_TRIGGERS,
            ],
            header=self._accept_header,
            replica_acks=replica_acks,
            replica_ack_timeout_ms=replica_ack_timeout_ms,
        )

    def _accept_header(self) -> list[str | int]:
        """accept_many.lua's first arguments: the per-event key families, the time, when the
        records expire, and the family of the dead letters' cause indexes (a link it writes
        may let some through)."""
        now = now_ms()
        return [*keys.ACCEPT_FAMILIES, now, now + self.event_ttl_s * 1000, keys.DLQ_CAUSE_FAMILY]

    # --- accepting ------------------------------------------------------------------------

    async def accept(self, event: ParsedEvent) -> Accepted:
        [result] = await self.accept_many([event])
        return result

    async def accept_many(self, events: Sequence[ParsedEvent]) -> list[Accepted]:
        """Accept a request's events all-or-nothing in one atomic script call: one durable write,
        shared with the other accepts of this loop tick (group commit). Each event is queued,
        recorded as ignored (`ignored_reason`) or dead-lettered (`invalid`); the links and
        parents the events prove are written with them. With `replica_acks`, raises
        NotReplicated unless that many replicas confirm the write in time; StoreRejected
        (nothing stored) when a key of the request holds another type than accept writes."""
        segment: list[str | int | bytes] = [0, len(events)]
        linking = []
        for event in events:
            change = event.change
            payload = chunk_fields(CHANGE_CHUNK, compact_change(change)) + chunk_fields(RAW_CHUNK, event.raw)
            kind = ""
            if event.ignored_reason is not None or event.invalid is not None:
                kind, payload = _recorded_only(event, payload)
            if event.links or event.parents:
                linking.append(event)
            segment += [
                change.event_id,
                change.customer.key,
                change.occurred_at_ms,
                change.source,
                kind,
                len(payload) // 2,
                *payload,
            ]
        if linking:
            links = _link_pairs(linking)
            segment[0] = len(links) // 2
            segment[1:1] = links
        answer = await self.commit.call(segment, len(events))
        if isinstance(answer, str):  # a key of this request holds another type: nothing stored
            raise StoreRejected(answer)
        return [_ACCEPTED[r] for r in answer]

    # --- the dead-letter queue --------------------------------------------------------------

    def mirror_keys(self, event_id: str) -> tuple[list[str], str]:
        """(mirror job key, registry key) and the job id; harmless placeholders without a mirror."""
        if self.mirror is None:
            return [keys.DLQ, keys.DLQ], ""
        return [self.mirror.job_key(event_id), self.mirror.registry_key], mirror_job_id(event_id)

    async def replay(
        self,
        event_id: str,
        *,
        change: CustomerChange | None = None,
        force: bool = False,
        from_mirror_job: bool = False,
    ) -> Replayed:
        """Queue a dead event again (`change` replaces the stored one). `force` also replays an
        event already applied (or stale): it is sent again. Its rq-dashboard mirror job goes,
        unless the replay runs as that very job (`from_mirror_job`)."""
        record = await self.event(event_id)
        _, job_id = self.mirror_keys(event_id)
        if from_mirror_job:
            job_id = ""
        customer = change.customer.key if change else record.customer if record else ""
        occurred_ms = change.occurred_at_ms if change else record.occurred_at_ms if record else 0
        result = await self.run_replay(
            event_id,
            customer=customer,
            occurred_ms=occurred_ms,
            entry=history_entry("replayed", remapped=change is not None, forced=force),
            change_json=change.to_json() if change else b"",
            force=force,
            job_id=job_id,
        )
        return _REPLAYED[result]

    async def run_replay(
        self,
        event_id: str,
        *,
        customer: str,
        occurred_ms: int,
        entry: bytes,
        change_json: bytes = b"",
        force: bool = False,
        job_id: str,
        cause_index: str = keys.DLQ,
        automatic: Sequence[str | int | bytes] = (),
    ) -> int:
        """replay.lua for one event, queued under `customer` (its header says the arguments and
        the answer); `automatic`: an automatic replay's conditions, with the index of its cause
        (relay/store/replays.py)."""
        mirror_keys, _ = self.mirror_keys(event_id)
        result = await self.scripts.replay(
            keys=[
                keys.DLQ,
                keys.event(event_id),
                keys.event_history(event_id),
                keys.pending(customer),
                keys.READY,
                keys.LEASES,
                keys.RETRY,
                *mirror_keys,
                cause_index,
            ],
            args=[
                event_id,
                customer,
                occurred_ms,
                entry,
                change_json,
                "1" if force else "",
                job_id,
                orjson.dumps(OUTCOME_FIELDS),
                *automatic,
            ],
        )
        return int(result)

    async def move_customer(self, record: EventRecord, customer: str) -> None:
        """A re-mapped change names another customer: the record and its customer index follow."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.event(record.event_id), "customer", customer)
            pipe.zadd(keys.customer_events(customer), {record.event_id: record.received_at_ms})
            pipe.expire(keys.customer_events(customer), self.event_ttl_s)
            await pipe.execute()

    async def purge(self, event_id: str) -> Purged:
        """Take an event out of the DLQ for good (its record and history stay until they expire)."""
        mirror_keys, job_id = self.mirror_keys(event_id)
        result = await self.scripts.purge(
            keys=[keys.DLQ, keys.event(event_id), keys.event_history(event_id), *mirror_keys],
            args=[event_id, history_entry("purged"), now_ms(), job_id],
        )
        return _PURGED[int(result)]

    async def is_dead(self, event_id: str) -> bool:
        return await self.redis.zscore(keys.DLQ, event_id) is not None

    async def edit(self, record: EventRecord, change: CustomerChange, *, changed: list[str]) -> Edited:
        """Store an edited change on a dead event (it stays dead)."""
        result = await self.scripts.edit(
            keys=[
                keys.event(record.event_id),
                keys.event_history(record.event_id),
                keys.customer_events(change.customer.key),
            ],
            args=[
                change.to_json(),
                change.customer.key,
                history_entry("edited", changed=changed),
                self.event_ttl_s,
                record.event_id,
                now_ms(),
            ],
        )
        return _EDITED[int(result)]

    async def dead_letter_total(self) -> int:
        return int(await self.redis.zcard(keys.DLQ))

    # --- attempts -----------------------------------------------------------------------------

    async def record_attempt(self, event_ids: Iterable[str], **details: Any) -> None:
        await self.note(event_ids, "attempt", counts_attempt=True, **details)

    async def note(
        self, event_ids: Iterable[str], what: str, *, counts_attempt: bool = False, **details: Any
    ) -> None:
        """One history entry on each event: what was done for it besides settling it (an
        attempt, with `counts_attempt`; a lead created for its record)."""
        entry = history_entry(what, **details)
        async with self.redis.pipeline(transaction=True) as pipe:
            for event_id in event_ids:
                if counts_attempt:
                    pipe.hincrby(keys.event(event_id), "attempts", 1)
                pipe.rpush(keys.event_history(event_id), entry)
                # The list is created by the record's second entry: it expires with the record.
                pipe.expire(keys.event_history(event_id), self.event_ttl_s, nx=True)
            await pipe.execute()

    # --- reading ------------------------------------------------------------------------------

    async def event(self, event_id: str) -> EventRecord | None:
        fields: dict[str, str] = await self.redis.hgetall(keys.event(event_id))  # type: ignore[assignment]
        return EventRecord.from_hash(fields, event_id) if fields else None

    async def events(self, event_ids: Sequence[str]) -> list[EventRecord | None]:
        """Records in one round trip; None where a record has expired."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.hgetall(keys.event(event_id))
            hashes: list[dict[str, str]] = await pipe.execute()
        return [EventRecord.from_hash(h, e) if h else None for h, e in zip(hashes, event_ids, strict=True)]

    async def history(self, event_id: str) -> list[dict[str, Any]]:
        """Every entry in order: the first one ("accepted"), which the record itself stands for,
        then the history list. Records of the first layout have no chunks: their list holds the
        first entry too."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.event(event_id), [f"{RAW_CHUNK}0", "received_at_ms", "source"])
            pipe.lrange(keys.event_history(event_id), 0, -1)
            (chunked, received, source), entries = await pipe.execute()
        first = [first_history_entry(int(received or 0), source or "")] if chunked is not None else []
        return first + [orjson.loads(e) for e in entries]
