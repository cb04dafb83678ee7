"""Fleet-wide limits on calls to ChartMogul, shared by every worker process through Redis.

ChartMogul allows 40 requests/s per account (every request counts) and answers 503 past 20
parallel connections. Two atomic Lua scripts hold both limits for all workers together:
    GCRA       the request rate; slowed down for a while after a 429 (adaptive)
    SLOTS      a counting semaphore of requests in flight; its cap is lowered after a 503
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from relay import keys

# GCRA as a schedule: each caller reserves the next send time (the theoretical arrival time,
# TAT, one emission interval after the previous one) and is told how long to wait for it.
# Nobody polls, so the fleet sends exactly at the rate. Server time, so hosts agree.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1]) * tonumber(redis.call('GET', KEYS[2]) or '1')
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(tat + interval - now) + 1000)
local wait = tat - burst - now
if wait < 0 then wait = 0 end
return tostring(wait)
"""

# Take a slot unless the fleet already holds `cap` (or the lowered cap); slots of a worker
# that died expire on their own.
SLOTS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cap = tonumber(redis.call('GET', KEYS[2]) or ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
return 1
"""


class RateLimiter:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        per_s: float,
        max_connections: int,
        slot_ttl_s: float,
        burst: int = 1,
    ) -> None:
        self._redis = redis
        self._gcra = redis.register_script(GCRA)
        self._slots = redis.register_script(SLOTS)
        self.interval_ms = 1000.0 / per_s
        self.burst_ms = self.interval_ms * max(0, burst - 1)
        self.max_connections = max_connections
        self.slot_ttl_ms = int(slot_ttl_s * 1000)
        self.waited_s = 0.0

    async def acquire(self) -> None:
        """Reserve this request's send time under the shared rate, and wait for it."""
        wait_ms = float(
            await self._gcra(
                keys=[keys.RATE_LIMIT, keys.RATE_SLOWDOWN], args=[self.interval_ms, self.burst_ms]
            )
        )
        if wait_ms > 0:
            self.waited_s += wait_ms / 1000
            await asyncio.sleep(wait_ms / 1000)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One request's turn: a rate token, and a connection slot held while it is in flight."""
        await self.acquire()
        holder = uuid.uuid4().hex
        while not await self._slots(
            keys=[keys.CONNECTIONS, keys.CONNECTIONS_CAP],
            args=[self.max_connections, self.slot_ttl_ms, holder],
        ):
            self.waited_s += 0.01
            await asyncio.sleep(0.01)
        try:
            yield
        finally:
            await self._redis.zrem(keys.CONNECTIONS, holder)

    async def slow_down(self, *, factor: float = 2.0, for_s: float = 10.0) -> None:
        """ChartMogul said 429: the whole fleet sends at 1/factor of the rate for a while."""
        await self._redis.set(keys.RATE_SLOWDOWN, factor, ex=max(1, int(for_s)))

    async def fewer_connections(self, *, for_s: float = 30.0) -> None:
        """ChartMogul said 503 (too many connections): halve the fleet's cap for a while."""
        current = await self._redis.get(keys.CONNECTIONS_CAP)
        cap = max(1, int(current or self.max_connections) // 2)
        await self._redis.set(keys.CONNECTIONS_CAP, cap, ex=max(1, int(for_s)))
