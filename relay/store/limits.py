"""The fleet's shared limits on calls to ChartMogul, kept in Redis so every worker obeys them.

    rate        reserve the next send time under the request rate (lua/rate_reserve.lua, GCRA
                plus a sliding log); a slow-down factor stretches it for a while after a 429
    connections a counting semaphore of requests in flight (lua/rate_slot.lua); its cap is
                lowered for a while after a 503

The arithmetic of waiting lives in relay/chartmogul/ratelimit.py; this module only keeps the state.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from relay.store import keys
from relay.store.scripts import Scripts

# ChartMogul counts requests per second, and requests bunch up a little on their way there.
WINDOW_MS = 1000 + 25


class FleetLimits:
    def __init__(self, redis: aioredis.Redis, scripts: Scripts) -> None:
        self.redis = redis
        self.scripts = scripts

    async def reserve_send(self, *, interval_ms: float, per_window: int) -> float:
        """Reserve this request's send time; returns how long to wait for it (ms)."""
        wait_ms = await self.scripts.rate_reserve(
            keys=[keys.RATE_LIMIT, keys.RATE_SENDS, keys.RATE_SLOWDOWN],
            args=[interval_ms, per_window, WINDOW_MS],
        )
        return float(wait_ms)

    async def take_slot(self, holder: str, *, cap: int, slot_ttl_ms: int) -> bool:
        taken = await self.scripts.rate_slot(
            keys=[keys.CONNECTIONS, keys.CONNECTIONS_CAP], args=[cap, slot_ttl_ms, holder]
        )
        return bool(taken)

    async def free_slot(self, holder: str) -> None:
        await self.redis.zrem(keys.CONNECTIONS, holder)

    async def slow_down(self, factor: float, *, for_s: float) -> None:
        await self.redis.set(keys.RATE_SLOWDOWN, factor, ex=max(1, int(for_s)))

    async def lower_connection_cap(self, *, default_cap: int, for_s: float) -> int:
        """Halve the fleet's connection cap (from its current value) for a while; the new cap."""
        current = await self.redis.get(keys.CONNECTIONS_CAP)
        cap = max(1, int(current or default_cap) // 2)
        await self.redis.set(keys.CONNECTIONS_CAP, cap, ex=max(1, int(for_s)))
        return cap

    async def usage(self, *, now_ms: int) -> dict[str, Any]:
        """The limits' current use, for `relay status` and metrics."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.RATE_LIMIT)
            pipe.get(keys.RATE_SLOWDOWN)
            pipe.pttl(keys.RATE_SLOWDOWN)
            pipe.zcount(keys.CONNECTIONS, now_ms, "+inf")
            pipe.get(keys.CONNECTIONS_CAP)
            pipe.pttl(keys.CONNECTIONS_CAP)
            pipe.lrange(keys.RATE_SENDS, 0, -1)
            tat, slowdown, slowdown_ttl, in_flight, cap, cap_ttl, sends = await pipe.execute()
        return {
            # Requests the fleet sent in the last second (the sliding log keeps a window's worth).
            "requests_last_s": sum(now_ms - 1000 < _float(at, 0) <= now_ms for at in sends),
            "requests_in_flight": int(in_flight),
            "connections_cap_lowered_to": _int(cap) if cap else None,
            "connections_cap_lowered_for_s": round(cap_ttl / 1000, 1) if cap and cap_ttl > 0 else None,
            "slowdown_factor": _float(slowdown, 1.0) if slowdown else 1.0,
            "slowdown_for_s": round(slowdown_ttl / 1000, 1) if slowdown and slowdown_ttl > 0 else None,
            "rate_backlog_ms": max(0, int(_float(tat, now_ms) - now_ms)) if tat else 0,
        }


def _float(value: str, default: float) -> float:
    try:
        return float(value)
    except ValueError:
        return default


def _int(value: str) -> int:
    return int(_float(value, 0))
