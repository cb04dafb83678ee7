"""The newest `relay sync` runs that enqueued changes, each with what it read and wrote: the
console's "Links and syncs" page lists them. A run's events are the ledger's own (source
`sync`); this keeps the run's summary, and the ids of the first events it enqueued, beside them.

And each source's watermark for `relay sync --from-api`: the CRM modification time up to which
every change read was enqueued. It only ever moves forward (ZADD GT), whatever order runs end in."""

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

    async def watermark(self, source: str) -> int | None:
        """The source's watermark (ms), or None before its first complete run."""
        found = await self.redis.zscore(keys.SYNC_WATERMARKS, source)
        return None if found is None else int(found)

    async def advance_watermark(self, source: str, at_ms: int) -> int:
        """Move the source's watermark to `at_ms` if that is later; the watermark now."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.SYNC_WATERMARKS, {source: at_ms}, gt=True)
            pipe.zscore(keys.SYNC_WATERMARKS, source)
            _, now = await pipe.execute()
        return int(now)
