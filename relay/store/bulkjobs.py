"""Bulk replays started from the console: their progress and results, kept a day, so the
progress page reads the same from any web pod while the replay runs in the pod that took it.

A job's hash: total, done, counts by outcome ("n:replayed", "n:skipped", …), state (running |
finished), what it replays (`description`), started_at_ms / updated_at_ms. Its list: one JSON
result per event, the first KEPT_RESULTS of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from relay.store import keys
from relay.store.records import now_ms

JOB_TTL_S = 24 * 3600
KEPT_RESULTS = 1000


@dataclass(slots=True)
class BulkJob:
    job_id: str
    description: str
    total: int
    done: int
    state: str  # running | finished
    started_at_ms: int
    updated_at_ms: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state == "finished"


class BulkJobs:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def start(self, job_id: str, *, total: int, description: str) -> None:
        at = now_ms()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.bulk_job(job_id),
                mapping={
                    "description": description,
                    "total": total,
                    "done": 0,
                    "state": "running",
                    "started_at_ms": at,
                    "updated_at_ms": at,
                },
            )
            pipe.expire(keys.bulk_job(job_id), JOB_TTL_S)
            await pipe.execute()

    async def record(self, job_id: str, result: dict[str, Any]) -> None:
        """One event's result: counted by its `outcome`, kept in the list while it is short."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(keys.bulk_job(job_id), "done", 1)
            pipe.hincrby(keys.bulk_job(job_id), f"n:{result.get('outcome', 'unknown')}", 1)
            pipe.hset(keys.bulk_job(job_id), "updated_at_ms", now_ms())
            pipe.rpush(keys.bulk_results(job_id), orjson.dumps(result))
            pipe.ltrim(keys.bulk_results(job_id), 0, KEPT_RESULTS - 1)
            pipe.expire(keys.bulk_results(job_id), JOB_TTL_S)
            await pipe.execute()

    async def finish(self, job_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.bulk_job(job_id), mapping={"state": "finished", "updated_at_ms": now_ms()})
            pipe.expire(keys.bulk_job(job_id), JOB_TTL_S)
            await pipe.execute()

    async def get(self, job_id: str) -> BulkJob | None:
        fields: dict[str, str] = await self.redis.hgetall(keys.bulk_job(job_id))  # type: ignore[misc,assignment]
        if not fields:
            return None
        return BulkJob(
            job_id=job_id,
            description=fields.get("description", ""),
            total=_int(fields.get("total")),
            done=_int(fields.get("done")),
            state=fields.get("state", "running"),
            started_at_ms=_int(fields.get("started_at_ms")),
            updated_at_ms=_int(fields.get("updated_at_ms")),
            counts={k[2:]: _int(v) for k, v in fields.items() if k.startswith("n:")},
        )

    async def results(self, job_id: str) -> list[dict[str, Any]]:
        entries: list[str] = await self.redis.lrange(keys.bulk_results(job_id), 0, -1)  # type: ignore[misc,assignment]
        return [orjson.loads(entry) for entry in entries]


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0
