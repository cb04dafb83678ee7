"""While the circuit is open, wake-up jobs do not feed each other: a job that can claim nothing
enqueues no next one (only the maintenance loop's slow heartbeat wakes workers)."""

from __future__ import annotations

import time

import redis as redis_sync

from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.queue import relay_queue, rq_connection
from relay.settings import Settings
from relay.store import keys


def test_a_wake_up_behind_an_open_circuit_enqueues_no_next_one(relay_settings: Settings) -> None:
    from workers.runtime import DeliveryRuntime

    client = redis_sync.Redis.from_url(relay_settings.redis_url, decode_responses=True)
    client.hset(keys.CIRCUIT, mapping={"state": "open", "since_ms": 1, "reason": "401", "probes": 0})
    # Maintenance slower than the test: only deliver_ready itself could enqueue a job here.
    runtime = DeliveryRuntime(relay_settings.model_copy(update={"maintenance_interval_s": 3600.0}))
    runtime.start()
    try:
        change = CustomerChange(
            event_id="evt_open",
            source="generic",
            occurred_at_ms=int(time.time() * 1000),
            customer=CustomerRef(uuid="cus_00000000-0000-4000-8000-0000000000c1"),
            fields={"city": "Oslo"},
        )
        runtime.run(runtime.store.ledger.accept(ParsedEvent(change=change, raw="{}")))
        queue = relay_queue(rq_connection(relay_settings.redis_url), relay_settings.queue_name)
        assert queue.count == 0

        answer = runtime.run(runtime.deliver_ready())

        assert answer == {"delivered": 0}
        assert client.zscore(keys.READY, "cus_00000000-0000-4000-8000-0000000000c1") is not None
        assert queue.count == 0  # before the fix: one more wake-up per job, ~200 jobs/s
    finally:
        runtime.stop()
        client.close()
