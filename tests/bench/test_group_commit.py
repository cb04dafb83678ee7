"""The group committer: Ledger.accept_many's records and answers, many requests per write.

Against real Redis: database 7 of RELAY_TEST_REDIS_URL's server (flushed around each test), and
a private redis-server where a test flushes scripts, restarts Redis or runs it out of memory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import redis
import redis.asyncio as aioredis

from relay import keys
from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.ledger import Accepted, Ledger, connect
from tests.bench.group_commit import GroupCommitter
from tests.servers import free_port, own_redis

REDIS_URL = (
    urlsplit(os.environ.get("RELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13"))._replace(path="/7").geturl()
)

Scenario = Callable[[aioredis.Redis], Awaitable[None]]


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def private_redis() -> Iterator[tuple[str, Callable[[], None]]]:
    with own_redis() as (url, restart):
        yield url, restart


def run(redis_url: str, scenario: Scenario) -> None:
    """Run `scenario` with an async client of `redis_url`, closed afterwards."""

    async def main() -> None:
        client = connect(redis_url)
        try:
            await scenario(client)
        finally:
            await client.aclose()

    asyncio.run(main())


def event(
    event_id: str,
    customer: str = "cus_a",
    *,
    occurred_at_ms: int = 1_700_000_000_000,
    links: dict[str, str] | None = None,
    ignored: str | None = None,
) -> ParsedEvent:
    ref = CustomerRef(uuid=customer) if customer.startswith("cus_") else CustomerRef(crm_record=customer)
    change = CustomerChange(
        event_id=event_id,
        source="generic",
        occurred_at_ms=occurred_at_ms,
        customer=ref,
        fields={} if ignored else {"city": f"City {event_id}"},
        tags_add=[] if ignored else ["vip"],
    )
    return ParsedEvent(
        change=change, raw=f'{{"id": "{event_id}"}}', ignored_reason=ignored, links=links or {}
    )


def a_mixed_batch() -> list[ParsedEvent]:
    return [
        event("evt_1", "cus_a"),
        event("evt_2", "cus_a", occurred_at_ms=1_600_000_000_000),
        event(
            "evt_3", "hubspot:company:7", links={"hubspot:company:8": "cus_b", "hubspot:contact:9": "cus_b"}
        ),
        event("evt_4", "hubspot:company:9", ignored="company.deletion is recorded but not mapped"),
        event("evt_1", "cus_a"),  # the same id again in one batch: a duplicate
    ]


async def snapshot(client: aioredis.Redis) -> dict[str, Any]:
    """Every key with its content and whether it expires; times of receipt left out."""
    state: dict[str, Any] = {}
    for key in sorted(str(k) for k in await client.keys("*")):
        kind = await client.type(key)
        value: Any
        if kind == "hash":
            value = await client.hgetall(key)
            value.pop("received_at_ms", None)
        elif kind == "zset":
            by_receipt = key in (keys.EVENTS, keys.READY) or key.startswith("relay:customer_events:")
            members = cast(list[tuple[str, float]], await client.zrange(key, 0, -1, withscores=True))
            value = [(member, None if by_receipt else score) for member, score in members]
        elif kind == "list":
            entries = await client.lrange(key, 0, -1)
            value = [str(entry).split('"what"')[1] for entry in entries]
        else:
            value = await client.get(key)
        state[key] = (kind, value, await client.ttl(key) > 0)
    return state


def test_writes_exactly_what_the_ledger_writes(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        ledger = Ledger(client)
        by_ledger = await ledger.accept_many(a_mixed_batch())
        written_by_ledger = await snapshot(client)
        await client.flushdb()

        committer = GroupCommitter(ledger)
        by_committer = await committer.accept_many(a_mixed_batch())
        await committer.aclose()

        assert (
            by_committer
            == by_ledger
            == [
                Accepted.READY,
                Accepted.QUEUED,
                Accepted.READY,
                Accepted.IGNORED,
                Accepted.DUPLICATE,
            ]
        )
        assert await snapshot(client) == written_by_ledger
        assert keys.LINKS in written_by_ledger  # the comparison covers links too

    run(redis_url, scenario)


def test_concurrent_requests_share_writes_and_each_gets_its_own_answer(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client))
        requests = [[event(f"evt_{i}_{j}", f"cus_{i % 50}") for j in range(1 + i % 3)] for i in range(300)]

        answers = await asyncio.gather(*(committer.accept_many(r) for r in requests))
        await committer.aclose()

        assert [len(a) for a in answers] == [len(r) for r in requests]
        assert sum(a.count(Accepted.READY) for a in answers) == 50  # each customer turned ready once
        assert all(set(a) <= {Accepted.READY, Accepted.QUEUED} for a in answers)
        assert await client.zcard(keys.EVENTS) == sum(len(r) for r in requests)
        assert committer.writes < len(requests) / 10

    run(redis_url, scenario)


def test_a_repeated_event_is_a_duplicate(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client))
        assert await committer.accept(event("evt_1")) is Accepted.READY
        assert await committer.accept(event("evt_1")) is Accepted.DUPLICATE
        together = await asyncio.gather(committer.accept(event("evt_2")), committer.accept(event("evt_2")))
        assert list(together) == [Accepted.QUEUED, Accepted.DUPLICATE]
        await committer.aclose()

    run(redis_url, scenario)


def test_a_refused_request_fails_alone(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        await client.set(keys.pending("cus_broken"), "not a sorted set")
        committer = GroupCommitter(Ledger(client))

        answers = await asyncio.gather(
            committer.accept_many([event("evt_1", "cus_a")]),
            committer.accept_many([event("evt_2", "cus_broken")]),
            committer.accept_many([event("evt_3", "cus_c"), event("evt_4", "cus_c")]),
            return_exceptions=True,
        )
        await committer.aclose()

        assert answers[0] == [Accepted.READY]
        assert isinstance(answers[1], redis.ResponseError)
        assert "WRONGTYPE" in str(answers[1])
        assert answers[2] == [Accepted.READY, Accepted.QUEUED]
        assert committer.writes == 1

    run(redis_url, scenario)


def test_a_batch_redis_refuses_for_memory_writes_nothing(private_redis: tuple[str, Any]) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client))
        await committer.accept(event("evt_0"))
        used = (await client.info("memory"))["used_memory"]
        await client.config_set("maxmemory", used - 1024)

        with pytest.raises(redis.ResponseError, match="maxmemory"):
            await committer.accept_many([event(f"evt_{i}", f"cus_{i}") for i in range(1, 101)])

        await client.config_set("maxmemory", 0)
        assert await client.exists(*[keys.event(f"evt_{i}") for i in range(1, 101)]) == 0
        assert await client.zcard(keys.EVENTS) == 1
        await committer.aclose()

    run(private_redis[0], scenario)


def test_scripts_flushed_from_redis_are_loaded_again(private_redis: tuple[str, Any]) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client))
        assert await committer.accept(event("evt_1")) is Accepted.READY
        await client.script_flush()

        answers = await committer.accept_many([event("evt_2"), event("evt_3", "cus_b")])
        assert answers == [Accepted.QUEUED, Accepted.READY]
        await committer.aclose()

    run(private_redis[0], scenario)


def test_redis_down_fails_the_request_with_a_redis_error() -> None:
    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client))
        with pytest.raises(redis.ConnectionError):
            await committer.accept(event("evt_1"))
        await committer.aclose()

    run(f"redis://127.0.0.1:{free_port()}/0", scenario)


def test_a_redis_restart_is_survived(private_redis: tuple[str, Callable[[], None]]) -> None:
    url, restart = private_redis

    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client))
        assert await committer.accept(event("evt_1")) is Accepted.READY
        await asyncio.to_thread(restart)  # a graceful restart, AOF on: evt_1 survives it

        assert await committer.accept(event("evt_2", "cus_b")) is Accepted.READY
        assert await committer.accept(event("evt_1")) is Accepted.DUPLICATE
        await committer.aclose()

    run(url, scenario)


def test_large_backlogs_go_out_in_several_writes(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client), max_events=250)
        requests = [[event(f"evt_{i}_{j}", f"cus_{i}") for j in range(100)] for i in range(10)]

        answers = await asyncio.gather(*(committer.accept_many(r) for r in requests))
        await committer.aclose()

        assert all(len(a) == 100 and a[0] is Accepted.READY for a in answers)
        assert committer.writes >= 5
        assert await client.zcard(keys.EVENTS) == 1000

    run(redis_url, scenario)


def test_a_caller_that_goes_away_does_not_disturb_the_others(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client))
        leaving = asyncio.create_task(committer.accept(event("evt_1")))
        staying = asyncio.create_task(committer.accept(event("evt_2", "cus_b")))
        await asyncio.sleep(0)
        leaving.cancel()

        assert await staying is Accepted.READY
        await committer.aclose()
        assert await client.exists(keys.event("evt_1")) == 1  # it was already on its way

    run(redis_url, scenario)


def test_close_writes_what_is_queued_then_refuses(redis_url: str) -> None:
    async def scenario(client: aioredis.Redis) -> None:
        committer = GroupCommitter(Ledger(client))
        tasks = [asyncio.create_task(committer.accept(event(f"evt_{i}", f"cus_{i}"))) for i in range(20)]
        await asyncio.sleep(0)

        await committer.aclose()

        assert all(t.done() and t.result() is Accepted.READY for t in tasks)
        with pytest.raises(RuntimeError, match="closed"):
            await committer.accept(event("evt_late"))

    run(redis_url, scenario)
