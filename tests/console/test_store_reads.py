"""What the store keeps and reads for the console, on real Redis: a customer's events across its
keys, webhook traffic per minute, sync runs, bulk replay progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.store import Store, now_ms
from relay.store.traffic import MINUTE_MS, TrafficTally
from tests.admin.helpers import generic_payload, parsed

Run = Callable[[Callable[[Store], Any]], Any]
UUID = "cus_00000000-0000-4000-8000-0000000000c1"
RECORD = "hubspot:company:9001"


def by_record(event_id: str, *, occurred_ms: int) -> ParsedEvent:
    change = CustomerChange(
        event_id=event_id,
        source="hubspot",
        occurred_at_ms=occurred_ms,
        customer=CustomerRef(crm_record=RECORD),
        fields={"city": event_id},
    )
    return ParsedEvent(change=change, raw="{}")


async def everything(store: Store, keys: list[str], limit: int) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.log.events_of(
            keys, matches=lambda _: True, since_ms=None, until_ms=None, cursor=cursor, limit=limit
        )
        seen += [r.event_id for r in page.records]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_a_customers_events_across_its_keys_come_newest_first_each_once(with_store: Run) -> None:
    async def work(store: Store) -> list[list[str]]:
        await store.ledger.accept_many([by_record("e1", occurred_ms=now_ms() - 5000)])
        await store.ledger.accept_many([parsed(generic_payload("e2", UUID, set={"zip": "1"}))])
        await store.ledger.accept_many([by_record("e3", occurred_ms=now_ms() - 4000)])
        await asyncio.sleep(0.01)
        # e1 and e3 resolve to the uuid: indexed under both keys from now on
        await store.deliveries.rekey(f"crm:{RECORD}", UUID, link=RECORD)
        await store.ledger.accept_many([parsed(generic_payload("e4", UUID, set={"zip": "2"}))])
        keys = [UUID, f"crm:{RECORD}"]
        return [await everything(store, keys, limit) for limit in (1, 2, 50)]

    pages = with_store(work)

    assert pages == [["e4", "e3", "e2", "e1"]] * 3


def test_an_event_resolved_long_after_it_occurred_stays_listed_under_its_uuid(redis_url: str) -> None:
    async def work() -> list[str]:
        store = Store.from_url(redis_url, event_ttl_s=60)
        try:
            await store.ledger.accept_many([by_record("late", occurred_ms=now_ms() - 3_600_000)])
            await store.deliveries.rekey(f"crm:{RECORD}", UUID, link=RECORD)
            page = await store.log.events(
                customer=UUID, matches=lambda _: True, since_ms=None, until_ms=None, cursor=None, limit=10
            )
            return [r.event_id for r in page.records]
        finally:
            await store.aclose()

    # An hour ago is beyond the 60 s TTL: indexed by when it occurred, the listing's trim dropped it.
    assert asyncio.run(work()) == ["late"]


def test_webhook_traffic_is_counted_in_memory_and_read_for_the_last_hour(with_store: Run) -> None:
    async def work(store: Store) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
        tally = TrafficTally(store.traffic, interval_s=0.05)
        for _ in range(3):
            tally.count("hubspot", "accepted")
        tally.count("hubspot", "refused")
        tally.count("unknown", "refused")
        await asyncio.sleep(0.2)  # written by the tally's own timer
        tally.count("generic", "accepted")
        await tally.aclose()  # and what is left, at shutdown
        await store.traffic.add({("hubspot", "accepted"): 100}, at_ms=now_ms() - 61 * MINUTE_MS)
        return await store.traffic.last(minutes=60), await store.traffic.last(minutes=62)

    hour, longer = with_store(work)

    assert hour == {
        "hubspot": {"accepted": 3, "refused": 1},
        "unknown": {"accepted": 0, "refused": 1},
        "generic": {"accepted": 1, "refused": 0},
    }
    assert longer["hubspot"] == {"accepted": 103, "refused": 1}


def test_sync_runs_keep_the_newest(with_store: Run) -> None:
    async def work(store: Store) -> list[dict[str, Any]]:
        store.sync_runs.kept = 3
        for n in range(5):
            await store.sync_runs.add({"id": f"run-{n}", "enqueued": n})
        return await store.sync_runs.recent()

    assert [run["id"] for run in with_store(work)] == ["run-4", "run-3", "run-2"]


def test_a_bulk_job_counts_its_results_by_outcome(with_store: Run) -> None:
    async def work(store: Store) -> tuple[Any, list[dict[str, Any]]]:
        await store.bulk_jobs.start("abc", total=3, description="replay 3")
        for outcome in ("replayed", "skipped", "replayed"):
            await store.bulk_jobs.record("abc", {"event_id": "e", "outcome": outcome})
        await store.bulk_jobs.finish("abc")
        return await store.bulk_jobs.get("abc"), await store.bulk_jobs.results("abc")

    job, results = with_store(work)

    assert (job.done, job.total, job.finished, job.counts) == (3, 3, True, {"replayed": 2, "skipped": 1})
    assert [r["outcome"] for r in results] == ["replayed", "skipped", "replayed"]
