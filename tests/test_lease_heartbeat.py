"""A delivery that is done ends its lease, whatever its heartbeat was doing at that moment.

The heartbeat (workers/delivery.py) extends a customer's lease while the delivery runs. It used
to be stopped by cancelling it, and Python 3.11's `asyncio.wait_for` (redis-py sends with it
under a socket timeout) swallows a cancellation that arrives as the awaited send completes: the
heartbeat then went on extending the lease forever, and the delivery waited for it forever. The
customer stayed leased, its events queued, and the worker's job never ended (a chaos run
stalled on it). Here heartbeats are due every millisecond, so many are in flight as deliveries
end; nobody promotes expired leases, so the short lease costs nothing else.
"""

from __future__ import annotations

import asyncio
import time

import redis as redis_sync

from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.settings import Settings
from relay.simulator.testing import SimulatorHandle
from relay.store import keys

CUSTOMERS = 80


def test_every_delivery_ends_its_lease_while_heartbeats_are_in_flight(
    relay_settings: Settings, simulator: SimulatorHandle
) -> None:
    from workers.runtime import DeliveryRuntime

    uuids = [simulator.add_customer({"company": f"Beat {i}"})["uuid"] for i in range(CUSTOMERS)]
    settings = relay_settings.model_copy(update={"lease_s": 0.003, "maintenance_interval_s": 3600.0})
    runtime = DeliveryRuntime(settings)
    runtime.start()

    async def deliver_everyone() -> int:
        store = runtime.store
        for i, uuid in enumerate(uuids):
            change = CustomerChange(
                event_id=f"evt_beat_{i}",
                source="generic",
                occurred_at_ms=int(time.time() * 1000),
                customer=CustomerRef(uuid=uuid),
                fields={"city": "Oslo"},
            )
            await store.ledger.accept(ParsedEvent(change=change, raw="{}"))
        delivered = 0
        while (waiting := await store.deliveries.waiting()).ready or waiting.retrying:
            # Before the fix one delivery in a few dozen never returned, and with it this call.
            try:
                async with asyncio.timeout(30):
                    delivered += await runtime.deliverer.deliver_ready(budget_s=30)
            except TimeoutError:
                raise AssertionError("a delivery never returned: its lease heartbeat outlived it") from None
            await asyncio.sleep(0.05)
            await store.deliveries.promote()  # a retry (a 429 on a busy machine) that is due
        return delivered

    try:
        delivered = runtime.run(deliver_everyone())
    finally:
        runtime.stop()

    client = redis_sync.Redis.from_url(relay_settings.redis_url, decode_responses=True)
    try:
        statuses = [client.hget(keys.event(f"evt_beat_{i}"), "status") for i in range(CUSTOMERS)]
        assert delivered >= CUSTOMERS  # more when a delivery was retried
        assert statuses == ["applied"] * CUSTOMERS
        assert client.zcard(keys.LEASES) == 0
        assert client.hlen(keys.LEASE_OWNERS) == 0
    finally:
        client.close()
