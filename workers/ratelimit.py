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

from relay import keys, metrics

# The rate as a schedule: each caller reserves the next send time and is told how long to wait
# for it; nobody polls, so the fleet sends exactly at the rate. A send time is at least one
# emission interval after the previous one (GCRA), and at most `per_window` sends fall in any
# window of 1 s + a margin (a sliding log of the last sends), because ChartMogul counts
# requests per second and requests bunch up a little on their way there. Server time, so
# workers on different hosts agree.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local slowdown = tonumber(redis.call('GET', KEYS[3]) or '1')
local interval = tonumber(ARGV[1]) * slowdown
local per_window = math.max(1, math.floor(tonumber(ARGV[2]) / slowdown))
local window = tonumber(ARGV[3])
local at = tonumber(redis.call('GET', KEYS[1]) or now)
if at < now then at = now end
local sent = redis.call('LRANGE', KEYS[2], -per_window, -1)
if #sent >= per_window then
  local earliest = tonumber(sent[1]) + window
  if at < earliest then at = earliest end
end
redis.call('SET', KEYS[1], tostring(at + interval), 'PX', math.ceil(at + interval - now) + 1000)
redis.call('RPUSH', KEYS[2], tostring(at))
redis.call('LTRIM', KEYS[2], -per_window, -1)
redis.call('PEXPIRE', KEYS[2], math.ceil(at - now + window) + 1000)
return tostring(at - now)
"""
WINDOW_MS = 1000 + 25

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
    ) -> None:
        self._redis = redis
        self._gcra = redis.register_script(GCRA)
        self._slots = redis.register_script(SLOTS)
        self.interval_ms = 1000.0 / per_s
        self.per_window = max(1, int(per_s))
        self.max_connections = max_connections
        self.slot_ttl_ms = int(slot_ttl_s * 1000)
        self.waited_s = 0.0

    async def acquire(self) -> None:
        """Reserve this request's send time under the shared rate, and wait for it."""
        wait_ms = float(
            await self._gcra(
                keys=[keys.RATE_LIMIT, keys.RATE_SENDS, keys.RATE_SLOWDOWN],
                args=[self.interval_ms, self.per_window, WINDOW_MS],
            )
        )
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
        while not await self._slots(
            keys=[keys.CONNECTIONS, keys.CONNECTIONS_CAP],
            args=[self.max_connections, self.slot_ttl_ms, holder],
        ):
            waited_s += 0.01
            await asyncio.sleep(0.01)
        if waited_s:
            self.waited_s += waited_s
            metrics.record_rate_limit_wait(waited_s)
        try:
            yield
        finally:
            await self._redis.zrem(keys.CONNECTIONS, holder)

    async def slow_down(self, *, factor: float = 1.5, for_s: float = 5.0) -> None:
        """ChartMogul said 429: the whole fleet sends at 1/factor of the rate for a while."""
        await self._redis.set(keys.RATE_SLOWDOWN, factor, ex=max(1, int(for_s)))

    async def fewer_connections(self, *, for_s: float = 30.0) -> None:
        """ChartMogul said 503 (too many connections): halve the fleet's cap for a while."""
        current = await self._redis.get(keys.CONNECTIONS_CAP)
        cap = max(1, int(current or self.max_connections) // 2)
        await self._redis.set(keys.CONNECTIONS_CAP, cap, ex=max(1, int(for_s)))
