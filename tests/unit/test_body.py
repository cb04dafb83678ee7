"""Body deadlines (relay/body.py): one sweep for every body being read, not a timer each."""

from __future__ import annotations

import asyncio
import time

import pytest

from relay.body import SWEEP_S, deadlines, read_body
from relay.exceptions import BodyTimeout


async def never_sends() -> dict[str, object]:
    await asyncio.Event().wait()  # a client that sent its headers and nothing more
    raise AssertionError("unreachable")


def test_a_body_that_does_not_arrive_in_time_is_a_408_soon_after_its_deadline() -> None:
    async def main() -> tuple[BaseException | None, float, int]:
        started = time.monotonic()
        try:
            await read_body(never_sends, None, limit=1000, timeout_s=0.3)
        except BodyTimeout as exc:
            return exc, time.monotonic() - started, len(deadlines().reading)
        return None, time.monotonic() - started, len(deadlines().reading)

    error, took_s, still_reading = asyncio.run(main())

    assert isinstance(error, BodyTimeout) and "0.3 s" in str(error)
    assert 0.3 <= took_s < 0.3 + SWEEP_S + 0.2
    assert still_reading == 0


def test_a_cancellation_that_is_not_the_deadline_stays_a_cancellation() -> None:
    async def main() -> bool:
        task = asyncio.create_task(read_body(never_sends, None, limit=1000, timeout_s=30))
        await asyncio.sleep(0.05)
        task.cancel()  # e.g. the server shutting down
        with pytest.raises(asyncio.CancelledError):
            await task
        return not deadlines().reading

    assert asyncio.run(main())


def test_many_bodies_share_one_sweep_and_each_is_answered_on_its_own() -> None:
    async def arrives_after(delay_s: float) -> dict[str, object]:
        await asyncio.sleep(delay_s)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def main() -> list[object]:
        slow = [read_body(never_sends, None, limit=1000, timeout_s=0.2) for _ in range(50)]
        fast = [read_body(lambda: arrives_after(0.05), "2", limit=1000, timeout_s=0.2) for _ in range(50)]
        return await asyncio.gather(*slow, *fast, return_exceptions=True)

    answers = asyncio.run(main())

    assert all(isinstance(a, BodyTimeout) for a in answers[:50])
    assert answers[50:] == [b"{}"] * 50
