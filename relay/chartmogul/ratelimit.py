"""Fleet-wide limits on calls to ChartMogul, shared by every worker process.

ChartMogul allows 40 requests/s per account (every request counts) and answers 503 past 20
parallel connections. The store keeps both limits for all workers together
(relay/store/limits.py); this module turns them into waiting:
    rate         each request reserves its send time and sleeps until then; slowed down for a
                 while after a 429 (adaptive)
    connections  a slot is held while a request is in flight; the cap is lowered after a 503
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from relay import metrics
from relay.store.limits import FleetLimits

SLOT_POLL_S = 0.01


class RateLimiter:
    def __init__(self, limits: FleetLimits, *, per_s: float, max_connections: int, slot_ttl_s: float) -> None:
        self.limits = limits
        self.interval_ms = 1000.0 / per_s
        # At most this many sends in any one-second window, whatever the spacing.
        self.per_window = max(1, int(per_s))
        self.max_connections = max_connections
        self.slot_ttl_ms = int(slot_ttl_s * 1000)
        self.waited_s = 0.0

    async def acquire(self) -> None:
        """Reserve this request's send time under the shared rate, and wait for it."""
        wait_ms = await self.limits.reserve_send(interval_ms=self.interval_ms, per_window=self.per_window)
        if wait_ms > 0:
            self.waited_s += wait_ms / 1000
            metrics.record_rate_limit_wait(wait_ms / 1000)
            await asyncio.sleep(wait_ms / 1000)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One request's turn: a rate token, and a connection slot held while it is in flight."""
        await self.acquire()
        holder = uuid.uuid4().hex
        waited_s = 0.0
        while not await self.limits.take_slot(holder, cap=self.max_connections, slot_ttl_ms=self.slot_ttl_ms):
            waited_s += SLOT_POLL_S
            await asyncio.sleep(SLOT_POLL_S)
        if waited_s:
            self.waited_s += waited_s
            metrics.record_rate_limit_wait(waited_s)
        try:
            yield
        finally:
            await self.limits.free_slot(holder)

    async def slow_down(self, *, factor: float = 1.5, for_s: float = 5.0) -> None:
        """ChartMogul said 429: the whole fleet sends at 1/factor of the rate for a while."""
        await self.limits.slow_down(factor, for_s=for_s)

    async def fewer_connections(self, *, for_s: float = 30.0) -> None:
        """ChartMogul said 503 (too many connections): halve the fleet's cap for a while."""
        await self.limits.lower_connection_cap(default_cap=self.max_connections, for_s=for_s)
