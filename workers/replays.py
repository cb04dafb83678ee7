"""Automatic replays: dead letters re-queued when what kept them dead goes away.

The store keeps each such dead letter indexed by its cause and the triggers that say a cause
went away (relay/store/replays.py draws the table). Each worker's maintenance loop runs
`AutoReplayer.run` — one worker at a time — which

  1. takes the waiting triggers and re-queues the dead letters of each trigger's cause that
     died before it (one that dies again waits for a new trigger: no loops);
  2. re-queues `retries_exhausted` dead letters once the circuit is closed and the fleet's
     deliveries have succeeded, with no failure, for RELAY_AUTO_REPLAY_HEALTHY_S since each
     died (during an outage, or of 429s alone while the rest succeeded), a batch per pass (no
     stampede after an outage); MAX_AUTO_REPLAYS bounds how often one comes back.

Every replay is in the event's history ("replayed", with the trigger and why), in the log
(`dlq_auto_replayed`), and in relay_dlq_replayed_total{trigger}. RELAY_AUTO_REPLAY=0 turns it
off: the triggers are dropped, the dead letters wait for an operator as before.

`DeliveryHealth` is what a worker saw of ChartMogul since it last said: its last failure (a
5xx, a timeout, the circuit opening; not a 429, which is the shared rate at work) and its
first success after it; the maintenance loop writes it to the store's fleet-wide record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from relay import metrics
from relay.logs import get_logger
from relay.store import ReplayTrigger, Store, now_ms
from relay.store.replays import RETRIES_EXHAUSTED, AutoReplayed, Trigger
from relay.times import iso

log = get_logger("relay.replay")

TRIGGERS_PER_PASS = 200  # triggers taken per maintenance pass
BATCH = 200  # dead letters re-queued per cause and pass, at most


@dataclass(slots=True)
class DeliveryHealth:
    """What this worker saw since it last reported (ms; None: nothing)."""

    failed_at_ms: int | None = None
    succeeded_at_ms: int | None = None  # the first success after the last failure

    def failed(self) -> None:
        self.failed_at_ms = now_ms()
        self.succeeded_at_ms = None

    def succeeded(self) -> None:
        if self.succeeded_at_ms is None:
            self.succeeded_at_ms = now_ms()

    async def report(self, store: Store) -> None:
        if self.failed_at_ms is None and self.succeeded_at_ms is None:
            return
        failed, succeeded = self.failed_at_ms, self.succeeded_at_ms
        self.failed_at_ms = self.succeeded_at_ms = None
        await store.replays.record_health(failed_at_ms=failed, succeeded_at_ms=succeeded)


class AutoReplayer:
    def __init__(
        self,
        store: Store,
        *,
        enabled: bool,
        healthy_s: float,
        turn_ms: int,
        wake: Callable[[], Awaitable[None]],
    ) -> None:
        self.store = store
        self.enabled = enabled
        self.healthy_s = healthy_s
        self.turn_ms = turn_ms  # how long one worker's turn lasts (the maintenance interval)
        self.wake = wake

    async def run(self) -> int:
        """One pass; how many dead letters it re-queued."""
        replays = self.store.replays
        if not await replays.turn(ttl_ms=self.turn_ms):
            return 0
        if not self.enabled:
            dropped = await replays.discard()
            if dropped:
                log.info("dlq_auto_replay_off", triggers_dropped=dropped, setting="RELAY_AUTO_REPLAY=0")
            return 0
        replayed = 0
        for trigger in await replays.pop(TRIGGERS_PER_PASS):
            replayed += await self.replay(trigger)
        replayed += await self._after_recovery()
        if replayed:
            await self.wake()
        return replayed

    async def replay(self, trigger: Trigger, *, limit: int | None = None) -> int:
        """Re-queue the dead letters `trigger.cause` kept that died before it (at most `limit`)."""
        replayed = 0
        while True:
            batch = BATCH if limit is None else min(BATCH, limit - replayed)
            waiting = await self.store.replays.waiting(
                trigger.cause, died_before_us=trigger.at_us, limit=batch
            )
            for event_id in waiting:
                result = await self.store.replays.replay(event_id, trigger)
                if result is AutoReplayed.REPLAYED:
                    replayed += 1
                    metrics.record_auto_replay(trigger.trigger)
                    log.info(
                        "dlq_auto_replayed",
                        event_id=event_id,
                        trigger=str(trigger.trigger),
                        cause=trigger.cause,
                        why=trigger.detail,
                    )
                elif result is AutoReplayed.NEVER:
                    log.info("dlq_auto_replay_skipped", event_id=event_id, trigger=str(trigger.trigger))
            if len(waiting) < batch or (limit is not None and replayed >= limit):
                return replayed

    async def _after_recovery(self) -> int:
        """`retries_exhausted` dead letters, once ChartMogul has been healthy for a while."""
        health = await self.store.replays.health()
        since = health.healthy_since_ms
        if not since or since <= health.failed_at_ms or now_ms() - since < self.healthy_s * 1000:
            return 0
        if await self.store.circuit.is_open():
            return 0
        # Those that died at least healthy_s ago: before the spell (an outage), or during it of
        # 429s alone (not a failure: the shared rate at work), deliveries succeeding since.
        died_before_ms = now_ms() - int(self.healthy_s * 1000)
        detail = (
            f"the circuit is closed and deliveries have succeeded since {iso(since)}, none failing, "
            f"for over {self.healthy_s:g} s since it died"
        )
        trigger = Trigger(ReplayTrigger.RECOVERED, RETRIES_EXHAUSTED, died_before_ms * 1000, detail)
        return await self.replay(trigger, limit=BATCH)
