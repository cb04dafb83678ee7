"""Lease fencing: a worker that lost a customer's lease sends nothing for it."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis as redis_sync

from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.settings import Settings
from relay.simulator.testing import SimulatorHandle
from relay.store import keys


def test_a_worker_that_lost_its_lease_sends_nothing(
    relay_settings: Settings, simulator: SimulatorHandle
) -> None:
    """A slow worker whose lease expired (another worker took the customer over) must not send
    the PATCH the new holder is sending too."""
    from workers.delivery import LeaseLost
    from workers.runtime import DeliveryRuntime

    customer = simulator.add_customer({"company": "Slow Co"})
    uuid = customer["uuid"]
    change = CustomerChange(
        event_id="evt_slow",
        source="generic",
        occurred_at_ms=int(time.time() * 1000),
        customer=CustomerRef(uuid=uuid),
        fields={"city": "Porto"},
    )
    runtime = DeliveryRuntime(relay_settings)
    runtime.start()
    claims: list[list[str]] = []

    async def slow_worker_loses_its_lease() -> None:
        store = runtime.store
        await store.ledger.accept(ParsedEvent(change=change, raw="{}"))
        claims.append(await store.deliveries.claim(1, lease_ms=1, token="slow"))
        await asyncio.sleep(0.01)
        await store.deliveries.promote()  # the lease ran out ...
        # ... and another worker took it
        claims.append(await store.deliveries.claim(1, lease_ms=30_000, token="new"))
        await runtime.deliverer.deliver_customer(uuid, token="slow")

    try:
        with pytest.raises(LeaseLost):
            runtime.run(slow_worker_loses_its_lease())
    finally:
        runtime.stop()

    assert claims == [[uuid], [uuid]]
    assert [r for r in simulator.requests() if r["method"] == "PATCH"] == []
    client = redis_sync.Redis.from_url(relay_settings.redis_url, decode_responses=True)
    assert client.hget(keys.event("evt_slow"), "status") == "queued"  # left to the new holder
    client.close()
