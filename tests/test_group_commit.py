"""Group commit (relay/store/commit.py): accepts of one loop tick share one pipelined round trip,
each answered with its own result; duplicates are still recognised; errors reach every caller."""

from __future__ import annotations

import asyncio

import pytest
import redis

from relay.events import ParsedEvent
from relay.exceptions import NotReplicated, StoreUnavailable
from relay.store import Accepted, Store, keys
from tests.admin.helpers import generic_payload, parsed

UUIDS = [f"cus_00000000-0000-4000-8000-{i:012d}" for i in range(20)]


def event(event_id: str, customer: str) -> ParsedEvent:
    return parsed(generic_payload(event_id, customer, set={"city": "Oslo"}))


def test_concurrent_accepts_share_a_round_trip_and_each_gets_its_own_answer(redis_url: str) -> None:
    async def main() -> tuple[list[list[Accepted]], int, int]:
        store = Store.from_url(redis_url)
        store.ledger.commit.eager_calls = 100  # all 21 in one trip
        try:
            events = [event(f"evt_gc{i}", UUIDS[i]) for i in range(20)]
            # the same event twice in one tick: the second is a duplicate, as on separate trips
            again = event("evt_gc0", UUIDS[0])
            answers = await asyncio.gather(
                *(store.ledger.accept_many([e]) for e in events), store.ledger.accept_many([again])
            )
            stats = store.ledger.commit.stats
            stored = int(await store.redis.zcard(keys.EVENTS))
            return answers, stats.round_trips, stored
        finally:
            await store.aclose()

    answers, round_trips, stored = asyncio.run(main())
    assert answers[:20] == [[Accepted.READY]] * 20
    assert answers[20] == [Accepted.DUPLICATE]
    assert round_trips == 1
    assert stored == 20


def test_once_enough_events_wait_they_are_sent_at_once_in_trips_of_their_own(redis_url: str) -> None:
    """16 waiting accepts go out from the 16th request's own step, while the loop carries on
    with the rest of its iteration; what is left goes in the next iteration."""

    async def main() -> tuple[list[list[Accepted]], int, int]:
        store = Store.from_url(redis_url)
        try:
            answers = await asyncio.gather(
                *(store.ledger.accept_many([event(f"evt_eg{i}", f"cus_eager-{i}")]) for i in range(40))
            )
            return answers, store.ledger.commit.stats.round_trips, int(await store.redis.zcard(keys.EVENTS))
        finally:
            await store.aclose()

    answers, round_trips, stored = asyncio.run(main())
    assert answers == [[Accepted.READY]] * 40
    assert round_trips == 3  # 16 + 16 at once, then the last 8
    assert stored == 40


def test_sequential_accepts_each_take_their_own_round_trip(redis_url: str) -> None:
    async def main() -> tuple[list[Accepted], list[Accepted], int]:
        store = Store.from_url(redis_url)
        try:
            first = await store.ledger.accept_many([event("evt_s1", UUIDS[0])])
            second = await store.ledger.accept_many([event("evt_s2", UUIDS[0])])
            return first, second, store.ledger.commit.stats.round_trips
        finally:
            await store.aclose()

    first, second, round_trips = asyncio.run(main())
    assert (first, second, round_trips) == ([Accepted.READY], [Accepted.QUEUED], 2)


def test_redis_lost_its_scripts_the_pipeline_loads_them_and_is_sent_again(redis_url: str) -> None:
    async def main() -> tuple[list[list[Accepted]], int]:
        store = Store.from_url(redis_url)
        try:
            await store.redis.script_flush()
            answers = await asyncio.gather(
                *(store.ledger.accept_many([event(f"evt_ns{i}", UUIDS[i])]) for i in range(3))
            )
            return answers, store.ledger.commit.stats.round_trips
        finally:
            await store.aclose()

    answers, round_trips = asyncio.run(main())
    assert answers == [[Accepted.READY]] * 3
    assert round_trips == 2


def test_every_waiting_accept_gets_the_error_when_redis_is_unreachable() -> None:
    async def main() -> list[BaseException | list[Accepted]]:
        store = Store.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
        try:
            return await asyncio.gather(
                *(store.ledger.accept_many([event(f"evt_d{i}", UUIDS[i])]) for i in range(3)),
                return_exceptions=True,
            )
        finally:
            await store.aclose()

    answers = asyncio.run(main())
    assert all(isinstance(a, StoreUnavailable) and a.cause == "ConnectionError" for a in answers), answers


def test_with_replica_acks_and_no_replica_every_accept_of_the_pipeline_is_not_replicated(
    redis_url: str,
) -> None:
    async def main() -> tuple[list[BaseException | list[Accepted]], int]:
        store = Store.from_url(redis_url, replica_acks=1, replica_ack_timeout_ms=50)
        try:
            answers = await asyncio.gather(
                *(store.ledger.accept_many([event(f"evt_w{i}", UUIDS[i])]) for i in range(3)),
                return_exceptions=True,
            )
            return answers, store.ledger.commit.stats.round_trips
        finally:
            await store.aclose()

    if redis.Redis.from_url(redis_url).info("replication")["connected_slaves"]:
        pytest.skip("the test Redis has a replica")
    answers, round_trips = asyncio.run(main())
    assert all(isinstance(a, NotReplicated) for a in answers), answers
    assert round_trips == 1  # one WAIT for the whole pipeline


def test_the_store_client_packs_commands_byte_for_byte_as_redis_py_does() -> None:
    from redis.asyncio import Connection

    from relay.store.client import HiredisPackingConnection, connect

    ours, theirs = HiredisPackingConnection(), Connection()
    for args in [
        ("EVALSHA", "a" * 40, 2, "relay:k1", "relay:k2", "évt_1", 1732100000000, b"\x00raw", ""),
        ("SET", "k", 1.5),
        ("CONFIG GET", "maxmemory"),
        ("SET", "big", "x" * 10_000),
        ("SET", "k", bytearray(b"v")),  # the serializer's conversions still apply
        ("SET", "k", memoryview(b"v")),
    ]:
        assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args)), args
    client = connect("redis://127.0.0.1:6379/0")
    assert client.connection_pool.connection_class is HiredisPackingConnection
    assert (
        connect("rediss://127.0.0.1:6379/0").connection_pool.connection_class is not HiredisPackingConnection
    )


def test_a_redis_that_never_answers_fails_the_accept_within_the_round_trip_timeout() -> None:
    """The accept client has no socket timeout of its own (its wait_for cost a loop turn a
    round trip): the group commit's deadline is the one that holds."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts connections, never answers
    port = listener.getsockname()[1]

    async def main() -> tuple[list[BaseException | list[Accepted]], float]:
        store = Store.from_url(f"redis://127.0.0.1:{port}/0")
        store.ledger.commit.round_trip_timeout_s = 0.3
        started = time.monotonic()
        try:
            answers = await asyncio.gather(
                *(store.ledger.accept_many([event(f"evt_hang{i}", UUIDS[i])]) for i in range(3)),
                return_exceptions=True,
            )
            return answers, time.monotonic() - started
        finally:
            await store.aclose()

    try:
        answers, took_s = asyncio.run(main())
    finally:
        listener.close()
    assert all(isinstance(a, StoreUnavailable) and a.cause == "TimeoutError" for a in answers), answers
    assert took_s < 2
