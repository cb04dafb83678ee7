"""The fleet's rate limit and connection cap (relay/store/limits.py, relay/chartmogul/ratelimit.py),
against the real Redis their Lua runs in.

Send times are read back exactly as the script reserved them (the last entry of the fleet's
list of sends), so the spacing rows compare numbers, not how fast this machine is. Intervals are
long enough (≥ 25 ms) that each reservation comes before the previous send time: from then on
the schedule, not the clock, decides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from relay.chartmogul.ratelimit import RateLimiter
from relay.store import Store, keys
from relay.store.limits import WINDOW_MS

T = TypeVar("T")
WithStore = Callable[[Callable[[Store], Awaitable[T]]], T]


async def reserve_offsets(store: Store, n: int, *, interval_ms: float, per_window: int) -> list[float]:
    """Reserve `n` sends back to back; each one's send time, from the first one's (ms)."""
    times: list[float] = []
    for _ in range(n):
        await store.limits.reserve_send(interval_ms=interval_ms, per_window=per_window)
        times.append(float(await store.redis.lindex(keys.RATE_SENDS, -1)))  # type: ignore[misc,arg-type]
    return [round(t - times[0], 1) for t in times]


def window(n: int) -> float:
    return float(n * WINDOW_MS)


@pytest.mark.parametrize(
    ("interval_ms", "per_window", "offsets"),
    [
        pytest.param(100.0, 40, [0, 100, 200, 300, 400], id="GCRA: one interval apart"),
        pytest.param(25.0, 40, [25.0 * i for i in range(8)], id="40/s: 25 ms apart"),
        pytest.param(
            25.0,
            40,
            [*(25.0 * i for i in range(40)), window(1), window(1) + 25],
            id="40/s: the 41st waits for the window (1 s + margin) after the 1st, not 1000 ms",
        ),
        pytest.param(
            100.0,
            3,
            [0, 100, 200, window(1), window(1) + 100, window(1) + 200, window(2)],
            id="3 per window: the 4th waits for the window after the 1st, the 7th after the 4th",
        ),
        pytest.param(100.0, 1, [0, window(1), window(2)], id="1 per window: the window beats the interval"),
        pytest.param(2000.0, 5, [0, 2000, 4000], id="the interval beats the window"),
    ],
)
def test_send_times(
    with_store: WithStore[list[float]], interval_ms: float, per_window: int, offsets: list[float]
) -> None:
    found = with_store(
        lambda store: reserve_offsets(store, len(offsets), interval_ms=interval_ms, per_window=per_window)
    )

    assert found == pytest.approx(offsets, abs=0.2)


@pytest.mark.parametrize(
    ("factor", "interval_ms", "per_window", "offsets"),
    [
        pytest.param(2.0, 100.0, 40, [0, 200, 400], id="x2: twice the interval"),
        pytest.param(1.5, 100.0, 40, [0, 150, 300], id="x1.5"),
        pytest.param(
            2.0, 50.0, 4, [0, 100, window(1), window(1) + 100, window(2)], id="x2: half as many per window"
        ),
        pytest.param(2.0, 100.0, 3, [0, window(1), window(2)], id="x2 of 3 per window: 1 (rounded down)"),
        pytest.param(10.0, 100.0, 3, [0, window(1)], id="never fewer than 1 per window"),
    ],
)
def test_send_times_after_a_slow_down(
    with_store: WithStore[list[float]],
    factor: float,
    interval_ms: float,
    per_window: int,
    offsets: list[float],
) -> None:
    async def work(store: Store) -> list[float]:
        await store.limits.slow_down(factor, for_s=5)
        return await reserve_offsets(store, len(offsets), interval_ms=interval_ms, per_window=per_window)

    assert with_store(work) == pytest.approx(offsets, abs=0.2)


def test_the_wait_returned_is_the_time_until_the_reserved_send(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> tuple[list[float], float]:
        started = time.monotonic()
        waits = [await store.limits.reserve_send(interval_ms=200, per_window=40) for _ in range(4)]
        return waits, (time.monotonic() - started) * 1000

    waits, elapsed_ms = with_store(work)

    # the k-th send is k intervals after the first; the wait is that, less the time gone since
    for k, wait in enumerate(waits):
        assert 200 * k - elapsed_ms - 1 <= wait <= 200 * k + 0.2, (k, waits)


def test_a_slow_down_lasts_its_time_and_shows_in_usage(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> dict[str, Any]:
        limiter = RateLimiter(store.limits, per_s=40, max_connections=20, slot_ttl_s=30)
        await limiter.slow_down(factor=1.5, for_s=5)
        return await store.limits.usage(now_ms=int(time.time() * 1000))

    usage = with_store(work)

    assert usage["slowdown_factor"] == 1.5
    assert 4 < usage["slowdown_for_s"] <= 5


@pytest.mark.parametrize(
    ("per_s", "interval_ms", "per_window"),
    [
        pytest.param(40, 25.0, 40, id="ChartMogul's 40/s"),
        pytest.param(2.5, 400.0, 2, id="fractional rate: window count rounded down"),
        pytest.param(0.5, 2000.0, 1, id="below 1/s: still 1 per window"),
    ],
)
def test_the_limiter_turns_a_rate_into_an_interval_and_a_window_count(
    with_store: WithStore[Any], per_s: float, interval_ms: float, per_window: int
) -> None:
    async def work(store: Store) -> RateLimiter:
        return RateLimiter(store.limits, per_s=per_s, max_connections=20, slot_ttl_s=30)

    limiter = with_store(work)

    assert (limiter.interval_ms, limiter.per_window) == (interval_ms, per_window)


def test_acquire_sleeps_until_its_send_time(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> tuple[float, float]:
        limiter = RateLimiter(store.limits, per_s=20, max_connections=20, slot_ttl_s=30)
        started = time.monotonic()
        for _ in range(3):
            await limiter.acquire()
        return limiter.waited_s, time.monotonic() - started

    waited_s, took_s = with_store(work)

    # three sends 50 ms apart: the third goes out 100 ms after the first
    assert 0.05 < waited_s <= 0.1001
    assert took_s >= 0.095


# --- connections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cap", "holders", "taken"),
    [
        pytest.param(2, ["a", "b", "c"], [True, True, False], id="the cap's worth, then full"),
        pytest.param(1, ["a", "b"], [True, False], id="cap 1"),
        pytest.param(3, ["a", "b"], [True, True], id="under the cap"),
    ],
)
def test_connection_slots_up_to_the_cap(
    with_store: WithStore[list[bool]], cap: int, holders: list[str], taken: list[bool]
) -> None:
    async def work(store: Store) -> list[bool]:
        return [await store.limits.take_slot(h, cap=cap, slot_ttl_ms=30_000) for h in holders]

    assert with_store(work) == taken


def test_a_freed_slot_is_taken_again(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> list[bool]:
        limits = store.limits
        results = [await limits.take_slot("a", cap=1, slot_ttl_ms=30_000)]
        results.append(await limits.take_slot("b", cap=1, slot_ttl_ms=30_000))
        await limits.free_slot("a")
        results.append(await limits.take_slot("b", cap=1, slot_ttl_ms=30_000))
        return results

    assert with_store(work) == [True, False, True]


def test_a_dead_workers_slot_expires(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> tuple[bool, float]:
        assert await store.limits.take_slot("died", cap=1, slot_ttl_ms=300)
        started = time.monotonic()
        refused = not await store.limits.take_slot("next", cap=1, slot_ttl_ms=300)
        while not await store.limits.take_slot("next", cap=1, slot_ttl_ms=300):
            assert time.monotonic() - started < 5, "the slot never expired"
            await asyncio.sleep(0.01)
        return refused, time.monotonic() - started

    refused, after_s = with_store(work)

    assert refused
    assert 0.2 <= after_s < 5


@pytest.mark.parametrize(
    ("default_cap", "lowered"),
    [
        pytest.param(20, [10, 5, 2, 1, 1], id="halved from the current cap, never below 1"),
        pytest.param(3, [1, 1], id="3 → 1"),
        pytest.param(1, [1], id="already 1"),
    ],
)
def test_each_503_halves_the_connection_cap(
    with_store: WithStore[list[int]], default_cap: int, lowered: list[int]
) -> None:
    async def work(store: Store) -> list[int]:
        return [await store.limits.lower_connection_cap(default_cap=default_cap, for_s=30) for _ in lowered]

    assert with_store(work) == lowered


def test_a_lowered_cap_bounds_every_worker_and_shows_in_usage(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> tuple[list[bool], dict[str, Any]]:
        limiter = RateLimiter(store.limits, per_s=40, max_connections=4, slot_ttl_s=30)
        await limiter.fewer_connections(for_s=30)  # 4 → 2
        taken = [await store.limits.take_slot(h, cap=4, slot_ttl_ms=30_000) for h in "abc"]
        return taken, await store.limits.usage(now_ms=int(time.time() * 1000))

    taken, usage = with_store(work)

    assert taken == [True, True, False]
    assert usage["connections_cap_lowered_to"] == 2
    assert 29 < usage["connections_cap_lowered_for_s"] <= 30
    assert usage["requests_in_flight"] == 2


def test_a_slot_is_held_while_the_request_is_in_flight(with_store: WithStore[Any]) -> None:
    async def work(store: Store) -> tuple[list[str], list[int]]:
        limiter = RateLimiter(store.limits, per_s=1000, max_connections=1, slot_ttl_s=30)
        happened: list[str] = []
        in_flight: list[int] = []
        first_in = asyncio.Event()
        first_may_end = asyncio.Event()

        async def count() -> int:
            usage = await store.limits.usage(now_ms=int(time.time() * 1000))
            return int(usage["requests_in_flight"])

        async def first() -> None:
            async with limiter.slot():
                happened.append("first in")
                first_in.set()
                await first_may_end.wait()
                happened.append("first out")

        async def second() -> None:
            async with limiter.slot():
                happened.append("second in")
                in_flight.append(await count())

        task = asyncio.create_task(first())
        await first_in.wait()
        in_flight.append(await count())
        waiting = asyncio.create_task(second())
        # the second has its send time (it reserved one) and now waits for the only slot
        while await store.redis.llen(keys.RATE_SENDS) < 2:  # type: ignore[misc]
            await asyncio.sleep(0.005)
        first_may_end.set()
        await asyncio.gather(task, waiting)
        in_flight.append(await count())
        return happened, in_flight

    happened, in_flight = with_store(work)

    assert happened == ["first in", "first out", "second in"]
    assert in_flight == [1, 1, 0]
