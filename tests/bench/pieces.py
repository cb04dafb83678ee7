"""In-process CPU per piece of the ingest path, without HTTP: what the webhook path's parts cost.

    python -m tests.bench.pieces

CPU time (process_time) per event of: parsing and mapping a HubSpot batch, accepting events
into Redis alone and in groups (as group commit sends them), and one INFO log line. Redis is a
private redis-server. Pin it (`taskset -c 0 python -m tests.bench.pieces`) to compare a change
before and after in the same moment: on a shared machine only such pairs mean anything.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable

from pydantic import SecretStr

from relay.events import IncomingWebhook, ParsedEvent
from relay.logs import configure_logging, get_logger
from relay.mapping.config import load_mapping
from relay.sources.hubspot import HubSpotSource
from relay.store import Store
from tests.admin.helpers import generic_payload, parsed
from tests.bench import ingest, loadgen
from tests.servers import own_redis


def cpu_us_per(n: int, work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) / n * 1e6


async def async_cpu_us_per(n: int, work: Callable[[], Awaitable[object]]) -> float:
    started = time.process_time()
    await work()
    return (time.process_time() - started) / n * 1e6


async def measure(redis_url: str) -> dict[str, float]:
    store = Store.from_url(redis_url)
    source = HubSpotSource(load_mapping("hubspot", None), SecretStr(ingest.HUBSPOT_SECRET))
    batches = 200
    requests = loadgen.hubspot_requests("h:1", ingest.HUBSPOT_SECRET, "7", batches, ingest.HUBSPOT_BATCH)
    hooks = [IncomingWebhook("POST", "", {}, r.split(b"\r\n\r\n", 1)[1]) for r in requests]
    events = batches * ingest.HUBSPOT_BATCH
    results = {"hubspot parse+map per event": cpu_us_per(events, lambda: [source.parse(h) for h in hooks])}
    parsed_batches = [source.parse(h) for h in hooks]

    async def accept_batches() -> None:
        for at in range(0, batches, 4):
            await asyncio.gather(*(store.ledger.accept_many(b) for b in parsed_batches[at : at + 4]))

    results["hubspot accept per event (4 batches a trip)"] = await async_cpu_us_per(events, accept_batches)
    generic: list[ParsedEvent] = [
        parsed(generic_payload(f"evt_p{i}", f"cus_00000000-0000-4000-8000-{i:012d}", set={"city": "X"}))
        for i in range(20_000)
    ]

    async def one_by_one() -> None:
        for event in generic[:2000]:
            await store.ledger.accept_many([event])

    async def grouped() -> None:
        for at in range(2000, 20_000, 16):
            await asyncio.gather(*(store.ledger.accept_many([e]) for e in generic[at : at + 16]))

    results["generic accept, one per trip"] = await async_cpu_us_per(2000, one_by_one)
    results["generic accept, 16 per trip"] = await async_cpu_us_per(18_000, grouped)
    await store.aclose()
    return results


def log_line_us() -> float:
    stderr = sys.stderr
    with open(os.devnull, "w") as devnull:
        sys.stderr = devnull
        try:
            configure_logging(fmt="json", redact=lambda line: line)
            log = get_logger("relay.bench")
            return cpu_us_per(
                20_000,
                lambda: [log.info("event_accepted", event_id="e", source="generic") for _ in range(20_000)],
            )
        finally:
            sys.stderr = stderr


def main() -> None:
    import uvloop

    with own_redis() as (redis_url, _restart):
        results = uvloop.run(measure(redis_url))
    results["one INFO log line (JSON)"] = log_line_us()
    for name, us in results.items():
        print(f"{us:8.1f} µs  {name}")


if __name__ == "__main__":
    main()
