"""The delivery runtime of one worker process: a persistent event loop in a background thread.

RQ runs one job at a time per process; the runtime is what lets one job deliver many
customers concurrently over a kept-alive aiohttp connection pool, and it keeps the pool and
the Redis client alive between jobs. It also runs the maintenance loop: due retries and
expired leases (a worker that died) become ready again, a wake-up job is enqueued whenever
ready customers wait with no job queued, and dead letters whose cause went away are re-queued
(workers/replays.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiohttp

from relay.chartmogul.client import ChartMogulClient
from relay.chartmogul.ratelimit import RateLimiter
from relay.exceptions import StoreUnavailable
from relay.logs import get_logger
from relay.queue import queue_length, relay_queue, rq_connection, wake
from relay.settings import Settings
from relay.store import Store
from workers.circuit import Circuit
from workers.delivery import Deliverer, DeliveryConfig
from workers.policy import RetrySchedule
from workers.replays import AutoReplayer, DeliveryHealth
from workers.resolve import CustomerResolver

T = TypeVar("T")
log = get_logger("relay.worker")


class DeliveryRuntime:
    def __init__(self, settings: Settings, *, worker_name: str | None = None) -> None:
        self.settings = settings
        self.worker_name = worker_name or f"{socket.gethostname()}.{os.getpid()}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="relay-delivery", daemon=True)
        self._maintenance: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._deliverer: Deliverer | None = None
        self._circuit: Circuit | None = None
        self._health = DeliveryHealth()
        self._replayer: AutoReplayer | None = None
        # Set on SIGTERM: finish the deliveries in flight, claim no new customers.
        self.stopping = threading.Event()
        self._store: Store | None = None
        self._rq_redis = rq_connection(settings.redis_url)
        self.queue = relay_queue(self._rq_redis, settings.queue_name)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self.run(self._open())

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
        self._rq_redis.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the runtime's loop and wait for its result (called from RQ's thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _open(self) -> None:
        settings = self.settings
        api_key = settings.require_api_key()
        self._store = store = Store.from_url(
            settings.redis_url,
            event_ttl_s=settings.event_ttl_s,
            dlq_ttl_s=settings.dlq_ttl_s,
            dlq_mirror_queue=settings.queue_name,
        )
        try:
            await store.migrate()
        except StoreUnavailable as exc:  # the web app, or the next start, migrates
            log.warning("migrate_failed", error=exc.cause)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.delivery_concurrency, keepalive_timeout=30),
        )
        limiter = RateLimiter(
            store.limits,
            per_s=settings.rate_limit_per_s,
            max_connections=settings.max_connections,
            slot_ttl_s=settings.http_timeout_s + 5,
        )
        client = ChartMogulClient(
            self._session,
            base_url=settings.chartmogul_api_base,
            api_key=api_key,
            timeout_s=settings.http_timeout_s,
            limiter=limiter,
        )
        self._circuit = Circuit(store.circuit, client)
        self._deliverer = Deliverer(
            store=store,
            client=client,
            circuit=self._circuit,
            resolver=CustomerResolver(store.links, client, lookup_ttl_s=settings.lookup_ttl_s),
            wake=self._wake,
            limiter=limiter,
            schedule=RetrySchedule(
                base_s=settings.retry_base_s, cap_s=settings.retry_cap_s, deadline_s=settings.retry_deadline_s
            ),
            config=DeliveryConfig(
                concurrency=settings.delivery_concurrency, lease_ms=int(settings.lease_s * 1000)
            ),
            worker_name=self.worker_name,
            data_source_uuid=settings.chartmogul_data_source_uuid,
            health=self._health,
        )
        self._replayer = AutoReplayer(
            store,
            enabled=settings.auto_replay,
            healthy_s=settings.auto_replay_healthy_s,
            turn_ms=int(settings.maintenance_interval_s * 1000),
            wake=self._wake,
        )
        self._maintenance = asyncio.create_task(self._maintain())

    async def _close(self) -> None:
        if self._maintenance is not None:
            self._maintenance.cancel()
        if self._session is not None:
            await self._session.close()
        if self._store is not None:
            await self._store.aclose()

    # --- work ---------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        assert self._store is not None, "runtime not started"
        return self._store

    @property
    def deliverer(self) -> Deliverer:
        assert self._deliverer is not None, "runtime not started"
        return self._deliverer

    async def deliver_ready(self) -> dict[str, int]:
        delivered = await self.deliverer.deliver_ready(
            budget_s=self.settings.job_budget_s, should_stop=self.stopping.is_set
        )
        # The budget ran out with customers still waiting: hand over to the next wake-up job. Not
        # while the circuit is open: nothing can be claimed, and each job would only enqueue the
        # next (the maintenance loop wakes a worker once a second, and when the circuit closes).
        if self.stopping.is_set() or await self.store.circuit.is_open():
            return {"delivered": delivered}
        if (await self.store.deliveries.waiting()).ready:
            await self._wake()
        return {"delivered": delivered}

    async def drain(self) -> int:
        """Deliver until no customer is ready or being delivered (for `relay worker --burst`)."""
        delivered = 0
        while True:
            await self.store.deliveries.promote()
            claimed = await self.deliverer.deliver_ready(budget_s=self.settings.job_budget_s)
            delivered += claimed
            if claimed == 0:
                if not (await self.store.deliveries.waiting()).delivering:
                    return delivered
                await asyncio.sleep(0.2)

    async def _wake(self) -> None:
        await wake(self.queue)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.settings.maintenance_interval_s)
            try:
                if self._circuit is not None and await self._circuit.probe_if_due():
                    await self._wake()
                _due, expired = await self.store.deliveries.promote()
                if expired:
                    log.warning("leases_recovered", customers=expired)
                ready = (await self.store.deliveries.waiting()).ready
                if ready and await asyncio.to_thread(queue_length, self.queue) == 0:
                    await self._wake()
                await self._health.report(self.store)
                if self._replayer is not None:
                    await self._replayer.run()
            except StoreUnavailable as exc:
                # Redis restarting: keep trying; the client reconnects by itself.
                log.warning("maintenance_failed", error=exc.cause)
            except Exception:
                # Whatever it was, this loop must outlive it: it recovers everyone's leases.
                log.exception("maintenance_crashed")
