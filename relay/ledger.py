"""The event ledger: every accepted event, its customer's delivery state, and the DLQ, in Redis.

Both sides use it: the web app accepts and replays events; workers claim customers, record
attempts and settle outcomes. Every state change that touches more than one key is one Lua
script or one MULTI/EXEC transaction, so a crash at any point leaves a consistent state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from typing import Any, Literal, get_args

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from relay import keys
from relay.changes import CustomerChange
from relay.exceptions import NotReplicated
from relay.sources import ParsedEvent


def _script(name: str) -> str:
    return resources.files("relay.lua").joinpath(f"{name}.lua").read_text()


def now_ms() -> int:
    return int(time.time() * 1000)


def history_entry(what: str, **details: Any) -> bytes:
    return orjson.dumps({"at_ms": now_ms(), "what": what, **details})


class Accepted(Enum):
    DUPLICATE = 0
    QUEUED = 1  # its customer was already waiting or being delivered
    READY = 2  # its customer just became ready: a worker should be woken
    IGNORED = 3  # recorded in the event log only (e.g. an unmapped deletion)


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
            occurred_at_ms=int(fields.get("occurred_at_ms", 0)),
            received_at_ms=int(fields.get("received_at_ms", 0)),
            attempts=int(fields.get("attempts", 0)),
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


# Why an event was dead-lettered (the `reason` field of a dead event): the one list that the
# workers may write and that /metrics exports from the first scrape (a 0 for each).
DeadLetterReason = Literal["rejected", "customer_not_found", "invalid_change", "retries_exhausted"]
DEAD_LETTER_REASONS: tuple[DeadLetterReason, ...] = get_args(DeadLetterReason)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one event's delivery ended. `status` is applied, dead, stale or expired."""

    event_id: str
    status: str
    fields: dict[str, str | int] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)


class Ledger:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        event_ttl_s: int = 7 * 24 * 3600,
        dlq_mirror_queue: str | None = "relay",
        replica_acks: int = 0,
        replica_ack_timeout_ms: int = 1000,
    ) -> None:
        self.redis = redis
        self.event_ttl_s = event_ttl_s
        # accept_many returns only once this many replicas hold the write (0: the primary alone).
        self.replica_acks = replica_acks
        self.replica_ack_timeout_ms = replica_ack_timeout_ms
        # The RQ queue whose failed-job registry mirrors the DLQ for rq-dashboard (None: off).
        self.dlq_mirror_queue = dlq_mirror_queue
        self._accept_many = redis.register_script(
            "local function accept(KEYS, ARGV)\n" + _script("accept") + "\nend\n" + _script("accept_many")
        )
        self._claim = redis.register_script(_script("claim"))
        self._release = redis.register_script(_script("release"))
        self._promote = redis.register_script(_script("promote"))
        self._extend = redis.register_script(_script("extend"))
        self._replay = redis.register_script(_script("replay"))
        self._rekey = redis.register_script(_script("rekey"))

    # --- web side -----------------------------------------------------------------------

    async def accept(self, event: ParsedEvent) -> Accepted:
        [result] = await self.accept_many([event])
        return result

    async def accept_many(self, events: Sequence[ParsedEvent]) -> list[Accepted]:
        """Accept a request's events all-or-nothing in one atomic script call: one durable write,
        one round trip. With `replica_acks`, raises NotReplicated unless that many replicas
        confirm the write in time (still one round trip)."""
        received_ms = now_ms()
        links = [part for event in events for pair in event.links.items() for part in pair]
        script_keys: list[str] = [keys.LINKS]
        args: list[str | int | bytes] = [len(links) // 2, *links]
        for event in events:
            change = event.change
            customer = change.customer.key
            script_keys += [
                keys.event(change.event_id),
                keys.event_history(change.event_id),
                keys.pending(customer),
                keys.READY,
                keys.LEASES,
                keys.RETRY,
                keys.EVENTS,
                keys.customer_events(customer),
            ]
            args += [
                change.event_id,
                customer,
                change.occurred_at_ms,
                received_ms,
                self.event_ttl_s,
                change.source,
                change.to_json(),
                event.raw,
                history_entry("accepted", source=change.source),
                event.ignored_reason or "",
            ]
        if self.replica_acks:
            results = await self._accept_replicated(script_keys, args)
        else:
            results = await self._accept_many(keys=script_keys, args=args)
        return [Accepted(int(r)) for r in results]

    async def _accept_replicated(self, script_keys: list[str], args: list[str | int | bytes]) -> Any:
        """The accept script, then WAIT, on one connection in one round trip: WAIT counts the
        replicas holding this connection's writes so far. The INCR in between makes that cover
        every earlier write too, so a retried duplicate is confirmed only once its original is."""
        script = self._accept_many
        for _ in range(2):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
                pipe.incr(keys.REPLICA_ACK)
                pipe.wait(self.replica_acks, self.replica_ack_timeout_ms)
                results, _, acked = await pipe.execute(raise_on_error=False)
            if not isinstance(results, NoScriptError):
                break
            await self.redis.script_load(script.script)  # a new primary (failover) has no scripts
        if isinstance(results, Exception):
            raise results
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < self.replica_acks:
            raise NotReplicated(acked=int(acked), wanted=self.replica_acks)
        return results

    async def replay(
        self, event_id: str, *, change: CustomerChange | None = None, force: bool = False
    ) -> int:
        """1 replayed, 0 not dead-lettered, -1 record expired. `change` replaces the stored one.
        `force` also replays an event already applied (or stale); it is sent again."""
        record = await self.event(event_id)
        if record is None:
            await self.redis.zrem(keys.DLQ, event_id)
            return -1
        customer = change.customer.key if change else record.customer
        occurred_ms = change.occurred_at_ms if change else record.occurred_at_ms
        result = await self._replay(
            keys=[
                keys.DLQ,
                keys.event(event_id),
                keys.event_history(event_id),
                keys.pending(customer),
                keys.READY,
                keys.LEASES,
                keys.RETRY,
            ],
            args=[
                event_id,
                customer,
                occurred_ms,
                history_entry("replayed", remapped=change is not None, forced=force),
                change.to_json() if change else b"",
                "1" if force else "",
            ],
        )
        return int(result)

    # --- worker side --------------------------------------------------------------------

    async def claim(self, n: int, *, lease_ms: int, token: str) -> list[str]:
        leased = await self._claim(
            keys=[keys.READY, keys.LEASES, keys.LEASE_OWNERS], args=[n, lease_ms, token]
        )
        return [c.decode() if isinstance(c, bytes) else str(c) for c in leased]

    async def extend(self, customer: str, *, token: str, lease_ms: int) -> bool:
        return bool(
            await self._extend(keys=[keys.LEASES, keys.LEASE_OWNERS], args=[customer, token, lease_ms])
        )

    async def holds(self, customer: str, token: str) -> bool:
        """Whether `token` still holds the customer's lease."""
        return bool(await self.redis.hget(keys.LEASE_OWNERS, customer) == token)  # type: ignore[misc]

    async def release(self, customer: str, *, token: str, retry_due_ms: int | None = None) -> int:
        return int(
            await self._release(
                keys=[
                    keys.pending(customer),
                    keys.LEASES,
                    keys.LEASE_OWNERS,
                    keys.READY,
                    keys.RETRY,
                    keys.retry_state(customer),
                ],
                args=[customer, token, "" if retry_due_ms is None else retry_due_ms],
            )
        )

    async def promote(self, limit: int = 1000) -> tuple[int, int]:
        due, expired = await self._promote(
            keys=[keys.RETRY, keys.LEASES, keys.LEASE_OWNERS, keys.READY], args=[limit]
        )
        return int(due), int(expired)

    async def pending(self, customer: str, limit: int = 500) -> list[tuple[str, EventRecord | None]]:
        """The customer's waiting events in occurred_at order, with their records (None: expired)."""
        event_ids = [
            e.decode() if isinstance(e, bytes) else str(e)
            for e in await self.redis.zrange(keys.pending(customer), 0, limit - 1)
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.hgetall(keys.event(event_id))
            hashes = await pipe.execute()
        return [
            (event_id, EventRecord.from_hash(h) if h else None)
            for event_id, h in zip(event_ids, hashes, strict=True)
        ]

    async def rekey(self, customer: str, uuid: str, *, link: str | None) -> int:
        """Move `customer`'s waiting events to the resolved `uuid`; remember `link` → uuid."""
        return int(
            await self._rekey(
                keys=[
                    keys.pending(customer),
                    keys.pending(uuid),
                    keys.READY,
                    keys.LEASES,
                    keys.RETRY,
                    keys.LINKS,
                    keys.customer_events(uuid),
                ],
                args=[uuid, keys.event(""), link or ""],
            )
        )

    async def unlink_and_requeue(self, uuid: str, records: Sequence[EventRecord]) -> None:
        """ChartMogul says `uuid` does not exist, but these events reached it through a link or a
        look-up: forget those, and queue the events under their own reference again, to be
        resolved afresh (once: they are marked `re_resolved`)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for record in records:
                assert record.change is not None
                ref = record.change.customer
                original = ref.key
                pipe.zrem(keys.pending(uuid), record.event_id)
                pipe.zadd(keys.pending(original), {record.event_id: record.occurred_at_ms})
                pipe.hset(keys.event(record.event_id), mapping={"customer": original, "re_resolved": 1})
                pipe.rpush(
                    keys.event_history(record.event_id),
                    history_entry("unlinked", customer_uuid=uuid, why="ChartMogul answered 404"),
                )
                if ref.crm_record:
                    pipe.hdel(keys.LINKS, ref.crm_record)
                pipe.hdel(keys.LINKS, original)
                pipe.delete(keys.lookup(original))
                pipe.zadd(keys.READY, {original: now_ms()}, nx=True)
            await pipe.execute()

    async def link(self, crm_record: str) -> str | None:
        uuid = await self.redis.hget(keys.LINKS, crm_record)  # type: ignore[misc]
        return str(uuid) if uuid else None

    async def start_retry_streak(self, customer: str) -> tuple[int, int]:
        """Count one more failed attempt for the customer: (attempt number, streak start ms)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(keys.retry_state(customer), "attempt", 1)
            pipe.hsetnx(keys.retry_state(customer), "since_ms", now_ms())
            pipe.hget(keys.retry_state(customer), "since_ms")
            attempt, _, since_ms = await pipe.execute()
        return int(attempt), int(since_ms)

    async def record_attempt(self, event_ids: Iterable[str], **details: Any) -> None:
        entry = history_entry("attempt", **details)
        async with self.redis.pipeline(transaction=True) as pipe:
            for event_id in event_ids:
                pipe.hincrby(keys.event(event_id), "attempts", 1)
                pipe.rpush(keys.event_history(event_id), entry)
            await pipe.execute()

    async def settle(
        self,
        customer: str,
        outcomes: Sequence[Outcome],
        *,
        applied_fields: Mapping[str, int] | None = None,
        clear_inflight: bool = False,
    ) -> None:
        """Record final outcomes and take the events out of the customer's pending set, atomically
        with what was applied (for staleness) and the end of the in-flight PATCH."""
        if not outcomes and not applied_fields and not clear_inflight:
            return
        at_ms = now_ms()
        async with self.redis.pipeline(transaction=True) as pipe:
            for outcome in outcomes:
                fields: dict[str, str | int] = {"status": outcome.status, **outcome.fields}
                fields[f"{outcome.status}_at_ms"] = at_ms
                pipe.zrem(keys.pending(customer), outcome.event_id)
                if outcome.status == "expired":
                    continue
                pipe.hset(keys.event(outcome.event_id), mapping=dict(fields))  # type: ignore[arg-type]
                pipe.rpush(
                    keys.event_history(outcome.event_id), history_entry(outcome.status, **outcome.history)
                )
                if outcome.status == "dead":
                    pipe.zadd(keys.DLQ, {outcome.event_id: at_ms})
                    self._mirror_dead_letter(pipe, outcome.event_id, fields)
            if applied_fields:
                pipe.hset(keys.applied_fields(customer), mapping=dict(applied_fields))  # type: ignore[arg-type]
                pipe.expire(keys.applied_fields(customer), self.event_ttl_s)
            if clear_inflight:
                pipe.delete(keys.inflight(customer))
            await pipe.execute()

    async def applied_fields(self, customer: str) -> dict[str, int]:
        times: dict[str, str] = await self.redis.hgetall(keys.applied_fields(customer))  # type: ignore[assignment]
        return {name: int(at) for name, at in times.items()}

    async def begin_inflight(
        self,
        customer: str,
        *,
        idempotency_key: str,
        body: Mapping[str, Any],
        event_ids: Sequence[str],
        field_times: Mapping[str, int],
    ) -> None:
        """Write-ahead: what is about to be sent, before it is sent."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.inflight(customer),
                mapping={
                    "idempotency_key": idempotency_key,
                    "body": orjson.dumps(body),
                    "event_ids": orjson.dumps(list(event_ids)),
                    "field_times": orjson.dumps(dict(field_times)),
                    "at_ms": now_ms(),
                },
            )
            pipe.expire(keys.inflight(customer), self.event_ttl_s)
            await pipe.execute()

    async def inflight(self, customer: str) -> dict[str, Any] | None:
        fields: dict[str, str] = await self.redis.hgetall(keys.inflight(customer))  # type: ignore[assignment]
        if not fields:
            return None
        return {
            "idempotency_key": fields["idempotency_key"],
            "body": orjson.loads(fields["body"]),
            "event_ids": orjson.loads(fields["event_ids"]),
            "field_times": orjson.loads(fields["field_times"]),
        }

    async def clear_inflight(self, customer: str) -> None:
        await self.redis.delete(keys.inflight(customer))

    # --- DLQ mirror for rq-dashboard (relay/admin/mirror.py) ----------------------------------

    def _mirror_dead_letter(self, pipe: Any, event_id: str, fields: Mapping[str, Any]) -> None:
        """In settle's transaction: the dead event as a failed RQ job the dashboard can requeue."""
        if not self.dlq_mirror_queue:
            return
        from relay.admin import mirror

        key, job, registry, score = mirror.dead_letter_job(
            event_id, fields, queue_name=self.dlq_mirror_queue, ttl_s=self.event_ttl_s
        )
        pipe.hset(key, mapping=job)
        pipe.expire(key, self.event_ttl_s)
        pipe.zadd(registry, {mirror.job_id(event_id): score})

    # --- reading --------------------------------------------------------------------------

    async def event(self, event_id: str) -> EventRecord | None:
        fields: dict[str, str] = await self.redis.hgetall(keys.event(event_id))  # type: ignore[assignment]
        return EventRecord.from_hash(fields) if fields else None

    async def history(self, event_id: str) -> list[dict[str, Any]]:
        return [orjson.loads(e) for e in await self.redis.lrange(keys.event_history(event_id), 0, -1)]


def connect(redis_url: str) -> aioredis.Redis:
    """The relay's async Redis client; strings in and out, reconnecting on its own."""
    return aioredis.Redis.from_url(
        redis_url,
        decode_responses=True,
        health_check_interval=15,
        socket_keepalive=True,
        retry_on_timeout=True,
    )
