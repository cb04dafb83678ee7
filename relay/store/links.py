"""CRM record → ChartMogul customer links, records' parents, and the cache of ChartMogul look-ups.

The link table is permanent (`relay links import`, link properties the CRM sent, a resolved
CRM record, a merge, a lead the relay created); a cached look-up of an external_id or email
expires, since ChartMogul's answer may change. A record's parent (a contact's company) is written
by the web app with the events that prove it; a record with no link of its own reaches its
parent's customer. Each way a link is written tells the dead letters waiting for it
(relay/store/replays.py): they are re-queued.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from relay.store import keys
from relay.store.records import ReplayTrigger
from relay.store.replays import Replays, link_cause
from relay.store.scripts import Scripts


@dataclass(frozen=True, slots=True)
class Merged:
    """What a merge did to the link table (Links.merge)."""

    outcome: str  # moved | kept | none | conflict
    record: str = ""  # the record whose link the surviving record has (conflict: the first one)
    uuid: str = ""
    other_record: str = ""  # conflict: a record linked to another customer
    other_uuid: str = ""


class Links:
    def __init__(self, redis: aioredis.Redis, scripts: Scripts, replays: Replays) -> None:
        self.redis = redis
        self.scripts = scripts
        self.replays = replays

    async def get(self, crm_record: str) -> str | None:
        uuid = await self.redis.hget(keys.LINKS, crm_record)  # type: ignore[misc]
        return str(uuid) if uuid else None

    async def parent(self, crm_record: str) -> str | None:
        """The CRM record of `crm_record`'s parent (a contact's company), if one is known."""
        parent = await self.redis.hget(keys.LINKS, keys.parent_link(crm_record))  # type: ignore[misc]
        return str(parent) if parent else None

    async def get_many(self, crm_records: Sequence[str]) -> dict[str, str]:
        """The links of these records that exist, in one call."""
        if not crm_records:
            return {}
        found: list[str | None] = await self.redis.hmget(keys.LINKS, list(crm_records))  # type: ignore[misc,assignment]
        return {record: uuid for record, uuid in zip(crm_records, found, strict=True) if uuid}

    async def count(self) -> int:
        return int(await self.redis.hlen(keys.LINKS))  # type: ignore[misc]

    async def add(
        self, links: Mapping[str, str], *, trigger: ReplayTrigger = ReplayTrigger.LINK_IMPORTED
    ) -> None:
        """Write links (`relay links import`, the console); the dead letters waiting for them are
        re-queued (`trigger` says why)."""
        if links:
            await self.redis.hset(keys.LINKS, mapping=dict(links))  # type: ignore[misc,arg-type]
            await self.linked(links, trigger=trigger)

    async def linked(self, links: Mapping[str, str], *, trigger: ReplayTrigger) -> int:
        """These links were written: re-queue the dead letters waiting for them."""
        causes = [(link_cause(field), f"{field} is linked to {uuid}") for field, uuid in links.items()]
        return await self.replays.push(trigger, causes)

    async def all(self) -> dict[str, str]:
        """Every link (parents are not links: they name a record, not a customer)."""
        table: dict[str, str] = await self.redis.hgetall(keys.LINKS)  # type: ignore[misc,assignment]
        return {field: uuid for field, uuid in table.items() if not field.startswith(keys.PARENT_FIELD)}

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

    async def merge(self, surviving: str, merged: Sequence[str]) -> Merged:
        """Link `surviving` to the customer its merged records are linked to, atomically; a
        conflict (two customers) writes nothing."""
        answer = await self.scripts.merge(
            keys=[keys.LINKS, keys.REPLAY_TRIGGERS, keys.dlq_cause(link_cause(surviving))],
            args=[surviving, *merged],
        )
        parts = [p.decode() if isinstance(p, bytes) else str(p) for p in answer]
        return Merged(*parts)

    async def cached_lookup(self, reference_key: str) -> str | None:
        uuid = await self.redis.get(keys.lookup(reference_key))
        return str(uuid) if uuid else None

    async def cache_lookup(self, reference_key: str, uuid: str, *, ttl_s: int) -> None:
        await self.redis.set(keys.lookup(reference_key), uuid, ex=ttl_s)
