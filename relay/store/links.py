"""CRM record → ChartMogul customer links, and the cache of ChartMogul look-ups.

The link table is permanent (`relay links import`, link properties the CRM sent, a resolved
CRM record); a cached look-up of an external_id or email expires, since ChartMogul's answer
may change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis

from relay.store import keys


class Links:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def get(self, crm_record: str) -> str | None:
        uuid = await self.redis.hget(keys.LINKS, crm_record)  # type: ignore[misc]
        return str(uuid) if uuid else None

    async def get_many(self, crm_records: Sequence[str]) -> dict[str, str]:
        """The links of these records that exist, in one call."""
        if not crm_records:
            return {}
        found: list[str | None] = await self.redis.hmget(keys.LINKS, list(crm_records))  # type: ignore[misc,assignment]
        return {record: uuid for record, uuid in zip(crm_records, found, strict=True) if uuid}

    async def count(self) -> int:
        return int(await self.redis.hlen(keys.LINKS))  # type: ignore[misc]

    async def add(self, links: Mapping[str, str]) -> None:
        if links:
            await self.redis.hset(keys.LINKS, mapping=dict(links))  # type: ignore[misc,arg-type]

    async def all(self) -> dict[str, str]:
        return await self.redis.hgetall(keys.LINKS)  # type: ignore[misc,return-value]

    async def linked_to(self, uuid: str, *, limit: int = 1000) -> list[str]:
        """The CRM records and customer keys linked to `uuid` (a scan of the whole table)."""
        found: list[str] = []
        async for name, value in self.redis.hscan_iter(keys.LINKS, count=1000):
            if value == uuid:
                found.append(name)
                if len(found) >= limit:
                    break
        return sorted(found)

    async def delete(self, crm_record: str) -> bool:
        return bool(await self.redis.hdel(keys.LINKS, crm_record))  # type: ignore[misc]

    async def cached_lookup(self, reference_key: str) -> str | None:
        uuid = await self.redis.get(keys.lookup(reference_key))
        return str(uuid) if uuid else None

    async def cache_lookup(self, reference_key: str, uuid: str, *, ttl_s: int) -> None:
        await self.redis.set(keys.lookup(reference_key), uuid, ex=ttl_s)
