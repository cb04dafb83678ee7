"""RQ job functions. They stay tiny: the work happens in the process's delivery runtime."""

from __future__ import annotations

import threading

from relay.queue import enqueue_wakeup
from relay.settings import get_settings
from relay.store import Replayed
from workers.runtime import DeliveryRuntime

_runtime: DeliveryRuntime | None = None
_runtime_lock = threading.Lock()


def install_runtime(runtime: DeliveryRuntime | None) -> None:
    """`relay worker` installs its started runtime here before taking jobs."""
    global _runtime
    _runtime = runtime


def current_runtime() -> DeliveryRuntime:
    """The process's runtime; a plain `rq worker` gets one started on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            runtime = DeliveryRuntime(get_settings())
            runtime.start()
            _runtime = runtime
        return _runtime


def deliver_ready() -> dict[str, int]:
    """Wake-up job: deliver up to `RELAY_DELIVERY_CONCURRENCY` ready customers concurrently."""
    runtime = current_runtime()
    return runtime.run(runtime.deliver_ready())


def redeliver_event(event_id: str) -> dict[str, object]:
    """rq-dashboard's "Requeue" of a mirrored dead letter (relay/queue.py): replay the event
    with its stored change and wake delivery. `relay dlq replay` re-maps instead."""
    runtime = current_runtime()
    result = runtime.run(runtime.store.ledger.replay(event_id, from_mirror_job=True))
    if result is Replayed.REPLAYED:
        enqueue_wakeup(runtime.queue)
    outcome = {
        Replayed.REPLAYED: "replayed",
        Replayed.NOT_DEAD: "not in the dead-letter queue",
        Replayed.EXPIRED: "record expired",
    }[result]
    return {"event_id": event_id, "outcome": outcome}
