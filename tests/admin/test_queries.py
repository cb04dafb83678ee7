"""Reading the event log and the DLQ: time specs, filters, cursors, paging, views."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay import times
from relay.admin import queries
from relay.admin.queries import DeadLetterFilter, EventFilter, QueryError
from relay.store import EventStatus, Outcome, Store, keys, now_ms
from relay.store.eventlog import Cursor, EventLog
from tests.admin.helpers import UUID_A, UUID_B, generic_payload, parsed, seed_dead, settle_as_worker

NOW = 1_800_000_000_000

Run = Callable[[Callable[[Store], Any]], Any]


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("30m", 1_800_000), ("1h", 3_600_000), ("1h30m", 5_400_000), ("7d", 604_800_000)],
)
def test_durations_mean_that_long_ago(text: str, ms: int) -> None:
    assert times.parse_time(text, now=NOW) == NOW - ms


def test_iso_times_are_absolute_and_naive_means_utc() -> None:
    assert times.parse_time("2026-11-20T10:00:00Z", now=NOW) == 1_795_168_800_000
    assert times.parse_time("2026-11-20T10:00:00", now=NOW) == 1_795_168_800_000
    assert times.parse_time("2026-11-20T11:00:00+01:00", now=NOW) == 1_795_168_800_000


@pytest.mark.parametrize("text", ["", "yesterday", "1x", "h1", "10", "2026-13-01"])
def test_bad_times_say_what_is_accepted(text: str) -> None:
    with pytest.raises(times.TimeSpecError, match="duration"):
        times.parse_time(text, now=NOW)


def test_now_and_a_clock_time_today_on_this_machines_clock() -> None:
    local_now = datetime.fromtimestamp(NOW / 1000).astimezone()
    ten_past = local_now.replace(hour=10, minute=5, second=0, microsecond=0)
    if ten_past > local_now:  # a clock time still ahead today means yesterday's
        ten_past -= timedelta(days=1)

    assert times.parse_time("now", now=NOW) == NOW
    assert times.parse_time("10:05", now=NOW) == int(ten_past.timestamp() * 1000)
    assert times.parse_time("10:05:30", now=NOW) == int(ten_past.timestamp() * 1000) + 30_000
    assert times.local_clock(NOW).startswith(f"{local_now:%Y-%m-%d %H:%M:%S}")
    with pytest.raises(QueryError, match="a time today"):
        EventFilter.parse(since="25:99", now=NOW)


def test_filters_check_their_inputs() -> None:
    with pytest.raises(QueryError, match="status must be one of"):
        EventFilter.parse(status="lost")
    with pytest.raises(QueryError, match="HTTP status"):
        DeadLetterFilter.parse(status="bad")
    with pytest.raises(QueryError, match="later than until"):
        DeadLetterFilter.parse(since="1h", until="2h")
    with pytest.raises(QueryError, match="unknown filter field"):
        DeadLetterFilter.from_document({"reasn": "rejected"})
    with pytest.raises(QueryError, match="must be a string"):
        DeadLetterFilter.from_document({"reason": ["rejected"]})
    assert DeadLetterFilter.from_document({"status": 400, "reason": "rejected"}) == DeadLetterFilter(
        reason="rejected", http_status=400
    )
    assert DeadLetterFilter.from_document({}).is_empty


@pytest.mark.parametrize(
    ("given", "sources", "key"),
    [
        ("hubspot:company:9001", queries.SOURCES, "crm:hubspot:company:9001"),
        ("urn:acme:42", queries.SOURCES, "ext:*:urn:acme:42"),  # an external id with colons
        ("zoho:accounts:4876", queries.SOURCES, "ext:*:zoho:accounts:4876"),
        ("zoho:accounts:4876", queries.event_sources(["zoho"]), "crm:zoho:accounts:4876"),
        ("Ops@Acme.example", queries.SOURCES, "email:ops@acme.example"),
        ("cus_1", queries.SOURCES, "cus_1"),
    ],
)
def test_a_customer_is_named_by_a_record_of_a_known_source_only(
    given: str, sources: tuple[str, ...], key: str
) -> None:
    assert queries.customer_key(given, sources) == key


def test_a_filter_knows_declared_sources_without_them_being_a_condition() -> None:
    sources = queries.event_sources(["zoho"])
    with pytest.raises(QueryError, match="source 'zoho' is not one of"):
        DeadLetterFilter.parse(source="zoho")

    assert DeadLetterFilter.parse(source="zoho", sources=sources).source == "zoho"
    assert DeadLetterFilter.parse(sources=sources).is_empty
    assert EventFilter.parse(customer="zoho:accounts:1", sources=sources).sources == sources


@given(st.integers(min_value=0, max_value=2**53), st.text(max_size=50))
def test_cursors_round_trip(score: int, event_id: str) -> None:
    cursor = Cursor(score, event_id)
    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("text", ["!!", "bm90IGpzb24", "WzEsMiwzXQ", "WyJhIiwiYiJd"])
def test_foreign_cursors_are_refused(text: str) -> None:
    with pytest.raises(QueryError, match="cursor"):
        Cursor.decode(text)


def test_limits_are_bounded() -> None:
    assert queries.parse_limit(None) == queries.DEFAULT_LIMIT
    assert queries.parse_limit("5") == 5
    for bad in ("0", "1001", "x", -1):
        with pytest.raises(QueryError, match="limit"):
            queries.parse_limit(bad)


def test_events_list_newest_first_and_page_through_a_batch_of_the_same_millisecond(
    with_store: Run,
) -> None:
    batch = [parsed(generic_payload(f"evt_{i:02}", UUID_A, set={"city": f"C{i}"})) for i in range(7)]

    async def work(store: Store) -> tuple[list[str], list[str | None]]:
        await store.ledger.accept_many(batch)  # one received_at_ms for all seven
        seen: list[str] = []
        cursors: list[str | None] = []
        cursor = None
        while True:
            page = await queries.list_events(store, EventFilter(), limit=3, cursor=cursor)
            seen += [r.event_id for r in page.records]
            cursors.append(page.next_cursor)
            if page.next_cursor is None:
                return seen, cursors
            cursor = page.next_cursor

    seen, cursors = with_store(work)

    assert seen == [f"evt_{i:02}" for i in reversed(range(7))]
    assert cursors[-1] is None and all(cursors[:-1])


def test_events_filter_by_customer_status_and_source(with_store: Run) -> None:
    async def work(store: Store) -> dict[str, list[str]]:
        await store.ledger.accept_many([parsed(generic_payload("evt_a1", UUID_A, set={"city": "A"}))])
        await store.ledger.accept_many([parsed(generic_payload("evt_b1", UUID_B, set={"city": "B"}))])
        await seed_dead(store, [parsed(generic_payload("evt_a2", UUID_A, set={"owner": "x@y.z"}))])

        async def ids(query: EventFilter) -> list[str]:
            return [r.event_id for r in (await queries.list_events(store, query)).records]

        return {
            "customer": await ids(EventFilter(customer=UUID_A)),
            "dead": await ids(EventFilter(status="dead")),
            "queued_b": await ids(EventFilter(customer=UUID_B, status="queued")),
            "hubspot": await ids(EventFilter(source="hubspot")),
            "future": await ids(EventFilter.parse(since="2999-01-01T00:00:00Z")),
        }

    found = with_store(work)

    assert found == {
        "customer": ["evt_a2", "evt_a1"],
        "dead": ["evt_a2"],
        "queued_b": ["evt_b1"],
        "hubspot": [],
        "future": [],
    }


def test_a_sparse_filter_returns_a_cursor_after_scanning_its_share(with_store: Run) -> None:
    async def work(store: Store) -> tuple[list[str], str | None, list[str]]:
        await store.ledger.accept_many(
            [parsed(generic_payload(f"evt_{i}", UUID_A, set={"city": "X"})) for i in range(5)]
        )
        log = EventLog(store.redis, store.ledger, event_ttl_s=store.event_ttl_s, max_scan=3)
        first = await log.events(
            customer=None,
            matches=lambda r: r.event_id == "evt_0",
            since_ms=None,
            until_ms=None,
            cursor=None,
            limit=10,
        )
        rest = await log.events(
            customer=None,
            matches=lambda r: r.event_id == "evt_0",
            since_ms=None,
            until_ms=None,
            cursor=first.next_cursor,
            limit=10,
        )
        return [r.event_id for r in first.records], first.next_cursor, [r.event_id for r in rest.records]

    first, cursor, rest = with_store(work)

    assert first == [] and cursor is not None
    assert rest == ["evt_0"]


def test_expired_ids_are_trimmed_from_the_time_index(with_store: Run) -> None:
    async def work(store: Store) -> tuple[list[str], list[str]]:
        await store.ledger.accept_many([parsed(generic_payload("evt_kept", UUID_A, set={"city": "K"}))])
        old_ms = now_ms() - store.event_ttl_s * 1000 - 60_000
        await store.redis.zadd(keys.EVENTS, {"evt_ancient": old_ms, "evt_gone": now_ms() - 1})
        page = await queries.list_events(store, EventFilter())
        return [r.event_id for r in page.records], cast(
            list[str], await store.redis.zrange(keys.EVENTS, 0, -1)
        )

    listed, index = with_store(work)

    assert listed == ["evt_kept"]
    assert index == ["evt_kept"]  # too old: trimmed; record gone: dropped on read


def test_dead_letters_filter_on_reason_status_source_customer_and_time(with_store: Run) -> None:
    async def work(store: Store) -> dict[str, list[str]]:
        await seed_dead(store, [parsed(generic_payload("evt_rej", UUID_A, set={"owner": "a@b.c"}))])
        await seed_dead(
            store,
            [parsed(generic_payload("evt_404", UUID_B, set={"city": "X"}))],
            reason="customer_not_found",
            http_status=404,
        )
        await seed_dead(
            store,
            [parsed(generic_payload("evt_500", UUID_B, set={"city": "Y"}))],
            reason="retries_exhausted",
            http_status=None,
        )

        async def ids(**options: Any) -> list[str]:
            page = await queries.list_dead_letters(store, DeadLetterFilter.parse(**options))
            return [r.event_id for r in page.records]

        return {
            "all": await ids(),
            "reason": await ids(reason="customer_not_found"),
            "status": await ids(status="400"),
            "customer": await ids(customer=UUID_B),
            "source": await ids(source="generic"),
            "until_past": await ids(until="2020-01-01T00:00:00Z"),
            "since_1m": await ids(since="1m"),
        }

    found = with_store(work)

    assert found["all"] == ["evt_500", "evt_404", "evt_rej"]
    assert found["reason"] == ["evt_404"]
    assert found["status"] == ["evt_rej"]
    assert found["customer"] == ["evt_500", "evt_404"]
    assert found["source"] == found["all"]
    assert found["until_past"] == []
    assert found["since_1m"] == found["all"]


def test_public_record_parses_json_types_numbers_and_adds_iso_times(with_store: Run) -> None:
    async def work(store: Store) -> dict[str, Any] | None:
        event = parsed(generic_payload("evt_v", UUID_A, set={"city": "Oslo"}, tags={"add": ["vip"]}))
        await store.ledger.accept_many([event])
        await settle_as_worker(
            store,
            UUID_A,
            [
                Outcome(
                    "evt_v",
                    EventStatus.APPLIED,
                    fields={"applied_by": "evt_v", "http_status": 200, "patch": '{"city":"Oslo"}'},
                )
            ],
        )
        return await queries.event_detail(store, "evt_v")

    detail = with_store(work)

    assert detail is not None
    event = detail["event"]
    assert event["status"] == "applied"
    assert event["http_status"] == 200
    assert event["patch"] == {"city": "Oslo"}
    assert event["change"]["fields"] == {"city": "Oslo"} and event["change"]["tags_add"] == ["vip"]
    assert event["raw"]["id"] == "evt_v"
    assert event["received_at"].endswith("Z") and isinstance(event["received_at_ms"], int)
    assert [h["what"] for h in detail["history"]] == ["accepted", "applied"]


def test_dead_letter_counts_by_reason_with_a_cap(with_store: Run) -> None:
    async def work(store: Store) -> tuple[tuple[int, dict[str, int]], tuple[int, dict[str, int]]]:
        await seed_dead(
            store, [parsed(generic_payload(f"evt_r{i}", UUID_A, set={"city": "X"})) for i in range(3)]
        )
        await seed_dead(
            store,
            [parsed(generic_payload("evt_n", UUID_B, set={"city": "Y"}))],
            reason="customer_not_found",
        )
        return (
            await store.log.dead_letter_counts(),
            await store.log.dead_letter_counts(cap=2),
        )

    full, capped = with_store(work)

    assert full == (4, {"rejected": 3, "customer_not_found": 1})
    assert capped[0] == 4
    assert sum(capped[1].values()) == 4 and capped[1]["not_counted"] == 2
