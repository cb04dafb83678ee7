"""Customers' delivery state: which customers wait, who holds them, and how each delivery ends.

A worker claims ready customers (a lease with a token), reads their waiting events, and ends
with `finish`: the outcomes, what was applied (for staleness), the end of the in-flight PATCH
and the end of the lease in ONE atomic call that writes nothing unless the lease is still its
own. Before a PATCH is sent its body is written ahead (`begin_inflight`), so a worker that dies
in between is recovered without applying it twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from relay.queue import DeadLetterMirror, mirror_job_id
from relay.store import keys
from relay.store.ledger import Ledger
from relay.store.records import (
    OUTCOME_FIELDS,
    EventRecord,
    EventStatus,
    Outcome,
    Released,
    applied_value,
    history_entry,
    now_ms,
    parse_applied,
)
from relay.store.scripts import Scripts


@dataclass(frozen=True, slots=True)
class Inflight:
    """A PATCH written ahead of sending it."""

    idempotency_key: str
    body: dict[str, Any]
    event_ids: list[str]
    field_times: dict[str, int]
    # field key → the event whose value the plan sends (absent in plans written before it was kept)
    field_senders: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Waiting:
    """How many customers are in each delivery state."""

    ready: int
    delivering: int
    retrying: int


class Deliveries:
    def __init__(
        self,
        redis: aioredis.Redis,
        scripts: Scripts,
        ledger: Ledger,
        *,
        event_ttl_s: int,
        dlq_ttl_s: int,
        mirror: DeadLetterMirror | None,
    ) -> None:
        self.redis = redis
        self.scripts = scripts
        self.ledger = ledger
        self.event_ttl_s = event_ttl_s
        self.dlq_ttl_s = dlq_ttl_s
        self.mirror = mirror

    # --- leases -------------------------------------------------------------------------------

    async def claim(self, n: int, *, lease_ms: int, token: str) -> list[str]:
        """Lease up to `n` ready customers to `token`, oldest ready first."""
        leased = await self.scripts.claim(
            keys=[keys.READY, keys.LEASES, keys.LEASE_OWNERS], args=[n, lease_ms, token]
        )
        return [c.decode() if isinstance(c, bytes) else str(c) for c in leased]

    async def extend(self, customer: str, *, token: str, lease_ms: int) -> bool:
        extended = await self.scripts.extend(
            keys=[keys.LEASES, keys.LEASE_OWNERS], args=[customer, token, lease_ms]
        )
        return bool(extended)

    async def holds(self, customer: str, token: str) -> bool:
        """Whether `token` still holds the customer's lease."""
        return bool(await self.redis.hget(keys.LEASE_OWNERS, customer) == token)  # type: ignore[misc]

    async def promote(self, limit: int = 1000) -> tuple[int, int]:
        """Due retries and expired leases (a worker died) become ready: (due, expired)."""
        due, expired = await self.scripts.promote(
            keys=[keys.RETRY, keys.LEASES, keys.LEASE_OWNERS, keys.READY], args=[limit]
        )
        return int(due), int(expired)

    # --- ending a delivery ------------------------------------------------------------------

    async def settle(
        self,
        customer: str,
        token: str,
        outcomes: Sequence[Outcome],
        *,
        applied_fields: Mapping[str, int] | None = None,
        applied_by: Mapping[str, str] | None = None,
        clear_inflight: bool = False,
    ) -> bool:
        """Record outcomes while the delivery goes on; False (nothing written) if the lease is lost.
        `applied_fields`: field key → occurred_at (ms) of the change applied to it, `applied_by`:
        → the event that change came from (what a later stale change is told won)."""
        if not outcomes and not applied_fields and not clear_inflight:
            return await self.holds(customer, token)
        applied = _applied(applied_fields, applied_by)
        result = await self._finish(
            customer, token, outcomes, applied, clear_inflight, release=False, retry_due_ms=None
        )
        return result != -1

    async def finish(
        self,
        customer: str,
        token: str,
        outcomes: Sequence[Outcome] = (),
        *,
        applied_fields: Mapping[str, int] | None = None,
        applied_by: Mapping[str, str] | None = None,
        clear_inflight: bool = False,
        retry_due_ms: int | None = None,
    ) -> Released:
        """Settle the last outcomes and end the lease: the customer becomes retrying (when
        `retry_due_ms` is given), ready (events still wait) or idle."""
        applied = _applied(applied_fields, applied_by)
        result = await self._finish(
            customer, token, outcomes, applied, clear_inflight, release=True, retry_due_ms=retry_due_ms
        )
        return Released(result)

    async def _finish(
        self,
        customer: str,
        token: str,
        outcomes: Sequence[Outcome],
        applied: dict[str, str],
        clear_inflight: bool,
        *,
        release: bool,
        retry_due_ms: int | None,
    ) -> int:
        at_ms = now_ms()
        registry = self.mirror.registry_key if self.mirror else keys.DLQ
        script_keys = [
            keys.pending(customer),
            keys.LEASES,
            keys.LEASE_OWNERS,
            keys.READY,
            keys.RETRY,
            keys.retry_state(customer),
            keys.DLQ,
            keys.applied_fields(customer),
            keys.inflight(customer),
            registry,
            keys.LINKS,
            keys.REPLAY_TRIGGERS,
        ]
        args: list[str | int | bytes] = [
            customer,
            token,
            self.event_ttl_s,
            "1" if release else "",
            "" if retry_due_ms is None else retry_due_ms,
            "1" if clear_inflight else "",
            orjson.dumps(applied) if applied else "",
            len(outcomes),
            orjson.dumps(OUTCOME_FIELDS),
            self.dlq_ttl_s,
        ]
        for outcome in outcomes:
            fields: dict[str, str | int] = {**outcome.fields, f"{outcome.status}_at_ms": at_ms}
            job: list[str | int | bytes] = []
            if outcome.status == EventStatus.DEAD and self.mirror is not None:
                saved = self.mirror.job(outcome.event_id, {"status": outcome.status, **fields})
                job = [
                    part if isinstance(part, bytes) else str(part) for pair in saved.items() for part in pair
                ]
            causes = outcome.causes if outcome.status == EventStatus.DEAD else ()
            script_keys += [
                keys.event(outcome.event_id),
                keys.event_history(outcome.event_id),
                self.mirror.job_key(outcome.event_id) if self.mirror else keys.DLQ,
                *(keys.dlq_cause(cause) for cause in causes),
            ]
            args += [
                outcome.event_id,
                str(outcome.status),
                orjson.dumps([str(part) for pair in fields.items() for part in pair]),
                history_entry(outcome.status, **outcome.history),
                mirror_job_id(outcome.event_id),
                len(job) // 2,
                *job,
                len(causes),
                "1" if outcome.recheck_links else "",
                *causes,
            ]
        return int(await self.scripts.finish(keys=script_keys, args=args))

    # --- waiting events -----------------------------------------------------------------------

    async def pending(self, customer: str, limit: int = 500) -> list[tuple[str, EventRecord | None]]:
        """The customer's waiting events in occurred_at order, with their records (None: expired)."""
        event_ids = [
            e.decode() if isinstance(e, bytes) else str(e)
            for e in await self.redis.zrange(keys.pending(customer), 0, limit - 1)
        ]
        return list(zip(event_ids, await self.ledger.events(event_ids), strict=True))

    async def pending_ids(self, customer: str) -> set[str]:
        return set(await self.redis.zrange(keys.pending(customer), 0, -1))  # type: ignore[arg-type]

    async def rekey(self, customer: str, uuid: str, *, link: str | None) -> int:
        """Move `customer`'s waiting events to the resolved `uuid`; remember `link` → uuid."""
        moved = await self.scripts.rekey(
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
        return int(moved)

    async def unlink_and_requeue(self, uuid: str, records: Sequence[EventRecord]) -> None:
        """ChartMogul says `uuid` does not exist, but these events reached it through a link or a
        look-up: forget those, and queue the events under their own reference again, to be
        resolved afresh (once: they are marked `re_resolved`)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for record in records:
                if record.change is None:
                    continue
                ref = record.change.customer
                original = ref.key
                pipe.zrem(keys.pending(uuid), record.event_id)
                pipe.zadd(keys.pending(original), {record.event_id: record.occurred_at_ms})
                pipe.hset(keys.event(record.event_id), mapping={"customer": original, "re_resolved": 1})
                pipe.rpush(
                    keys.event_history(record.event_id),
                    history_entry("unlinked", customer_uuid=uuid, why="ChartMogul answered 404"),
                )
                # Created by the record's second entry at the earliest: it expires with the record.
                pipe.expire(keys.event_history(record.event_id), self.event_ttl_s, nx=True)
                if ref.crm_record:
                    pipe.hdel(keys.LINKS, ref.crm_record)
                pipe.hdel(keys.LINKS, original)
                pipe.delete(keys.lookup(original))
                pipe.zadd(keys.READY, {original: now_ms()}, nx=True)
            await pipe.execute()

    # --- retries, staleness, write-ahead ------------------------------------------------------

    async def start_retry_streak(self, customer: str) -> tuple[int, int]:
        """Count one more failed attempt for the customer: (attempt number, streak start ms)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(keys.retry_state(customer), "attempt", 1)
            pipe.hsetnx(keys.retry_state(customer), "since_ms", now_ms())
            pipe.hget(keys.retry_state(customer), "since_ms")
            attempt, _, since_ms = await pipe.execute()
        return int(attempt), int(since_ms)

    async def applied_fields(self, customer: str) -> dict[str, int]:
        """Field key → occurred_at (ms) of the newest change applied to it."""
        return {name: at for name, (at, _) in (await self.applied_state(customer)).items()}

    async def applied_state(self, customer: str) -> dict[str, tuple[int, str]]:
        """Field key → (occurred_at ms, event id; "" when the record predates keeping it) of the
        newest change applied to it: a change older than that is stale, and that event won."""
        found: dict[str, str] = await self.redis.hgetall(keys.applied_fields(customer))  # type: ignore[misc,assignment]
        return {name: parse_applied(value) for name, value in found.items()}

    async def applied_states(
        self, customers: Sequence[str], batch: int = 500
    ) -> dict[str, dict[str, tuple[int, str]]]:
        """applied_state of many customers, a pipeline per `batch`; customers with none left out."""
        states: dict[str, dict[str, tuple[int, str]]] = {}
        for start in range(0, len(customers), batch):
            part = customers[start : start + batch]
            async with self.redis.pipeline(transaction=False) as pipe:
                for customer in part:
                    pipe.hgetall(keys.applied_fields(customer))
                found: list[dict[str, str]] = await pipe.execute()
            for customer, values in zip(part, found, strict=True):
                if values:
                    states[customer] = {name: parse_applied(value) for name, value in values.items()}
        return states

    async def begin_inflight(self, customer: str, inflight: Inflight) -> None:
        """Write-ahead: what is about to be sent, before it is sent."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.inflight(customer),
                mapping={
                    "idempotency_key": inflight.idempotency_key,
                    "body": orjson.dumps(inflight.body),
                    "event_ids": orjson.dumps(inflight.event_ids),
                    "field_times": orjson.dumps(inflight.field_times),
                    "field_senders": orjson.dumps(inflight.field_senders),
                    "at_ms": now_ms(),
                },
            )
            pipe.expire(keys.inflight(customer), self.event_ttl_s)
            await pipe.execute()

    async def inflight(self, customer: str) -> Inflight | None:
        fields: dict[str, str] = await self.redis.hgetall(keys.inflight(customer))  # type: ignore[misc,assignment]
        if not fields:
            return None
        return Inflight(
            idempotency_key=fields["idempotency_key"],
            body=orjson.loads(fields["body"]),
            event_ids=orjson.loads(fields["event_ids"]),
            field_times=orjson.loads(fields["field_times"]),
            field_senders=orjson.loads(fields.get("field_senders") or "{}"),
        )

    async def clear_inflight(self, customer: str) -> None:
        await self.redis.delete(keys.inflight(customer))

    # --- reading ------------------------------------------------------------------------------

    async def waiting(self) -> Waiting:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.READY)
            pipe.zcard(keys.LEASES)
            pipe.zcard(keys.RETRY)
            ready, delivering, retrying = await pipe.execute()
        return Waiting(int(ready), int(delivering), int(retrying))

    async def oldest_waiting(self, *, cap: int) -> tuple[str, str, int] | None:
        """(event id, customer, received ms) of the waiting event received longest ago, among the
        heads of the queues of at most `cap` customers per state (those waiting longest)."""
        customers: list[str] = []
        for index in (keys.READY, keys.RETRY, keys.LEASES):
            customers += await self.redis.zrange(index, 0, cap - 1)  # type: ignore[arg-type]
        if not customers:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            for customer in customers:
                pipe.zrange(keys.pending(customer), 0, 0)
            heads: list[list[str]] = await pipe.execute()
        event_ids = [head[0] for head in heads if head]
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.hmget(keys.event(event_id), "received_at_ms", "customer")
            rows: list[list[str | None]] = await pipe.execute()
        waiting = [
            (int(received), event_id, customer or "")
            for event_id, (received, customer) in zip(event_ids, rows, strict=True)
            if received and received.isdigit()
        ]
        if not waiting:
            return None
        received_ms, event_id, customer = min(waiting)
        return event_id, customer, received_ms


def _applied(times: Mapping[str, int] | None, by: Mapping[str, str] | None) -> dict[str, str]:
    """The applied-fields hash's new values: each field's time and the event it came from."""
    by = by or {}
    return {name: applied_value(at, by.get(name, "")) for name, at in (times or {}).items()}
