"""`Store`: one Redis client and every part of the relay's state that lives behind it."""

from __future__ import annotations

import redis.asyncio as aioredis

from relay.queue import DeadLetterMirror
from relay.store import keys
from relay.store.bulkjobs import BulkJobs
from relay.store.circuit import CircuitState
from relay.store.client import connect
from relay.store.deliveries import Deliveries
from relay.store.eventlog import EventLog
from relay.store.ledger import Ledger
from relay.store.limits import FleetLimits
from relay.store.links import Links
from relay.store.replays import Replays
from relay.store.scripts import Scripts
from relay.store.syncruns import SyncRuns
from relay.store.traffic import Traffic

DEFAULT_EVENT_TTL_S = 7 * 24 * 3600
DEFAULT_DLQ_TTL_S = 90 * 24 * 3600


class Store:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        accept_redis: aioredis.Redis | None = None,
        event_ttl_s: int = DEFAULT_EVENT_TTL_S,
        dlq_ttl_s: int = DEFAULT_DLQ_TTL_S,
        dlq_mirror_queue: str | None = "relay",
        replica_acks: int = 0,
        replica_ack_timeout_ms: int = 1000,
    ) -> None:
        self.redis = redis
        # The web app's accepts go through a client of their own (Store.from_url: without
        # redis-py's socket timeout, whose asyncio.wait_for moves every send into a task of
        # its own, a loop turn later); the group commit bounds each round trip itself.
        self.accept_redis = accept_redis or redis
        self.event_ttl_s = event_ttl_s
        self.dlq_ttl_s = dlq_ttl_s
        # Dead letters are mirrored as failed jobs of this RQ queue, for rq-dashboard (None: off).
        mirror = DeadLetterMirror(dlq_mirror_queue, dlq_ttl_s) if dlq_mirror_queue else None
        self.scripts = Scripts(redis)
        self.ledger = Ledger(
            redis,
            self.scripts,
            accept_redis=self.accept_redis,
            event_ttl_s=event_ttl_s,
            mirror=mirror,
            replica_acks=replica_acks,
            replica_ack_timeout_ms=replica_ack_timeout_ms,
        )
        self.deliveries = Deliveries(
            redis, self.scripts, self.ledger, event_ttl_s=event_ttl_s, dlq_ttl_s=dlq_ttl_s, mirror=mirror
        )
        self.log = EventLog(redis, self.ledger, event_ttl_s=event_ttl_s, dlq_ttl_s=dlq_ttl_s)
        self.replays = Replays(redis, self.scripts, self.ledger)
        self.links = Links(redis, self.scripts, self.replays)
        self.limits = FleetLimits(redis, self.scripts)
        self.circuit = CircuitState(redis)
        self.traffic = Traffic(redis)
        self.sync_runs = SyncRuns(redis)
        self.bulk_jobs = BulkJobs(redis)

    @classmethod
    def from_url(
        cls,
        redis_url: str,
        *,
        event_ttl_s: int = DEFAULT_EVENT_TTL_S,
        dlq_ttl_s: int = DEFAULT_DLQ_TTL_S,
        dlq_mirror_queue: str | None = "relay",
        replica_acks: int = 0,
        replica_ack_timeout_ms: int = 1000,
    ) -> Store:
        return cls(
            connect(redis_url),
            accept_redis=connect(redis_url, socket_timeout=None),
            event_ttl_s=event_ttl_s,
            dlq_ttl_s=dlq_ttl_s,
            dlq_mirror_queue=dlq_mirror_queue,
            replica_acks=replica_acks,
            replica_ack_timeout_ms=replica_ack_timeout_ms,
        )

    async def migrate(self) -> int:
        """Bring state written by an earlier layout up to date; returns how many items moved."""
        moved = await self.scripts.migrate_dlq(keys=[keys.DLQ_MS, keys.DLQ])
        return int(moved)

    async def ping(self) -> bool:
        return bool(await self.redis.ping())  # type: ignore[misc]

    async def aclose(self) -> None:
        await self.redis.aclose()
        if self.accept_redis is not self.redis:
            await self.accept_redis.aclose()
