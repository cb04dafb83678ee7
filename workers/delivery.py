"""Delivering one customer's waiting changes: coalesce, read-merge-write, PATCH, settle.

A delivery run leases up to `delivery_concurrency` ready customers and delivers them
concurrently; a customer is leased to one run at a time, so two changes to the same
customer never race (which is what makes read-merge-write of tags safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from relay.changes import CustomerChange
from relay.exceptions import AuthFailed, Rejected, Transient
from relay.ledger import EventRecord, Ledger, Outcome, now_ms
from relay.logs import get_logger
from workers.chartmogul import ChartMogulClient
from workers.coalesce import coalesce, patch_body
from workers.policy import RetrySchedule
from workers.ratelimit import RateLimiter

log = get_logger("relay.delivery")


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
        worker_name: str,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.limiter = limiter
        self.schedule = schedule
        self.config = config
        self.worker_name = worker_name

    async def deliver_ready(self) -> dict[str, int]:
        """Lease ready customers and deliver them concurrently. Returns how many were claimed."""
        token = f"{self.worker_name}:{uuid.uuid4().hex[:12]}"
        customers = await self.ledger.claim(
            self.config.concurrency, lease_ms=self.config.lease_ms, token=token
        )
        await asyncio.gather(*(self._deliver_leased(customer, token) for customer in customers))
        return {"claimed": len(customers)}

    async def _deliver_leased(self, customer: str, token: str) -> None:
        heartbeat = asyncio.create_task(self._keep_lease(customer, token))
        retry_due_ms: int | None = None
        try:
            retry_due_ms = await self.deliver_customer(customer)
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
            await self.ledger.extend(customer, token=token, lease_ms=self.config.lease_ms)

    async def deliver_customer(self, customer: str) -> int | None:
        """Deliver everything waiting for `customer`. Returns when to retry, or None when done."""
        pending = await self.ledger.pending(customer, limit=self.config.max_events_per_patch)
        await self.ledger.settle(
            customer, [Outcome(event_id, "expired") for event_id, record in pending if record is None]
        )
        records = [record for _, record in pending if record is not None and record.change is not None]
        if not records:
            return None
        if not customer.startswith("cus_"):
            await self._dead_letter(
                customer, records, "customer_not_found", "the customer has no ChartMogul uuid"
            )
            return None
        try:
            await self._apply(customer, records)
        except (Transient, AuthFailed) as exc:
            # Some events may have been settled one by one before the failure; retry the rest.
            still_pending = {event_id for event_id, _ in await self.ledger.pending(customer)}
            unsettled = [r for r in records if r.event_id in still_pending]
            return await self._schedule_retry(customer, unsettled, exc) if unsettled else None
        return None

    async def _apply(self, customer: str, records: Sequence[EventRecord]) -> None:
        changes: list[CustomerChange] = [r.change for r in records if r.change is not None]
        coalesced = coalesce(changes)
        current = None
        if coalesced.touches_attributes:
            try:
                current = await self.client.get_customer(customer)
            except Rejected as exc:
                reason = "customer_not_found" if exc.status == 404 else "rejected"
                await self._dead_letter(customer, records, reason, exc.message, status=exc.status)
                return
        body = patch_body(coalesced, current)
        key = idempotency_key(coalesced.event_ids)
        await self.limiter.acquire()
        try:
            await self.client.update_customer(customer, body, idempotency_key=key)
        except Rejected as exc:
            if len(records) > 1:
                # One bad change must not take the others down with it: deliver them one by one.
                log.info("isolating_rejected_batch", customer_uuid=customer, events=len(records))
                for record in records:
                    await self._apply(customer, [record])
                return
            reason = "customer_not_found" if exc.status == 404 else "rejected"
            await self._dead_letter(customer, records, reason, exc.message, status=exc.status, body=body)
            return
        patch_json = orjson.dumps(body).decode()
        await self.ledger.settle(
            customer,
            [
                Outcome(
                    r.event_id,
                    "applied",
                    fields={"applied_by": key, "http_status": 200, "patch": patch_json},
                    history={"idempotency_key": key, "coalesced_with": len(records) - 1},
                )
                for r in records
            ],
        )
        for record in records:
            log.info(
                "event_applied",
                event_id=record.event_id,
                source=record.source,
                customer_uuid=customer,
                attempt=record.attempts + 1,
                coalesced=len(records),
            )

    async def _schedule_retry(
        self, customer: str, records: Sequence[EventRecord], exc: Transient | AuthFailed
    ) -> int | None:
        attempt, since_ms = await self.ledger.start_retry_streak(customer)
        event_ids = [r.event_id for r in records]
        await self.ledger.record_attempt(event_ids, status=exc.status, error=exc.message, attempt=attempt)
        retry_after_s = exc.retry_after_s if isinstance(exc, Transient) else None
        due_ms = self.schedule.next_due_ms(
            attempt, since_ms=since_ms, now_ms=now_ms(), retry_after_s=retry_after_s
        )
        if due_ms is None:
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
        reason: str,
        message: str,
        *,
        status: int | None = None,
        body: dict[str, object] | None = None,
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
