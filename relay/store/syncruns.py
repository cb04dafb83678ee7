"""The newest `relay sync` runs that enqueued changes, each with what it read and wrote: the
console's "Links and syncs" page lists them. A run's events are the ledger's own (source
`sync`); this keeps the run's summary, and the ids of the first events it enqueued, beside them."""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from relay.store import keys

KEPT_RUNS = 100


class SyncRuns:
    def __init__(self, redis: aioredis.Redis, *, kept: int = KEPT_RUNS) -> None:
        self.redis = redis
        self.kept = kept

    async def add(self, run: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(keys.SYNC_RUNS, orjson.dumps(run))
            pipe.ltrim(keys.SYNC_RUNS, 0, self.kept - 1)
            await pipe.execute()

    async def recent(self, limit: int = KEPT_RUNS) -> list[dict[str, Any]]:
        """Newest first; an entry that is not a JSON object (damaged) is left out."""
        entries: list[str] = await self.redis.lrange(keys.SYNC_RUNS, 0, limit - 1)  # type: ignore[misc,assignment]
        runs = []
        for entry in entries:
            try:
                run = orjson.loads(entry)
            except orjson.JSONDecodeError:
                continue
            if isinstance(run, dict):
                runs.append(run)
        return runs
