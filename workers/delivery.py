"""Delivering customers' waiting changes: claim → resolve → recover → plan → send → decide → finish.

A delivery run leases up to `concurrency` ready customers and delivers them concurrently; a
customer is leased to one run at a time, so two changes to the same customer never race. The
parts live beside this one: workers/plan.py (what to send), workers/writes.py (sending it),
workers/verify.py (did each value take), workers/decide.py (what an error means).

A record no customer matches becomes what its source's mapping says (workers/unmatched.py): a
lead created in ChartMogul, an ignored event, or a dead letter that waits for a link.

Outcomes are collected in a `Settlement` and written by the store's `finish`, which also ends
the lease, in one atomic call fenced by the lease token. Before anything is sent, what is
already settled is written (`settle`, fenced too) and the plan of calls is written ahead (the
in-flight record), so a worker that dies in between is recovered without applying anything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from relay import metrics
from relay.chartmogul.client import ChartMogulClient
from relay.chartmogul.ratelimit import RateLimiter
from relay.coalesce import CoalescedChange, coalesce
from relay.exceptions import AuthFailed, DeliveryError, RateLimited, Rejected, StoreUnavailable, Transient
from relay.logs import get_logger
from relay.store import DeadLetterReason, EventRecord, EventStatus, Outcome, Store, now_ms
from relay.store.deliveries import Inflight
from relay.store.replays import link_cause
from workers.circuit import Circuit
from workers.decide import Action, Call, decide
from workers.merges import apply_merges
from workers.outcomes import Lease, Settlement, dead_letter, settle_sent, stale
from workers.plan import WritePlan, needs_customer, plan_writes
from workers.policy import RetrySchedule
from workers.recovery import recover_inflight
from workers.replays import DeliveryHealth
from workers.resolve import CustomerResolver, Resolution
from workers.unmatched import Unmatched
from workers.writes import Progress, send_plan

log = get_logger("relay.delivery")


class LeaseLost(Exception):
    """The customer's lease expired and another worker claimed it."""


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    concurrency: int = 8
    lease_ms: int = 30_000
    max_events_per_patch: int = 500


class Deliverer:
    def __init__(
        self,
        *,
        store: Store,
        client: ChartMogulClient,
        limiter: RateLimiter,
        schedule: RetrySchedule,
        config: DeliveryConfig,
        circuit: Circuit,
        resolver: CustomerResolver,
        wake: Callable[[], Awaitable[None]],
        worker_name: str,
        data_source_uuid: str | None = None,
        health: DeliveryHealth | None = None,
    ) -> None:
        self.store = store
        self.deliveries = store.deliveries
        self.client = client
        self.limiter = limiter
        self.schedule = schedule
        self.config = config
        self.circuit = circuit
        self.resolver = resolver
        self.wake = wake
        self.worker_name = worker_name
        self.unmatched = Unmatched(
            client, store.ledger, data_source_uuid=data_source_uuid, before_create=self._flush
        )
        self.health = health or DeliveryHealth()

    async def deliver_ready(self, *, budget_s: float = 20.0, should_stop: Callable[[], bool] = bool) -> int:
        """Deliver ready customers, up to `concurrency` at a time, claiming the next one as soon as
        one finishes, until none is ready, the time budget is spent or the worker is stopping.
        Returns how many customers were delivered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget_s
        running: set[asyncio.Task[None]] = set()
        delivered = 0
        while True:
            free = self.config.concurrency - len(running)
            if free > 0 and loop.time() < deadline and not should_stop() and not await self.circuit.is_open():
                # A fresh token per claim: if a lease expired and this same run claimed the customer
                # again, the first delivery's finish must not end the second one's lease.
                token = f"{self.worker_name}:{uuid.uuid4().hex[:12]}"
                customers = await self.deliveries.claim(free, lease_ms=self.config.lease_ms, token=token)
                running |= {asyncio.create_task(self._deliver_leased(Lease(c, token))) for c in customers}
                delivered += len(customers)
            if not running:
                return delivered
            _done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)

    async def _deliver_leased(self, lease: Lease) -> None:
        done = asyncio.Event()
        heartbeat = asyncio.create_task(self._keep_lease(lease, done))
        retry_due_ms: int | None = None
        try:
            retry_due_ms = await self.deliver(lease)
        except LeaseLost:
            # Another worker took the customer over (this one was too slow); it delivers now.
            log.warning("lease_lost", customer_uuid=lease.customer)
            return
        except StoreUnavailable as exc:
            # Redis went away mid-delivery (a restart, a failover): the events stay pending.
            log.warning("delivery_interrupted", customer_uuid=lease.customer, error=exc.cause)
            retry_due_ms = now_ms() + int(self.schedule.delay_s(3) * 1000) + 1000
        except Exception:
            # A bug must not lose events: they stay pending and the customer is retried.
            log.exception("delivery_crashed", customer_uuid=lease.customer)
            retry_due_ms = now_ms() + int(self.schedule.delay_s(3) * 1000) + 1000
        finally:
            done.set()
            heartbeat.cancel()  # at once, mid-extend too; `done` if the cancellation is lost
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        settled = lease.settlement
        try:
            await self.deliveries.finish(
                lease.customer,
                lease.token,
                settled.outcomes,
                applied_fields=settled.applied_fields,
                applied_by=settled.applied_by,
                clear_inflight=settled.clear_inflight,
                retry_due_ms=retry_due_ms,
            )
            await self._resolved(settled)
        except StoreUnavailable as exc:
            # Still no Redis: the lease runs out and maintenance makes the customer ready again
            # (what this delivery sent is in its in-flight record, so nothing is applied twice).
            log.warning("delivery_unfinished", customer_uuid=lease.customer, error=exc.cause)

    async def _keep_lease(self, lease: Lease, done: asyncio.Event) -> None:
        """Extend the lease every third of its length until `done` is set. Not a cancellation
        alone: Python 3.11's asyncio.wait_for (redis-py sends with it under a socket timeout)
        swallows one that arrives as the send completes, and a heartbeat that lived on kept
        the customer leased, and its delivery waiting, forever."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.lease_ms / 3000):
                    await done.wait()
            if done.is_set():
                return
            try:
                await self.deliveries.extend(lease.customer, token=lease.token, lease_ms=self.config.lease_ms)
            except StoreUnavailable as exc:
                # Redis restarting: the next beat may get through before the lease runs out.
                log.warning("lease_heartbeat_failed", customer_uuid=lease.customer, error=exc.cause)

    async def _flush(self, lease: Lease) -> None:
        """Write what is settled so far, before anything else is sent; stop if the lease is lost."""
        settled = lease.settlement
        ok = await self.deliveries.settle(
            lease.customer,
            lease.token,
            settled.outcomes,
            applied_fields=settled.applied_fields,
            applied_by=settled.applied_by,
            clear_inflight=settled.clear_inflight,
        )
        if not ok:
            raise LeaseLost(lease.customer)
        await self._resolved(settled)
        lease.settlement = Settlement()

    async def _resolved(self, settled: Settlement) -> None:
        """The causes a written settlement ended: the dead letters waiting for them are told."""
        for trigger, cause, detail in settled.resolved:
            await self.store.replays.push(trigger, [(cause, detail)])
        settled.resolved.clear()

    async def deliver_customer(self, customer: str, *, token: str) -> int | None:
        """Deliver everything waiting for a customer whose lease `token` holds, and finish."""
        lease = Lease(customer, token)
        retry_due_ms = await self.deliver(lease)
        settled = lease.settlement
        await self.deliveries.finish(
            customer,
            token,
            settled.outcomes,
            applied_fields=settled.applied_fields,
            applied_by=settled.applied_by,
            clear_inflight=settled.clear_inflight,
            retry_due_ms=retry_due_ms,
        )
        await self._resolved(settled)
        return retry_due_ms

    async def deliver(self, lease: Lease) -> int | None:
        """Deliver everything waiting for the leased customer, collecting outcomes in its
        settlement. Returns when to retry, or None when done."""
        customer = lease.customer
        pending = await self.deliveries.pending(customer, limit=self.config.max_events_per_patch)
        lease.settlement.outcomes += [
            Outcome(event_id, EventStatus.EXPIRED) for event_id, record in pending if record is None
        ]
        records = [record for _, record in pending if record is not None and record.change is not None]
        if not records:
            return None
        try:
            if not customer.startswith("cus_"):
                await self._resolve(lease, records)
                return None
            records = await recover_inflight(self.deliveries, self.client, lease, records)
            if records:
                await self._apply(lease, records)
        except AuthFailed as exc:
            # Wrong credentials are everyone's problem: pause delivery, keep the events queued.
            self.health.failed()
            await self.circuit.open(exc.message)
            return now_ms()
        except Transient as exc:
            if not isinstance(exc, RateLimited):  # a 429 is the shared rate at work, not an outage
                self.health.failed()
            settled = {o.event_id for o in lease.settlement.outcomes}
            still_pending = await self.deliveries.pending_ids(customer)
            unsettled = [r for r in records if r.event_id in still_pending and r.event_id not in settled]
            return await self._schedule_retry(lease, unsettled, exc) if unsettled else None
        return None

    async def _resolve(self, lease: Lease, records: Sequence[EventRecord]) -> None:
        records = await apply_merges(self.store.links, lease, records)
        if not records:
            return
        assert records[0].change is not None
        ref = records[0].change.customer
        found: Resolution | None = await self.resolver.resolve(ref)
        if found is not None and found.uuid is None:
            found = await self.unmatched.settle(lease, records, ref, found)
        if found is None or found.uuid is None:
            return
        await self._flush(lease)
        moved = await self.deliveries.rekey(lease.customer, found.uuid, link=found.link)
        log.info("customer_resolved", reference=lease.customer, customer_uuid=found.uuid, events=moved)
        if found.trigger is not None:  # a lead created, or a look-up found it: who waited for it
            fields = dict.fromkeys(f for f in (found.link, ref.key) if f)
            await self.store.replays.push(found.trigger, [(link_cause(f), found.detail) for f in fields])
        await self.wake()

    async def _apply(self, lease: Lease, records: Sequence[EventRecord]) -> None:
        customer = lease.customer
        applied = await self.deliveries.applied_state(customer)
        settled = lease.settlement
        applied.update({k: (at, settled.applied_by.get(k, "")) for k, at in settled.applied_fields.items()})
        coalesced = coalesce(
            [r.change for r in records if r.change], {k: at for k, (at, _) in applied.items()}
        )
        stale(lease, [r for r in records if r.event_id in set(coalesced.stale_event_ids)], applied)
        if coalesced.is_empty:
            return
        live = [r for r in records if r.event_id in set(coalesced.event_ids)]
        current = None
        if needs_customer(coalesced):
            try:
                current = await self.client.get_customer(customer)
            except Rejected as exc:
                decision = decide(exc, Call.GET)
                dead_letter(lease, live, decision.reason, exc.message, status=exc.status)
                return
        plan = plan_writes(coalesced, current)
        if plan.violations:
            message = "; ".join(plan.violations)
            await self._reject(lease, live, DeadLetterReason.INVALID_CHANGE, message, None, plan)
            return
        await self._send(lease, live, coalesced, plan, applied)

    async def _send(
        self,
        lease: Lease,
        live: list[EventRecord],
        coalesced: CoalescedChange,
        plan: WritePlan,
        applied: dict[str, tuple[int, str]],
    ) -> None:
        customer, key = lease.customer, plan.idempotency_key
        if lease.landed is not None and lease.landed[0] == key:
            plan = plan.without(lease.landed[1])  # a dead worker's calls that landed: not again
        await self._flush(lease)  # never send what another worker may be sending too
        await self.deliveries.begin_inflight(
            customer,
            Inflight(
                key,
                plan.to_json(),
                list(coalesced.event_ids),
                dict(coalesced.field_times),
                dict(coalesced.senders),
            ),
        )
        progress = Progress()
        changes = [r.change for r in live if r.change is not None]
        try:
            missed = await send_plan(self.client, customer, plan, changes, progress)
        except DeliveryError as exc:
            metrics.record_delivery(
                exc.status or ("rejected" if isinstance(exc, Rejected) else "no_answer"), events=len(live)
            )
            decision = decide(exc, progress.call)
            # Once a call of the plan has landed, recovery must see the plan to leave it out.
            if decision.clear_inflight and not progress.done:
                await self.deliveries.clear_inflight(customer)
            if decision.action is not Action.DEAD_LETTER:
                raise
            assert isinstance(exc, Rejected) and decision.reason is not None
            if decision.re_resolve and (relinked := [r for r in live if self._may_re_resolve(r, customer)]):
                # A stale link or look-up led here: drop it and resolve these events once more.
                await self.deliveries.unlink_and_requeue(customer, relinked)
                log.info("customer_link_dropped", customer_uuid=customer, events=len(relinked))
                await self.wake()
                live = [r for r in live if r not in relinked]
                if not live:
                    return
            await self._reject(lease, live, decision.reason, exc.message, exc.status, plan)
            return
        settle_sent(lease, live, coalesced, plan, missed, applied)
        self.health.succeeded()

    @staticmethod
    def _may_re_resolve(record: EventRecord, uuid: str) -> bool:
        ref = record.change.customer if record.change else None
        return bool(ref and ref.key != uuid and record.details.get("re_resolved") != "1")

    async def _reject(
        self,
        lease: Lease,
        live: Sequence[EventRecord],
        reason: DeadLetterReason,
        message: str,
        status: int | None,
        plan: WritePlan,
    ) -> None:
        """A change ChartMogul will not take. In a coalesced batch, find which: one bad change
        must not take the others down with it, so deliver them one by one."""
        if len(live) > 1:
            log.info(
                "isolating_rejected_batch", customer_uuid=lease.customer, events=len(live), reason=reason
            )
            for record in live:
                await self._apply(lease, [record])
            return
        sent = reason is not DeadLetterReason.INVALID_CHANGE  # refused before any call was spent
        dead_letter(lease, live, reason, message, status=status, plan=plan, sent=sent)

    async def _schedule_retry(
        self, lease: Lease, records: Sequence[EventRecord], exc: Transient
    ) -> int | None:
        metrics.record_retry()
        decision = decide(exc, Call.PATCH)
        if decision.slow_down:
            await self.limiter.slow_down(for_s=max(5.0, exc.retry_after_s or 0.0))
        if decision.fewer_connections:
            await self.limiter.fewer_connections()
        attempt, since_ms = await self.deliveries.start_retry_streak(lease.customer)
        event_ids = [r.event_id for r in records]
        await self.store.ledger.record_attempt(
            event_ids, status=exc.status, error=exc.message, attempt=attempt
        )
        due_ms = self.schedule.next_due_ms(
            attempt, since_ms=since_ms, now_ms=now_ms(), retry_after_s=exc.retry_after_s
        )
        if due_ms is None:
            lease.settlement.clear_inflight = True
            dead_letter(lease, records, DeadLetterReason.RETRIES_EXHAUSTED, exc.message, status=exc.status)
            return None
        log.warning(
            "delivery_retry",
            customer_uuid=lease.customer,
            attempt=attempt,
            status=exc.status,
            error=exc.message,
            retry_in_s=round((due_ms - now_ms()) / 1000, 3),
            events=len(records),
        )
        return due_ms
