"""The event record's compact layout (issue 15's memory goal) and records of the first layout.

An upgrade must not lose queued events: a record written by the first layout (whole "change" and
"raw" fields, the history list from the first entry) is read, listed and delivered alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import redis as redis_sync

from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.simulator.testing import SimulatorHandle
from relay.store import Store, keys
from relay.store.records import EventRecord
from tests.servers import WorkerProcess, event_record, wait_for


def change_for(uuid: str, event_id: str, **fields: str) -> CustomerChange:
    return CustomerChange(
        event_id=event_id,
        source="generic",
        occurred_at_ms=int(datetime.now(UTC).timestamp() * 1000) - 60_000,
        customer=CustomerRef(uuid=uuid),
        fields=dict(fields),
        tags_add=["vip"],
        custom_set={"Plan": "Pro"},
        custom_types={"Plan": "String"},
    )


def write_first_layout(client: redis_sync.Redis, change: CustomerChange, raw: str) -> None:
    """Exactly what accept.lua wrote before the compact layout."""
    received = int(datetime.now(UTC).timestamp() * 1000)
    event_id, customer = change.event_id, change.customer.key
    client.hset(
        keys.event(event_id),
        mapping={
            "event_id": event_id,
            "source": change.source,
            "customer": customer,
            "occurred_at_ms": change.occurred_at_ms,
            "received_at_ms": received,
            "status": "queued",
            "attempts": 0,
            "change": change.to_json(),
            "raw": raw,
        },
    )
    client.expire(keys.event(event_id), 3600)
    client.rpush(
        keys.event_history(event_id),
        orjson.dumps({"at_ms": received, "what": "accepted", "source": "generic"}),
    )
    client.expire(keys.event_history(event_id), 3600)
    client.zadd(keys.EVENTS, {event_id: received})
    client.zadd(keys.customer_events(customer), {event_id: received})
    client.zadd(keys.pending(customer), {event_id: change.occurred_at_ms})
    client.zadd(keys.READY, {customer: received}, nx=True)


def test_a_queued_record_of_the_first_layout_is_read_and_delivered(
    redis_url: str, simulator: SimulatorHandle, start_worker: Callable[..., WorkerProcess]
) -> None:
    customer = simulator.add_customer({"company": "Upgrade Ltd", "attributes": {"tags": [], "custom": {}}})
    change = change_for(customer["uuid"], "evt_old_layout", city="Olden")
    client = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    write_first_layout(client, change, raw='{"id":"evt_old_layout"}')

    async def with_store() -> tuple[EventRecord | None, list[str]]:
        store = Store.from_url(redis_url)
        try:
            history = await store.ledger.history("evt_old_layout")
            return await store.ledger.event("evt_old_layout"), [h["what"] for h in history]
        finally:
            await store.aclose()

    record, history = asyncio.run(with_store())
    assert record is not None and record.change == change and record.raw == '{"id":"evt_old_layout"}'
    assert history == ["accepted"]

    start_worker()
    wait_for(lambda: event_record(redis_url, "evt_old_layout").get("status") == "applied")
    path = f"/v1/customers/{customer['uuid']}"
    sent = simulator.requests()
    patches = [r["body"] for r in sent if r["method"] == "PATCH" and r["path"] == path]
    tags = [r["body"] for r in sent if r["method"] == "POST" and r["path"] == f"{path}/attributes/tags"]
    assert patches and patches[-1]["city"] == "Olden" and "vip" in tags[-1]["tags"]
    _, history = asyncio.run(with_store())
    assert history == ["accepted", "applied"]


def test_the_compact_record_round_trips_and_keeps_history_in_order(redis_url: str) -> None:
    change = change_for("cus_compact", "evt_compact", city="Zürich " * 20)  # non-ASCII, > 64 bytes
    raw = orjson.dumps({"id": "evt_compact", "note": "naïve ✓ " * 30}).decode()

    async def work() -> tuple[EventRecord | None, list[str], int, str]:
        store = Store.from_url(redis_url)
        try:
            await store.ledger.accept_many([ParsedEvent(change=change, raw=raw)])
            first = [h["what"] for h in await store.ledger.history("evt_compact")]
            no_list = await store.redis.exists(keys.event_history("evt_compact"))
            await store.ledger.record_attempt(["evt_compact"], attempt=1)
            record = await store.ledger.event("evt_compact")
            history = first + [h["what"] for h in await store.ledger.history("evt_compact")]
            ttl = await store.redis.ttl(keys.event_history("evt_compact"))
            encoding = await store.redis.object("encoding", keys.event("evt_compact"))
            assert no_list == 0  # the first entry lives in the record
            return record, history, ttl, str(encoding)
        finally:
            await store.aclose()

    record, history, ttl, encoding = asyncio.run(work())
    assert record is not None and record.change == change and record.raw == raw
    assert record.details == {}  # the chunks are not shown as details
    assert history == ["accepted", "accepted", "attempt"]
    assert ttl > 0  # the list created by the second entry expires with the record
    assert encoding == "listpack"  # every value <= hash-max-listpack-value (Redis's default 64)


def test_a_large_event_is_stored_whole_and_read_back(redis_url: str) -> None:
    """A body near RELAY_MAX_BODY_BYTES (1 MiB) is not cut into thousands of fields (Lua's unpack()
    would overflow) and reads back exactly."""
    change = change_for("cus_large", "evt_large", city="Big")
    change.custom_set = {f"k{i}": "x" * 9000 for i in range(100)}
    raw = orjson.dumps({"id": "evt_large", "custom": {"set": change.custom_set}}).decode()

    async def work() -> EventRecord | None:
        store = Store.from_url(redis_url)
        try:
            await store.ledger.accept_many([ParsedEvent(change=change, raw=raw)] * 2)
            return await store.ledger.event("evt_large")
        finally:
            await store.aclose()

    record = asyncio.run(work())
    assert record is not None and record.change == change and record.raw == raw
