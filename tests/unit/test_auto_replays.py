"""Dead letters re-queued when their cause goes away (relay/store/replays.py, workers/replays.py):
indexed by cause when they die, a trigger when the cause goes away, each replay once per
trigger and in the event's history — against the real Redis the Lua runs in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from relay import metrics
from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.store import DeadLetterReason, EventStatus, Outcome, ReplayTrigger, Store, keys, now_ms
from relay.store.replays import MAX_AUTO_REPLAYS, RETRIES_EXHAUSTED, link_cause, owner_cause
from workers.replays import AutoReplayer

T = TypeVar("T")
WithStore = Callable[[Callable[[Store], Awaitable[T]]], T]

RECORD = "hubspot:company:8302"
KEY = f"crm:{RECORD}"
UUID = "cus_00000000-0000-4000-8000-000000008302"
NOT_FOUND = DeadLetterReason.CUSTOMER_NOT_FOUND


async def accept(
    store: Store, event_id: str, *, record: str = RECORD, links: dict[str, str] | None = None
) -> None:
    change = CustomerChange(
        event_id=event_id,
        source="hubspot",
        occurred_at_ms=1_700_000_000_000,
        customer=CustomerRef(crm_record=record),
        fields={"city": "Boston"},
    )
    await store.ledger.accept(ParsedEvent(change=change, raw="{}", links=links or {}))


async def die(
    store: Store,
    event_id: str,
    reason: DeadLetterReason = NOT_FOUND,
    causes: tuple[str, ...] = (link_cause(RECORD), link_cause(KEY)),
    *,
    customer: str = KEY,
    recheck: bool = True,
) -> None:
    """The event's delivery ends as a dead letter waiting for `causes`, as a worker's finish writes it."""
    claimed = await store.deliveries.claim(10, lease_ms=30_000, token="t")
    assert customer in claimed
    for other in claimed:  # released as they were: only `customer` is this delivery's
        if other != customer:
            await store.deliveries.finish(other, "t", [])
    outcome = Outcome(
        event_id,
        EventStatus.DEAD,
        fields={"reason": reason.value, "error": "no ChartMogul customer matches"},
        history={"reason": reason.value},
        causes=causes,
        recheck_links=recheck,
    )
    await store.deliveries.finish(customer, "t", [outcome])


async def parent_sent(store: Store, event_id: str, record: str, parent: str) -> None:
    """An event that says the record's parent (a contact's company; "" for none), as a CRM sends it."""
    change = CustomerChange(event_id, "hubspot", 1, CustomerRef(crm_record=record))
    await store.ledger.accept(ParsedEvent(change, "{}", ignored_reason="a parent", parents={record: parent}))


def replayer(store: Store, *, enabled: bool = True, healthy_s: float = 300.0) -> AutoReplayer:
    async def wake() -> None:
        woken.append(True)

    woken: list[bool] = []
    return AutoReplayer(store, enabled=enabled, healthy_s=healthy_s, turn_ms=1, wake=wake)


async def run(auto: AutoReplayer) -> int:
    await asyncio.sleep(0.003)  # the previous pass's turn (1 ms) is over
    return await auto.run()


async def status(store: Store, event_id: str) -> str:
    record = await store.ledger.event(event_id)
    return record.status if record else "(gone)"


async def replays_in_history(store: Store, event_id: str) -> list[dict[str, Any]]:
    return [h for h in await store.ledger.history(event_id) if h["what"] == "replayed"]


def replayed_count(trigger: ReplayTrigger) -> float:
    return metrics.REGISTRY.get_sample_value("relay_dlq_replayed_total", {"trigger": str(trigger)}) or 0.0


def test_an_imported_link_re_queues_the_dead_letters_waiting_for_it(with_store: WithStore[None]) -> None:
    before = replayed_count(ReplayTrigger.LINK_IMPORTED)

    async def work(store: Store) -> None:
        await accept(store, "hubspot:1")
        await die(store, "hubspot:1")
        assert await store.replays.waiting_count([link_cause(RECORD)]) == {link_cause(RECORD): 1}

        await store.links.add({RECORD: UUID})
        assert await run(replayer(store)) == 1

        assert await status(store, "hubspot:1") == "queued"
        assert await store.deliveries.pending_ids(KEY) == {"hubspot:1"}  # resolved afresh
        assert await store.redis.zscore(keys.READY, KEY) is not None
        assert not await store.ledger.is_dead("hubspot:1")
        [entry] = await replays_in_history(store, "hubspot:1")
        assert entry["trigger"] == "link_imported"
        assert entry["why"] == f"link imported: {RECORD} is linked to {UUID}"
        assert entry["automatic"] is True
        # no longer waiting: the index let it go
        assert await store.replays.waiting_count([link_cause(RECORD)]) == {link_cause(RECORD): 0}

    with_store(work)
    assert replayed_count(ReplayTrigger.LINK_IMPORTED) == before + 1


def test_a_link_nobody_waits_for_costs_no_trigger(with_store: WithStore[None]) -> None:
    async def work(store: Store) -> None:
        await store.links.add({"hubspot:company:1": UUID})
        await accept(store, "hubspot:2", record="hubspot:company:2", links={"hubspot:company:2": UUID})

        assert await store.redis.llen(keys.REPLAY_TRIGGERS) == 0  # type: ignore[misc]

    with_store(work)


def test_a_dead_letter_that_dies_again_waits_for_a_new_trigger(with_store: WithStore[None]) -> None:
    async def work(store: Store) -> None:
        auto = replayer(store)
        await accept(store, "hubspot:1")
        await die(store, "hubspot:1")
        await store.links.add({RECORD: UUID})
        assert await run(auto) == 1

        # The link led nowhere (ChartMogul: 404; the link is dropped): dead again, same reason.
        await store.links.delete(RECORD)
        await die(store, "hubspot:1")
        assert await run(auto) == 0  # that trigger is spent
        assert await status(store, "hubspot:1") == "dead"

        await store.links.add({RECORD: "cus_another"})  # a new cause for hope
        assert await run(auto) == 1
        assert len(await replays_in_history(store, "hubspot:1")) == 2

    with_store(work)


def test_a_trigger_older_than_the_death_replays_nothing(with_store: WithStore[None]) -> None:
    """The cause went away before the event died (it died for a reason the trigger did not
    fix): only a later trigger replays it."""

    async def work(store: Store) -> None:
        auto = replayer(store)
        await accept(store, "hubspot:1")
        await accept(store, "hubspot:3")
        await die(store, "hubspot:1")
        await store.links.add({RECORD: UUID})  # pushed while hubspot:1 waits...
        await die(store, "hubspot:3", recheck=False)  # ...and hubspot:3 dies after it

        assert await run(auto) == 1
        assert await status(store, "hubspot:1") == "queued"
        assert await status(store, "hubspot:3") == "dead"
        assert await store.replays.waiting_count([link_cause(RECORD)]) == {link_cause(RECORD): 1}

    with_store(work)


def test_a_link_written_while_the_event_was_being_dead_lettered_re_queues_it(
    with_store: WithStore[None],
) -> None:
    """A worker found no link; the link was imported before its dead letter was written."""
    before = replayed_count(ReplayTrigger.LINK_FOUND)

    async def work(store: Store) -> None:
        await accept(store, "hubspot:1")
        await store.redis.hset(keys.LINKS, RECORD, UUID)  # type: ignore[misc]
        await die(store, "hubspot:1")

        assert await run(replayer(store)) == 1
        [entry] = await replays_in_history(store, "hubspot:1")
        assert entry["trigger"] == "link_found"
        assert UUID in entry["why"]

    with_store(work)
    assert replayed_count(ReplayTrigger.LINK_FOUND) == before + 1


def test_automatic_replays_are_bounded(with_store: WithStore[None]) -> None:
    async def work(store: Store) -> None:
        auto = replayer(store)
        await accept(store, "hubspot:1")
        for attempt in range(MAX_AUTO_REPLAYS):
            await store.links.delete(RECORD)  # each link led nowhere
            await die(store, "hubspot:1")
            await store.links.add({RECORD: f"cus_try_{attempt}"})
            assert await run(auto) == 1
        await store.links.delete(RECORD)
        await die(store, "hubspot:1")
        await store.links.add({RECORD: UUID})

        assert await run(auto) == 0  # an operator's to replay now
        assert await status(store, "hubspot:1") == "dead"
        assert len(await replays_in_history(store, "hubspot:1")) == MAX_AUTO_REPLAYS
        assert await store.replays.waiting_count([link_cause(RECORD)]) == {link_cause(RECORD): 0}

    with_store(work)


def test_a_dead_letter_now_dead_for_another_reason_is_left_to_the_operator(
    with_store: WithStore[None],
) -> None:
    async def work(store: Store) -> None:
        await accept(store, "hubspot:1")
        await die(store, "hubspot:1")
        await store.ledger.replay("hubspot:1")  # an operator replayed it; ChartMogul refused it
        await die(store, "hubspot:1", DeadLetterReason.REJECTED, causes=())
        await store.links.add({RECORD: UUID})

        assert await run(replayer(store)) == 0
        assert await status(store, "hubspot:1") == "dead"
        assert await store.replays.waiting_count([link_cause(RECORD)]) == {link_cause(RECORD): 0}

    with_store(work)


def test_links_and_parents_the_crm_sends_and_merges_are_triggers(with_store: WithStore[None]) -> None:
    contact = "hubspot:contact:51"

    async def work(store: Store) -> None:
        auto = replayer(store)
        await accept(store, "hubspot:1")
        await die(store, "hubspot:1")
        await accept(store, "hubspot:2", record=contact)
        await die(store, "hubspot:2", causes=(link_cause(contact),), customer=f"crm:{contact}")

        # a link property in the CRM: the record's own link
        await accept(store, "hubspot:10", record="hubspot:company:77", links={RECORD: UUID})
        # a contact's company, named by the CRM
        await parent_sent(store, "hubspot:11", contact, "hubspot:company:9")
        triggers = await store.replays.pop(10)
        assert [(t.trigger, t.cause) for t in triggers] == [
            (ReplayTrigger.LINK_SENT, link_cause(RECORD)),
            (ReplayTrigger.LINK_SENT, link_cause(contact)),
        ]
        assert triggers[1].detail == f"{contact}'s parent is hubspot:company:9"
        for trigger in triggers:
            assert await auto.replay(trigger) == 1

        # the same link again changes nothing, and a parent taken away lets nothing through
        await die(store, "hubspot:1", recheck=False)
        await accept(store, "hubspot:12", record="hubspot:company:77", links={RECORD: UUID})
        await die(store, "hubspot:2", causes=(link_cause(contact),), customer=f"crm:{contact}", recheck=False)
        await parent_sent(store, "hubspot:14", contact, "")
        assert await store.replays.pop(10) == []

        # a merge moves a link to a record whose events wait
        await store.links.add({"hubspot:company:1": UUID})
        surviving = "hubspot:company:5"
        await accept(store, "hubspot:13", record=surviving)
        await die(store, "hubspot:13", causes=(link_cause(surviving),), customer=f"crm:{surviving}")
        merged = await store.links.merge(surviving, ["hubspot:company:1"])
        assert merged.outcome == "moved"
        [trigger] = await store.replays.pop(10)
        assert (trigger.trigger, trigger.cause) == (ReplayTrigger.MERGE, link_cause(surviving))
        assert await auto.replay(trigger) == 1

    with_store(work)


def test_an_owner_applied_re_queues_its_not_applied_dead_letters(with_store: WithStore[None]) -> None:
    async def work(store: Store) -> None:
        await accept(store, "hubspot:1")
        cause = owner_cause("Ann@Acme.com")
        await die(store, "hubspot:1", DeadLetterReason.NOT_APPLIED, causes=(cause,), recheck=False)

        assert (
            await store.replays.push(ReplayTrigger.OWNER_APPLIED, [(owner_cause("ann@acme.com"), "kept")])
            == 1
        )
        assert await run(replayer(store)) == 1
        [entry] = await replays_in_history(store, "hubspot:1")
        assert entry["why"] == "owner applied: kept"
        assert await store.deliveries.pending_ids(KEY) == {"hubspot:1"}

    with_store(work)


def test_retries_exhausted_wait_for_a_closed_circuit_and_a_healthy_spell(with_store: WithStore[None]) -> None:
    exhausted = DeadLetterReason.RETRIES_EXHAUSTED

    async def work(store: Store) -> None:
        auto = replayer(store, healthy_s=0.05)
        await accept(store, "hubspot:1")
        await die(store, "hubspot:1", exhausted, causes=(RETRIES_EXHAUSTED,), recheck=False)
        await store.replays.record_health(failed_at_ms=now_ms() - 5, succeeded_at_ms=None)
        assert await run(auto) == 0  # failing: nothing

        await store.replays.record_health(failed_at_ms=None, succeeded_at_ms=now_ms())
        await store.circuit.open("401")
        await asyncio.sleep(0.1)
        assert await run(auto) == 0  # healthy long enough, but the circuit is open

        await store.circuit.close()
        assert await run(auto) == 1
        [entry] = await replays_in_history(store, "hubspot:1")
        assert entry["trigger"] == "recovered"

        # Dead again (429s alone are no failure: the spell goes on): it waits until deliveries
        # have succeeded for healthy_s since it died, and comes back at most MAX_AUTO_REPLAYS times.
        for _ in range(MAX_AUTO_REPLAYS - 1):
            await die(store, "hubspot:1", exhausted, causes=(RETRIES_EXHAUSTED,), recheck=False)
            assert await run(auto) == 0
            await asyncio.sleep(0.1)
            assert await run(auto) == 1
        await die(store, "hubspot:1", exhausted, causes=(RETRIES_EXHAUSTED,), recheck=False)
        await asyncio.sleep(0.1)
        assert await run(auto) == 0  # its automatic replays are used up: an operator's turn
        assert len(await replays_in_history(store, "hubspot:1")) == MAX_AUTO_REPLAYS

    with_store(work)


def test_a_failure_reported_late_still_starts_the_healthy_time_over(with_store: WithStore[None]) -> None:
    async def work(store: Store) -> None:
        t = now_ms()
        await store.replays.record_health(failed_at_ms=t - 100, succeeded_at_ms=t - 50)
        await store.replays.record_health(failed_at_ms=None, succeeded_at_ms=t - 200)  # stale news
        assert (await store.replays.health()).healthy_since_ms == t - 50
        await store.replays.record_health(failed_at_ms=t - 10, succeeded_at_ms=None)
        health = await store.replays.health()
        assert (health.failed_at_ms, health.healthy_since_ms) == (t - 10, 0)

    with_store(work)


def test_switched_off_nothing_is_replayed_and_the_triggers_go(with_store: WithStore[None]) -> None:
    async def work(store: Store) -> None:
        await accept(store, "hubspot:1")
        await die(store, "hubspot:1")
        await store.links.add({RECORD: UUID})

        assert await run(replayer(store, enabled=False)) == 0
        assert await status(store, "hubspot:1") == "dead"
        assert await store.redis.llen(keys.REPLAY_TRIGGERS) == 0  # type: ignore[misc]

    with_store(work)


def test_a_big_import_finds_the_one_record_a_dead_letter_waits_for(with_store: WithStore[None]) -> None:
    async def work(store: Store) -> None:
        await accept(store, "hubspot:1")
        await die(store, "hubspot:1")
        imported = {f"hubspot:company:{n}": UUID for n in range(1200)} | {RECORD: UUID}

        await store.links.add(imported)  # in several script calls: none holds Redis long

        [trigger] = await store.replays.pop(10)
        assert (trigger.trigger, trigger.cause) == (ReplayTrigger.LINK_IMPORTED, link_cause(RECORD))

    with_store(work)
