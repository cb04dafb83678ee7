"""Delivering one customer's waiting changes: resolve, coalesce, read-merge-write, PATCH, settle.

A delivery run leases up to `delivery_concurrency` ready customers and delivers them
concurrently; a customer is leased to one run at a time, so two changes to the same
customer never race (which is what makes read-merge-write of tags safe).

Before a PATCH is sent its body is written ahead (the in-flight record); the outcome and
the end of the in-flight record are settled in one transaction. A worker that dies in
between leaves the in-flight record behind, and the next delivery of that customer checks
ChartMogul before sending anything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from relay import metrics
from relay.contract import normalize_update, validate_update
from relay.exceptions import AuthFailed, RateLimited, Rejected, Transient
from relay.ledger import DeadLetterReason, EventRecord, Ledger, Outcome, now_ms
from relay.logs import get_logger
from relay.mapping.config import custom_attribute_type
from workers.chartmogul import ChartMogulClient
from workers.circuit import Circuit
from workers.coalesce import coalesce, patch_body
from workers.policy import RetrySchedule
from workers.ratelimit import RateLimiter
from workers.recovery import body_is_applied
from workers.resolve import CustomerResolver

log = get_logger("relay.delivery")


class LeaseLost(Exception):
    """The customer's lease expired and another worker claimed it."""


def declared_type(sources: set[str], key: str, value: Any, mapping_dir: str | None) -> str:
    """The ChartMogul type of a custom attribute: as a source's mapping declares it, else by value."""
    for source in sorted(sources):
        if declared := custom_attribute_type(source, key, mapping_dir):
            return declared
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Decimal"
    return "String"


def idempotency_key(event_ids: Sequence[str]) -> str:
    """One event: its own id. Several coalesced events: a digest that names exactly that set."""
    if len(event_ids) == 1:
        return event_ids[0]
    digest = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:32]
    return f"coalesced-{digest}"


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    concurrency: int = 8
    lease_ms: int = 30_000
    max_events_per_patch: int = 500


class Deliverer:
    def __init__(
        self,
        *,
        ledger: Ledger,
        client: ChartMogulClient,
        limiter: RateLimiter,
        schedule: RetrySchedule,
        config: DeliveryConfig,
        circuit: Circuit,
        resolver: CustomerResolver,
        wake: Callable[[], Awaitable[None]],
        worker_name: str,
        mapping_dir: str | None = None,
    ) -> None:
        self.mapping_dir = mapping_dir
        self.ledger = ledger
        self.client = client
        self.limiter = limiter
        self.schedule = schedule
        self.config = config
        self.circuit = circuit
        self.resolver = resolver
        self.wake = wake
        self.worker_name = worker_name

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
                # again, the first delivery's release must not end the second one's lease.
                token = f"{self.worker_name}:{uuid.uuid4().hex[:12]}"
                customers = await self.ledger.claim(free, lease_ms=self.config.lease_ms, token=token)
                running |= {asyncio.create_task(self._deliver_leased(c, token)) for c in customers}
                delivered += len(customers)
            if not running:
                return delivered
            _done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)

    async def _deliver_leased(self, customer: str, token: str) -> None:
        heartbeat = asyncio.create_task(self._keep_lease(customer, token))
        retry_due_ms: int | None = None
        try:
            retry_due_ms = await self.deliver_customer(customer, token=token)
        except LeaseLost:
            # Another worker took the customer over (this one was too slow); it delivers now.
            log.warning("lease_lost", customer_uuid=customer)
        except Exception:
            # A bug must not lose events: they stay pending and the customer is retried.
            log.exception("delivery_crashed", customer_uuid=customer)
            retry_due_ms = now_ms() + int(self.schedule.delay_s(3) * 1000) + 1000
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.ledger.release(customer, token=token, retry_due_ms=retry_due_ms)

    async def _keep_lease(self, customer: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.config.lease_ms / 3000)
            try:
                await self.ledger.extend(customer, token=token, lease_ms=self.config.lease_ms)
            except (redis.RedisError, OSError) as exc:
                # Redis restarting: the next beat may get through before the lease runs out.
                log.warning("lease_heartbeat_failed", customer_uuid=customer, error=type(exc).__name__)

    async def deliver_customer(self, customer: str, *, token: str | None = None) -> int | None:
        """Deliver everything waiting for `customer`. Returns when to retry, or None when done."""
        pending = await self.ledger.pending(customer, limit=self.config.max_events_per_patch)
        await self.ledger.settle(
            customer, [Outcome(event_id, "expired") for event_id, record in pending if record is None]
        )
        records = [record for _, record in pending if record is not None and record.change is not None]
        if not records:
            return None
        try:
            if not customer.startswith("cus_"):
                await self._resolve(customer, records)
                return None
            records = await self._recover_inflight(customer, records)
            if records:
                await self._apply(customer, records, token=token)
        except AuthFailed as exc:
            # Wrong credentials are everyone's problem: pause delivery, keep the events queued.
            await self.circuit.open(exc.message)
            return now_ms()
        except Transient as exc:
            # Some events may have been settled one by one before the failure; retry the rest.
            still_pending = {event_id for event_id, _ in await self.ledger.pending(customer)}
            unsettled = [r for r in records if r.event_id in still_pending]
            return await self._schedule_retry(customer, unsettled, exc) if unsettled else None
        return None

    async def _resolve(self, customer: str, records: Sequence[EventRecord]) -> None:
        assert records[0].change is not None
        resolution = await self.resolver.resolve(records[0].change.customer)
        if resolution.uuid is None:
            await self._dead_letter(customer, records, "customer_not_found", resolution.why_not)
            return
        moved = await self.ledger.rekey(customer, resolution.uuid, link=resolution.link)
        log.info("customer_resolved", reference=customer, customer_uuid=resolution.uuid, events=moved)
        await self.wake()

    async def _recover_inflight(self, customer: str, records: list[EventRecord]) -> list[EventRecord]:
        """A previous worker died with a PATCH in flight: if it landed, record it as applied."""
        inflight = await self.ledger.inflight(customer)
        if inflight is None:
            return records
        try:
            current = await self.client.get_customer(customer)
        except Rejected:
            await self.ledger.clear_inflight(customer)
            return records
        if not body_is_applied(inflight["body"], current):
            await self.ledger.clear_inflight(customer)
            return records
        landed = set(inflight["event_ids"])
        key = inflight["idempotency_key"]
        await self.ledger.settle(
            customer,
            [
                Outcome(
                    r.event_id,
                    "applied",
                    fields={"applied_by": key, "patch": orjson.dumps(inflight["body"]).decode()},
                    history={"idempotency_key": key, "recovered": True},
                )
                for r in records
                if r.event_id in landed
            ],
            applied_fields=inflight["field_times"],
            clear_inflight=True,
        )
        log.info("inflight_recovered", customer_uuid=customer, events=len(landed), idempotency_key=key)
        return [r for r in records if r.event_id not in landed]

    async def _apply(
        self, customer: str, records: Sequence[EventRecord], *, token: str | None = None
    ) -> None:
        coalesced = coalesce(
            [r.change for r in records if r.change], await self.ledger.applied_fields(customer)
        )
        if coalesced.stale_event_ids:
            await self.ledger.settle(
                customer,
                [
                    Outcome(
                        e, "stale", history={"why": "a newer change to the same fields was already applied"}
                    )
                    for e in coalesced.stale_event_ids
                ],
            )
        if coalesced.is_empty:
            return
        live = [r for r in records if r.event_id in set(coalesced.event_ids)]
        current = None
        # Tags/custom need the current sets (a PATCH replaces them); one changed date needs the
        # other's current value for "trial not before lead".
        if coalesced.touches_attributes or ("lead_created_at" in coalesced.fields) != (
            "free_trial_started_at" in coalesced.fields
        ):
            try:
                current = await self.client.get_customer(customer)
            except Rejected as exc:
                reason: DeadLetterReason = "customer_not_found" if exc.status == 404 else "rejected"
                await self._dead_letter(customer, live, reason, exc.message, status=exc.status)
                return
        body = normalize_update(patch_body(coalesced, current))
        violations = validate_update(body, current=current)
        if violations:
            message = "; ".join(str(v) for v in violations)
            await self._reject(customer, live, "invalid_change", message, status=None, body=body, token=token)
            return
        key = idempotency_key(coalesced.event_ids)
        if token is not None and not await self.ledger.holds(customer, token):
            raise LeaseLost(customer)  # never send what another worker may be sending too
        await self.ledger.begin_inflight(
            customer,
            idempotency_key=key,
            body=body,
            event_ids=coalesced.event_ids,
            field_times=coalesced.field_times,
        )
        try:
            try:
                await self.client.update_customer(customer, body, idempotency_key=key)
            except Rejected as exc:
                if not await self._create_missing_custom_attributes(customer, live, body, current, exc):
                    raise
                await self.client.update_customer(customer, body, idempotency_key=key)
        except (Transient, AuthFailed) as exc:
            metrics.record_delivery(exc.status or "no_answer", events=len(live))
            if isinstance(exc, (RateLimited, AuthFailed)):
                await self.ledger.clear_inflight(customer)  # refused before anything was applied
            raise
        except Rejected as exc:
            metrics.record_delivery(exc.status or "rejected", events=len(live))
            await self.ledger.clear_inflight(customer)
            if exc.status == 404 and (relinked := [r for r in live if self._may_re_resolve(r, customer)]):
                # A stale link or look-up led here: drop it and resolve these events once more.
                await self.ledger.unlink_and_requeue(customer, relinked)
                log.info("customer_link_dropped", customer_uuid=customer, events=len(relinked))
                await self.wake()
                live = [r for r in live if r not in relinked]
                if not live:
                    return
            reason = "customer_not_found" if exc.status == 404 else "rejected"
            await self._reject(customer, live, reason, exc.message, status=exc.status, body=body, token=token)
            return
        applied_ms = now_ms()
        metrics.record_delivery(
            200, events=len(live), latency_s=[(applied_ms - r.received_at_ms) / 1000 for r in live]
        )
        patch_json = orjson.dumps(body).decode()
        await self.ledger.settle(
            customer,
            [
                Outcome(
                    r.event_id,
                    "applied",
                    fields={"applied_by": key, "http_status": 200, "patch": patch_json},
                    history={"idempotency_key": key, "coalesced_with": len(live) - 1},
                )
                for r in live
            ],
            applied_fields=coalesced.field_times,
            clear_inflight=True,
        )
        for record in live:
            log.info(
                "event_applied",
                event_id=record.event_id,
                source=record.source,
                customer_uuid=customer,
                attempt=record.attempts + 1,
                coalesced=len(live),
            )

    @staticmethod
    def _may_re_resolve(record: EventRecord, uuid: str) -> bool:
        ref = record.change.customer if record.change else None
        return bool(ref and ref.key != uuid and record.details.get("re_resolved") != "1")

    async def _create_missing_custom_attributes(
        self,
        customer: str,
        live: Sequence[EventRecord],
        body: dict[str, Any],
        current: dict[str, Any] | None,
        rejection: Rejected,
    ) -> bool:
        """ChartMogul refuses custom attributes the account does not define. Create the ones this
        PATCH introduces (with the type the source's mapping declares) and say whether to retry."""
        if rejection.status != 400 or "custom" not in rejection.message.lower() or current is None:
            return False
        known = (current.get("attributes") or {}).get("custom") or {}
        new = {k: v for k, v in body.get("attributes", {}).get("custom", {}).items() if k not in known}
        if not new:
            return False
        sources = {r.source for r in live}
        attributes = [
            {"key": key, "value": value, "type": declared_type(sources, key, value, self.mapping_dir)}
            for key, value in new.items()
        ]
        await self.client.add_custom_attributes(customer, attributes)
        log.info("custom_attributes_created", customer_uuid=customer, keys=sorted(new))
        return True

    async def _reject(
        self,
        customer: str,
        live: Sequence[EventRecord],
        reason: DeadLetterReason,
        message: str,
        *,
        status: int | None,
        body: dict[str, Any],
        token: str | None = None,
    ) -> None:
        """A change ChartMogul will not take. In a coalesced batch, find which: one bad change
        must not take the others down with it, so deliver them one by one."""
        if len(live) > 1:
            log.info("isolating_rejected_batch", customer_uuid=customer, events=len(live), reason=reason)
            for record in live:
                await self._apply(customer, [record], token=token)
            return
        await self._dead_letter(customer, live, reason, message, status=status, body=body)

    async def _schedule_retry(
        self, customer: str, records: Sequence[EventRecord], exc: Transient
    ) -> int | None:
        metrics.record_retry()
        if isinstance(exc, RateLimited):
            await self.limiter.slow_down(for_s=max(5.0, exc.retry_after_s or 0.0))
        elif exc.status == 503:
            await self.limiter.fewer_connections()
        attempt, since_ms = await self.ledger.start_retry_streak(customer)
        event_ids = [r.event_id for r in records]
        await self.ledger.record_attempt(event_ids, status=exc.status, error=exc.message, attempt=attempt)
        due_ms = self.schedule.next_due_ms(
            attempt, since_ms=since_ms, now_ms=now_ms(), retry_after_s=exc.retry_after_s
        )
        if due_ms is None:
            await self.ledger.clear_inflight(customer)
            await self._dead_letter(customer, records, "retries_exhausted", exc.message, status=exc.status)
            return None
        log.warning(
            "delivery_retry",
            customer_uuid=customer,
            attempt=attempt,
            status=exc.status,
            error=exc.message,
            retry_in_s=round((due_ms - now_ms()) / 1000, 3),
            events=len(records),
        )
        return due_ms

    async def _dead_letter(
        self,
        customer: str,
        records: Sequence[EventRecord],
        reason: DeadLetterReason,
        message: str,
        *,
        status: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        fields: dict[str, str | int] = {"reason": reason, "error": message}
        if status is not None:
            fields["http_status"] = status
        if body is not None:
            fields["patch"] = orjson.dumps(body).decode()
        await self.ledger.settle(
            customer,
            [
                Outcome(r.event_id, "dead", fields=fields, history={"reason": reason, "error": message})
                for r in records
            ],
        )
        for record in records:
            log.warning(
                "event_dead_lettered",
                event_id=record.event_id,
                source=record.source,
                customer_uuid=customer,
                attempt=record.attempts + 1,
                reason=reason,
                error=message,
            )
