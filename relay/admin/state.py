"""The relay's state at a glance: what `relay status`, `/admin/status`, `/readyz` and the
scrape-time metrics show.

Everything here is read-only and bounded: the DLQ's reasons are counted over its newest
`dlq_cap` entries, and the oldest waiting event is looked for among at most `waiting_cap`
customers of each delivery state (the ones waiting longest first).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

from relay.queue import Queue, WorkerInfo, queue_length, read_workers
from relay.store import Store, now_ms
from relay.times import iso


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
    dlq_oldest_age_s: float = 0.0  # how long ago the oldest dead letter died (0: none)
    dlq_retention_s: int = 0  # how long a dead letter is kept (RELAY_DLQ_TTL_S)
    circuit: dict[str, Any] = field(default_factory=lambda: {"state": "closed"})
    rate: dict[str, Any] = field(default_factory=dict)
    workers: list[WorkerInfo] = field(default_factory=list)

    @property
    def circuit_open(self) -> bool:
        return self.circuit.get("state") == "open"

    def public(self) -> dict[str, Any]:
        return asdict(self)


async def snapshot(
    store: Store, queue: Queue, *, dlq_cap: int = 10_000, waiting_cap: int = 200
) -> RelayState:
    now = now_ms()
    state = RelayState(at_ms=now, queue_name=queue.name)
    waiting = await store.deliveries.waiting()
    state.ready, state.delivering, state.retrying = waiting.ready, waiting.delivering, waiting.retrying
    oldest = await store.deliveries.oldest_waiting(cap=waiting_cap)
    if oldest is not None:
        event_id, customer, received_ms = oldest
        state.oldest_waiting = OldestWaiting(
            event_id, customer, received_ms, round(max(0, now - received_ms) / 1000, 3)
        )
    state.dlq_total, state.dlq_by_reason = await store.log.dead_letter_counts(cap=dlq_cap)
    state.dlq_oldest_age_s = round(await store.log.oldest_dead_letter_age_s(), 3)
    state.dlq_retention_s = store.dlq_ttl_s
    circuit = await store.circuit.read()
    if circuit["state"] == "open":
        circuit["since"] = iso(circuit["since_ms"])
    state.circuit = circuit
    state.rate = await store.limits.usage(now_ms=now)
    state.rq_jobs_waiting = await asyncio.to_thread(queue_length, queue)
    state.workers = await asyncio.to_thread(read_workers, queue)
    return state
