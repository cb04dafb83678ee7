"""The circuit's state: open while ChartMogul refuses our credentials, shared by the fleet.

Workers open it on a 401/403, take turns probing while it is open, and close it when a probe
passes (workers/circuit.py decides when); the web app and `relay status` read it.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from relay.store import keys
from relay.store.records import now_ms


def _int(value: str | None) -> int:
    try:
        return int(float(value)) if value is not None else 0
    except ValueError:
        return 0


class CircuitState:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def is_open(self) -> bool:
        return await self.redis.hget(keys.CIRCUIT, "state") == "open"  # type: ignore[misc,no-any-return]

    async def open(self, reason: str) -> bool:
        """Open the circuit; False when it was open already."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(keys.CIRCUIT, "state", "open")
            pipe.hget(keys.CIRCUIT, "since_ms")
            opened, since = await pipe.execute()
        if opened or since is None:
            await self.redis.hset(keys.CIRCUIT, mapping={"since_ms": now_ms(), "reason": reason, "probes": 0})  # type: ignore[misc]
        return bool(opened)

    async def probe_turn(self, *, max_interval_s: float) -> float | None:
        """This worker's turn to probe (the interval until the next turn, in s), or None when the
        circuit is closed or another worker probed recently. Probes back off exponentially."""
        if not await self.is_open():
            return None
        probes = _int(await self.redis.hget(keys.CIRCUIT, "probes"))  # type: ignore[misc,arg-type]
        interval_s = min(max_interval_s, 2.0 ** min(probes, 10))
        if not await self.redis.set(keys.CIRCUIT_PROBE, "1", nx=True, px=int(interval_s * 1000)):
            return None
        await self.redis.hincrby(keys.CIRCUIT, "probes", 1)  # type: ignore[misc]
        return interval_s

    async def close(self) -> None:
        await self.redis.delete(keys.CIRCUIT, keys.CIRCUIT_PROBE)

    async def read(self) -> dict[str, Any]:
        """{"state": "closed"} or {"state": "open", "since_ms", "reason", "probes"}."""
        fields: dict[str, str] = await self.redis.hgetall(keys.CIRCUIT)  # type: ignore[misc,assignment]
        if fields.get("state") != "open":
            return {"state": "closed"}
        return {
            "state": "open",
            "since_ms": _int(fields.get("since_ms")),
            "reason": fields.get("reason", ""),
            "probes": _int(fields.get("probes")),
        }
