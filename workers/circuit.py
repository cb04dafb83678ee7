"""The circuit breaker for bad credentials.

A 401/403 from ChartMogul means the API key is wrong (or the account's trial expired) for
every event, not just this one: dead-lettering the backlog would be wrong. The circuit opens,
every worker stops claiming customers (events stay queued), /readyz and metrics report it,
and one worker at a time probes GET /v1/ping with backoff until it answers 200.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from relay import keys
from relay.exceptions import AuthFailed, DeliveryError
from relay.ledger import now_ms
from relay.logs import get_logger
from workers.chartmogul import ChartMogulClient

log = get_logger("relay.circuit")


class Circuit:
    def __init__(
        self, redis: aioredis.Redis, client: ChartMogulClient, *, max_probe_interval_s: float = 60.0
    ) -> None:
        self.redis = redis
        self.client = client
        self.max_probe_interval_s = max_probe_interval_s

    async def is_open(self) -> bool:
        return await self.redis.hget(keys.CIRCUIT, "state") == "open"  # type: ignore[no-any-return,misc]

    async def open(self, reason: str) -> None:
        opened = await self.redis.hsetnx(keys.CIRCUIT, "state", "open")  # type: ignore[misc]
        if opened:
            await self.redis.hset(keys.CIRCUIT, mapping={"since_ms": now_ms(), "reason": reason, "probes": 0})  # type: ignore[misc]
            log.error("circuit_open", reason=reason, action="delivery paused; events stay queued")

    async def probe_if_due(self) -> bool:
        """Probe ChartMogul if the circuit is open and no other worker probed recently.
        Returns True when the circuit closed."""
        if not await self.is_open():
            return False
        probes = int(await self.redis.hget(keys.CIRCUIT, "probes") or 0)  # type: ignore[misc]
        interval_s = min(self.max_probe_interval_s, 2.0 ** min(probes, 10))
        if not await self.redis.set(keys.CIRCUIT_PROBE, "1", nx=True, px=int(interval_s * 1000)):
            return False
        await self.redis.hincrby(keys.CIRCUIT, "probes", 1)  # type: ignore[misc]
        try:
            await self.client.ping()
        except AuthFailed as exc:
            log.error("circuit_still_open", error=exc.message, next_probe_in_s=interval_s)
            return False
        except DeliveryError as exc:
            log.warning("circuit_probe_failed", error=exc.message)
            return False
        await self.redis.delete(keys.CIRCUIT, keys.CIRCUIT_PROBE)
        log.info("circuit_closed", action="delivery resumes")
        return True
