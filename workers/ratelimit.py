"""One rate limit shared by every worker process: GCRA in Redis, atomic in Lua.

ChartMogul allows 40 requests/s per account and counts every request; all workers of one
account share this limiter so the fleet, not each process, stays under it.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from relay import keys

# GCRA: a request is allowed when the theoretical arrival time (TAT) is within the burst
# tolerance of now; each allowed request moves TAT one emission interval forward.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - burst - now
if wait > 0 then return tostring(wait) end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil(tat + interval - now) + 1000)
return '0'
"""


class RateLimiter:
    def __init__(
        self, redis: aioredis.Redis, *, per_s: float, burst: int = 1, key: str = keys.RATE_LIMIT
    ) -> None:
        self._script = redis.register_script(GCRA)
        self._key = key
        self.interval_ms = 1000.0 / per_s
        self.burst_ms = self.interval_ms * max(0, burst - 1)
        self.waited_s = 0.0

    async def acquire(self) -> None:
        """Wait until this process may send one request."""
        while True:
            wait_ms = float(await self._script(keys=[self._key], args=[self.interval_ms, self.burst_ms]))
            if wait_ms <= 0:
                return
            self.waited_s += wait_ms / 1000
            await asyncio.sleep(wait_ms / 1000)
