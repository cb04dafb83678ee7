"""Webhook requests per source and minute, accepted or refused: what the console's overview
shows for the last hour, the same whichever web pod answers.

Each web process counts in memory (`TrafficTally`, on its event loop) and adds its counts to
the minute's hash once a second: one Redis call a second, not one per request (the ingest
path's whole budget is ~100 µs). A count that cannot be written (Redis down) is dropped and
said so in the log: these are statistics, the events themselves are in the ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import redis.asyncio as aioredis

from relay.exceptions import StoreError
from relay.logs import get_logger
from relay.store import keys
from relay.store.records import now_ms

log = get_logger("relay.web")

OUTCOMES = ("accepted", "refused")
MINUTE_MS = 60_000
# A minute's hash outlives the hour the overview reads by a margin for clock skew between pods.
TRAFFIC_TTL_S = 2 * 3600


class Traffic:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def add(self, counts: Mapping[tuple[str, str], int], *, at_ms: int) -> None:
        """Add (source, outcome) → requests to the minute of `at_ms`."""
        key = keys.traffic(at_ms // MINUTE_MS)
        async with self.redis.pipeline(transaction=False) as pipe:
            for (source, outcome), count in counts.items():
                pipe.hincrby(key, f"{source}:{outcome}", count)
            pipe.expire(key, TRAFFIC_TTL_S)
            await pipe.execute()

    async def last(self, *, minutes: int = 60, now: int | None = None) -> dict[str, dict[str, int]]:
        """source → {"accepted": n, "refused": m} over the last `minutes` minutes (this one included)."""
        current = (now_ms() if now is None else now) // MINUTE_MS
        async with self.redis.pipeline(transaction=False) as pipe:
            for minute in range(current - minutes + 1, current + 1):
                pipe.hgetall(keys.traffic(minute))
            hashes: list[dict[str, str]] = await pipe.execute()
        totals: dict[str, dict[str, int]] = {}
        for counts in hashes:
            for name, value in counts.items():
                source, _, outcome = name.rpartition(":")
                if outcome in OUTCOMES and value.isdigit():
                    by_outcome = totals.setdefault(source, dict.fromkeys(OUTCOMES, 0))
                    by_outcome[outcome] += int(value)
        return totals


class TrafficTally:
    """Counts of this process, written to `Traffic` once per `interval_s`. Used on an event loop."""

    def __init__(self, traffic: Traffic, *, interval_s: float = 1.0) -> None:
        self.traffic = traffic
        self.interval_s = interval_s
        self._counts: dict[tuple[str, str], int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()

    def count(self, source: str, outcome: str) -> None:
        key = (source, outcome)
        self._counts[key] = self._counts.get(key, 0) + 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._write_soon)

    def _write_soon(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._writes.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        counts, self._counts = self._counts, {}
        if not counts:
            return
        try:
            await self.traffic.add(counts, at_ms=now_ms())
        except StoreError as exc:
            log.warning(
                "webhook_traffic_not_recorded", error=type(exc).__name__, requests=sum(counts.values())
            )

    async def aclose(self) -> None:
        """Write what is left (at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self.flush()
