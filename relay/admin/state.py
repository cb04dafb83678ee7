"""The relay's state at a glance, read from Redis: what `relay status`, `/admin/status`,
`/readyz` and the scrape-time metrics show.

Everything here is read-only and bounded: the DLQ's reasons are counted over its newest
`dlq_cap` entries, and the oldest waiting event is looked for among at most `waiting_cap`
customers of each delivery state (the ones waiting longest first).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import redis
import redis.asyncio as aioredis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from relay import keys
from relay.admin.queries import dead_letter_counts, iso
from relay.ledger import now_ms


@dataclass(slots=True)
class WorkerInfo:
    name: str
    state: str
    last_heartbeat: str | None
    current_job: str | None
    successful_jobs: int
    failed_jobs: int


@dataclass(slots=True)
class OldestWaiting:
    event_id: str
    customer: str
    received_at_ms: int
    age_s: float


@dataclass(slots=True)
class RelayState:
    at_ms: int
    queue_name: str
    ready: int = 0
    delivering: int = 0
    retrying: int = 0
    rq_jobs_waiting: int = 0
    oldest_waiting: OldestWaiting | None = None
    dlq_total: int = 0
    dlq_by_reason: dict[str, int] = field(default_factory=dict)
    circuit: dict[str, Any] = field(default_factory=lambda: {"state": "closed"})
    rate: dict[str, Any] = field(default_factory=dict)
    workers: list[WorkerInfo] = field(default_factory=list)

    @property
    def circuit_open(self) -> bool:
        return self.circuit.get("state") == "open"

    def public(self) -> dict[str, Any]:
        return asdict(self)


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(float(value)) if value is not None else default
    except ValueError:
        return default


def read_workers(rq_connection: redis.Redis, queue_name: str) -> list[WorkerInfo]:
    """The queue's workers from RQ's registry: only those whose heartbeat key has not expired."""
    queue = Queue(queue_name, connection=rq_connection, serializer=JSONSerializer)
    workers = []
    for worker in Worker.all(queue=queue, serializer=JSONSerializer):
        heartbeat: datetime | None = worker.last_heartbeat
        workers.append(
            WorkerInfo(
                name=worker.name,
                state=str(worker.get_state()),
                last_heartbeat=heartbeat.isoformat() if heartbeat else None,
                current_job=worker.get_current_job_id(),
                successful_jobs=worker.successful_job_count,
                failed_jobs=worker.failed_job_count,
            )
        )
    return sorted(workers, key=lambda w: w.name)


def queue_length(rq_connection: redis.Redis, queue_name: str) -> int:
    return Queue(queue_name, connection=rq_connection, serializer=JSONSerializer).count


async def oldest_waiting(client: aioredis.Redis, *, cap: int, now: int) -> OldestWaiting | None:
    """The waiting event received longest ago, among the heads of the waiting customers' queues."""
    customers: list[str] = []
    for index in (keys.READY, keys.RETRY, keys.LEASES):
        customers += await client.zrange(index, 0, cap - 1)  # type: ignore[arg-type]
    if not customers:
        return None
    async with client.pipeline(transaction=False) as pipe:
        for customer in customers:
            pipe.zrange(keys.pending(customer), 0, 0)
        heads: list[list[str]] = await pipe.execute()
    event_ids = [head[0] for head in heads if head]
    async with client.pipeline(transaction=False) as pipe:
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
    return OldestWaiting(event_id, customer, received_ms, round(max(0, now - received_ms) / 1000, 3))


async def rate_usage(client: aioredis.Redis, *, now: int) -> dict[str, Any]:
    """The fleet-wide limits' current use (workers/ratelimit.py keeps them)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.get(keys.RATE_LIMIT)
        pipe.get(keys.RATE_SLOWDOWN)
        pipe.pttl(keys.RATE_SLOWDOWN)
        pipe.zcount(keys.CONNECTIONS, now, "+inf")
        pipe.get(keys.CONNECTIONS_CAP)
        pipe.pttl(keys.CONNECTIONS_CAP)
        tat, slowdown, slowdown_ttl, in_flight, cap, cap_ttl = await pipe.execute()
    return {
        "requests_in_flight": int(in_flight),
        "connections_cap_lowered_to": _int(cap) if cap else None,
        "connections_cap_lowered_for_s": round(cap_ttl / 1000, 1) if cap and cap_ttl > 0 else None,
        "slowdown_factor": float(slowdown) if slowdown else 1.0,
        "slowdown_for_s": round(slowdown_ttl / 1000, 1) if slowdown and slowdown_ttl > 0 else None,
        "rate_backlog_ms": max(0, int(float(tat) - now)) if tat else 0,
    }


async def circuit(client: aioredis.Redis) -> dict[str, Any]:
    fields: dict[str, str] = await client.hgetall(keys.CIRCUIT)  # type: ignore[misc,assignment]
    if fields.get("state") != "open":
        return {"state": "closed"}
    since_ms = _int(fields.get("since_ms"))
    return {
        "state": "open",
        "since_ms": since_ms,
        "since": iso(since_ms),
        "reason": fields.get("reason", ""),
        "probes": _int(fields.get("probes")),
    }


async def snapshot(
    client: aioredis.Redis,
    rq_connection: redis.Redis,
    queue_name: str,
    *,
    dlq_cap: int = 10_000,
    waiting_cap: int = 200,
) -> RelayState:
    now = now_ms()
    state = RelayState(at_ms=now, queue_name=queue_name)
    async with client.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.READY)
        pipe.zcard(keys.LEASES)
        pipe.zcard(keys.RETRY)
        state.ready, state.delivering, state.retrying = await pipe.execute()
    state.oldest_waiting = await oldest_waiting(client, cap=waiting_cap, now=now)
    state.dlq_total, state.dlq_by_reason = await dead_letter_counts(client, cap=dlq_cap)
    state.circuit = await circuit(client)
    state.rate = await rate_usage(client, now=now)
    state.rq_jobs_waiting = await asyncio.to_thread(queue_length, rq_connection, queue_name)
    state.workers = await asyncio.to_thread(read_workers, rq_connection, queue_name)
    return state
