"""Ending a delivery (relay/store/deliveries.py): `finish` settles outcomes and releases the lease
in one atomic call, `settle` records outcomes while the delivery goes on — both only while the
caller's token still holds the customer's lease. Against the real Redis their Lua runs in."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import pytest

from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.store import Store, keys
from relay.store.deliveries import Inflight
from relay.store.records import EventStatus, Outcome, Released

T = TypeVar("T")
WithStore = Callable[[Callable[[Store], Awaitable[T]]], T]

CUSTOMER = "cus_00000000-0000-0000-0000-0000000fe4ce"
DEAD: dict[str, str | int] = {"reason": "rejected", "error": "name is too long"}


@dataclass(frozen=True)
class State:
    """Everything a finish may write, read back through the store."""

    statuses: dict[str, str]
    pending: set[str]
    owner: str | None
    ready: bool
    retry_due_ms: float | None
    retry_streak: bool
    dead_letters: int
    applied_fields: dict[str, int]
    inflight: bool
    history: dict[str, list[str]]


async def accept(store: Store, *event_ids: str) -> None:
    for i, event_id in enumerate(event_ids):
        change = CustomerChange(
            event_id=event_id,
            source="generic",
            occurred_at_ms=1_700_000_000_000 + i,
            customer=CustomerRef(uuid=CUSTOMER),
            fields={"city": f"City {i}"},
        )
        await store.ledger.accept(ParsedEvent(change=change, raw="{}"))


async def leased(store: Store, *event_ids: str, token: str = "holder") -> None:
    """The customer's events accepted, a retry streak under way, a PATCH written ahead, and the
    lease held by `token`."""
    await accept(store, *event_ids)
    assert await store.deliveries.claim(1, lease_ms=30_000, token=token) == [CUSTOMER]
    await store.deliveries.start_retry_streak(CUSTOMER)
    await store.deliveries.begin_inflight(CUSTOMER, Inflight("k", {"city": "x"}, list(event_ids), {}))


async def taken_over(store: Store, *event_ids: str) -> None:
    """`old` held the lease, it expired (its worker stalled), and `new` claimed the customer."""
    await accept(store, *event_ids)
    await store.deliveries.claim(1, lease_ms=1, token="old")
    deadline = time.monotonic() + 5
    while (await store.deliveries.promote())[1] == 0:  # the lease expires within ms
        assert time.monotonic() < deadline, "the lease never expired"
    assert await store.deliveries.claim(1, lease_ms=30_000, token="new") == [CUSTOMER]
    await store.deliveries.start_retry_streak(CUSTOMER)
    await store.deliveries.begin_inflight(CUSTOMER, Inflight("k", {"city": "x"}, list(event_ids), {}))


async def state(store: Store, event_ids: tuple[str, ...]) -> State:
    records = await store.ledger.events(list(event_ids))
    redis = store.redis
    return State(
        statuses={e: r.status if r else "(gone)" for e, r in zip(event_ids, records, strict=True)},
        pending=await store.deliveries.pending_ids(CUSTOMER),
        owner=cast(str | None, await redis.hget(keys.LEASE_OWNERS, CUSTOMER)),  # type: ignore[misc]
        ready=await redis.zscore(keys.READY, CUSTOMER) is not None,
        retry_due_ms=await redis.zscore(keys.RETRY, CUSTOMER),
        retry_streak=bool(await redis.exists(keys.retry_state(CUSTOMER))),
        dead_letters=await store.ledger.dead_letter_total(),
        applied_fields=await store.deliveries.applied_fields(CUSTOMER),
        inflight=await store.deliveries.inflight(CUSTOMER) is not None,
        history={e: [h["what"] for h in await store.ledger.history(e)] for e in event_ids},
    )


# --- the holder's finish -----------------------------------------------------------------------

RETRY_AT = 4_102_444_800_000  # 2100-01-01: far enough never to come due during the test


@pytest.mark.parametrize(
    ("events", "outcomes", "finish", "released", "expected"),
    [
        pytest.param(
            ("e1",),
            [Outcome("e1", EventStatus.APPLIED, {"applied_by": "e1"})],
            {"applied_fields": {"city": 1_700_000_000_000}, "clear_inflight": True},
            Released.IDLE,
            {
                "statuses": {"e1": "applied"},
                "pending": set(),
                "ready": False,
                "retry_streak": False,
                "applied_fields": {"city": 1_700_000_000_000},
                "inflight": False,
                "history": {"e1": ["accepted", "applied"]},
            },
            id="the last event applied: idle, the streak and the write-ahead gone, the field's time kept",
        ),
        pytest.param(
            ("e1", "e2"),
            [Outcome("e1", EventStatus.APPLIED)],
            {},
            Released.READY,
            {
                "statuses": {"e1": "applied", "e2": "queued"},
                "pending": {"e2"},
                "ready": True,
                "retry_streak": False,
                "inflight": True,
                "history": {"e1": ["accepted", "applied"], "e2": ["accepted"]},
            },
            id="events still wait: ready again",
        ),
        pytest.param(
            ("e1",),
            [],
            {"retry_due_ms": RETRY_AT},
            Released.RETRYING,
            {
                "statuses": {"e1": "queued"},
                "pending": {"e1"},
                "ready": False,
                "retry_due_ms": RETRY_AT,
                "retry_streak": True,
                "inflight": True,
                "history": {"e1": ["accepted"]},
            },
            id="a retry due: retrying, the streak kept",
        ),
        pytest.param(
            ("e1", "e2"),
            [Outcome("e1", EventStatus.DEAD, DEAD, {"reason": "rejected"}), Outcome("e2", EventStatus.STALE)],
            {"clear_inflight": True},
            Released.IDLE,
            {
                "statuses": {"e1": "dead", "e2": "stale"},
                "pending": set(),
                "dead_letters": 1,
                "inflight": False,
                "history": {"e1": ["accepted", "dead"], "e2": ["accepted", "stale"]},
            },
            id="a dead letter and a stale event",
        ),
    ],
)
def test_the_holders_finish_settles_and_releases_at_once(
    with_store: WithStore[tuple[Released, State]],
    events: tuple[str, ...],
    outcomes: list[Outcome],
    finish: dict[str, Any],
    released: Released,
    expected: dict[str, Any],
) -> None:
    async def work(store: Store) -> tuple[Released, State]:
        await leased(store, *events)
        result = await store.deliveries.finish(CUSTOMER, "holder", outcomes, **finish)
        return result, await state(store, events)

    result, after = with_store(work)

    assert result is released
    assert after.owner is None  # released, whatever comes next
    defaults: dict[str, Any] = {"retry_due_ms": None, "dead_letters": 0, "applied_fields": {}}
    for name, value in {**defaults, **expected}.items():
        assert getattr(after, name) == value, name


def test_the_holders_settle_writes_outcomes_and_keeps_the_lease(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> tuple[bool, State]:
        await leased(store, "e1", "e2")
        settled = await store.deliveries.settle(
            CUSTOMER,
            "holder",
            [Outcome("e1", EventStatus.DEAD, DEAD)],
            applied_fields={"company": 5},
            clear_inflight=True,
        )
        return settled, await state(store, ("e1", "e2"))

    settled, after = with_store(work)

    assert settled
    assert after.statuses == {"e1": "dead", "e2": "queued"}
    assert after.pending == {"e2"}
    assert after.dead_letters == 1
    assert after.applied_fields == {"company": 5}
    assert not after.inflight
    assert (after.owner, after.ready, after.retry_due_ms, after.retry_streak) == ("holder", False, None, True)


# --- a token that lost the lease ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "outcomes", "options"),
    [
        pytest.param("finish", [Outcome("e1", EventStatus.APPLIED)], {"clear_inflight": True}, id="finish"),
        pytest.param("finish", [], {"retry_due_ms": RETRY_AT}, id="finish into a retry"),
        pytest.param("finish", [Outcome("e1", EventStatus.DEAD, DEAD)], {}, id="finish with a dead letter"),
        pytest.param(
            "finish",
            [Outcome("e1", EventStatus.STALE)],
            {"applied_fields": {"city": 9}},
            id="finish with applied fields",
        ),
        pytest.param("finish", [], {}, id="finish with nothing to settle"),
        pytest.param("settle", [Outcome("e1", EventStatus.APPLIED)], {"clear_inflight": True}, id="settle"),
        pytest.param("settle", [Outcome("e2", EventStatus.DEAD, DEAD)], {}, id="settle a dead letter"),
        pytest.param("settle", [], {"applied_fields": {"city": 9}}, id="settle applied fields only"),
        pytest.param("settle", [], {}, id="settle nothing"),
    ],
)
def test_a_token_that_lost_the_lease_writes_nothing(
    with_store: WithStore[tuple[Any, State, State]],
    call: str,
    outcomes: list[Outcome],
    options: dict[str, Any],
) -> None:
    events = ("e1", "e2")

    async def work(store: Store) -> tuple[Any, State, State]:
        await taken_over(store, *events)
        before = await state(store, events)
        result = await getattr(store.deliveries, call)(CUSTOMER, "old", outcomes, **options)
        return result, before, await state(store, events)

    result, before, after = with_store(work)

    assert result is (Released.LEASE_LOST if call == "finish" else False)
    assert after == before
    assert after.owner == "new"
    assert after.statuses == {"e1": "queued", "e2": "queued"}


def test_after_a_lost_finish_the_new_holder_still_finishes(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> tuple[Released, Released, State]:
        await taken_over(store, "e1")
        lost = await store.deliveries.finish(CUSTOMER, "old", [Outcome("e1", EventStatus.DEAD, DEAD)])
        done = await store.deliveries.finish(CUSTOMER, "new", [Outcome("e1", EventStatus.APPLIED)])
        return lost, done, await state(store, ("e1",))

    lost, done, after = with_store(work)

    assert (lost, done) == (Released.LEASE_LOST, Released.IDLE)
    assert after.statuses == {"e1": "applied"}
    assert after.history == {"e1": ["accepted", "applied"]}
    assert after.dead_letters == 0
    assert after.owner is None
