"""Delivery benchmark: how close 2 worker processes get to ChartMogul's 40 requests/s.

The simulator answers every call after 150 ms (ChartMogul's real latency) and enforces 40
requests/s and 20 connections. Measured in the same run:
    relay      2 `relay worker` processes (concurrent deliveries, shared rate limiter, coalescing)
    tag-only   the same, each change only adding a tag: API calls per change (goal: 1, the tag
               POST; the read-merge-write PATCH cost 2, a GET and a PATCH)
    baseline   2 plain `rq worker` processes, one RQ job per event doing one blocking PATCH

    python -m tests.bench.delivery [--smoke]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis as redis_sync
from rq import Queue

from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.queue import enqueue_wakeup, relay_queue, rq_connection
from relay.simulator.testing import SimulatorHandle, running_simulator
from relay.store import Store
from tests.servers import WorkerProcess, own_redis, wait_for

API_KEY = "sim_bench_key"
LATENCY_MS = 150
LIMIT_PER_S = 40
TAG_ONLY = "relay: tag-only change"


@dataclass
class DeliveryResult:
    name: str
    changes: int
    api_calls: int
    seconds: float
    throttled_429: int
    cpu_s: float

    @property
    def requests_per_s(self) -> float:
        return self.api_calls / self.seconds if self.seconds else 0.0

    @property
    def calls_per_change(self) -> float:
        return self.api_calls / self.changes

    @property
    def cpu_s_per_1000(self) -> float:
        return self.cpu_s / self.changes * 1000

    def row(self) -> list[str]:
        return [
            self.name,
            str(self.changes),
            f"{self.requests_per_s:.1f}",
            f"{self.requests_per_s / LIMIT_PER_S:.2f}",
            str(self.throttled_429),
            f"{self.calls_per_change:.2f}",
            f"{self.cpu_s_per_1000:.2f}",
        ]


HEADER = ["run", "changes", "requests/s", "x 40/s limit", "429s", "API calls/change", "worker CPU s/1000"]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _api_window(sim: SimulatorHandle) -> tuple[int, float, int]:
    """(API calls, seconds from first to last call, 429 count) from the simulator's log."""
    calls = [r for r in sim.requests() if r["path"].startswith("/v1/")]
    if not calls:
        return 0, 0.0, 0
    times = [datetime.fromisoformat(r["at"].replace("Z", "+00:00")) for r in calls]
    span = (max(times) - min(times)).total_seconds() + LATENCY_MS / 1000
    return len(calls), span, sum(1 for r in calls if r["status"] == 429)


def _customers(sim: SimulatorHandle, n: int) -> list[str]:
    return [
        sim.add_customer({"company": f"Bench {i}", "attributes": {"tags": ["a"], "custom": {}}})["uuid"]
        for i in range(n)
    ]


def bench_relay(
    name: str,
    n_customers: int,
    events_per_customer: int,
    *,
    tags: bool,
    log_dir: Path,
    city: bool = True,
) -> DeliveryResult:
    with own_redis() as (redis_url, _restart), running_simulator(api_key=API_KEY) as sim:
        customers = _customers(sim, n_customers)
        sim.set_faults(latency_ms=LATENCY_MS)
        start = datetime.now(UTC) - timedelta(minutes=5)
        events = []
        for i in range(events_per_customer):
            for j, uuid in enumerate(customers):
                change = CustomerChange(
                    event_id=f"evt_bench_{i}_{j}",
                    source="generic",
                    occurred_at_ms=int(
                        (start + timedelta(milliseconds=i * n_customers + j)).timestamp() * 1000
                    ),
                    customer=CustomerRef(uuid=uuid),
                    fields={"city": f"City {i}"} if city else {},
                    tags_add=[f"t{i}"] if tags else [],
                )
                events.append(ParsedEvent(change=change, raw="{}"))

        async def accept_all() -> None:
            store = Store.from_url(redis_url)
            ledger = store.ledger
            for k in range(0, len(events), 500):
                await ledger.accept_many(events[k : k + 500])
            await store.aclose()

        import asyncio

        asyncio.run(accept_all())
        rq_redis = rq_connection(redis_url)
        env = {
            "RELAY_REDIS_URL": redis_url,
            "CHARTMOGUL_API_BASE": sim.base_url,
            "CHARTMOGUL_API_KEY": API_KEY,
            "RELAY_LOG_LEVEL": "WARNING",
        }
        cpu_before = _children_cpu_s()
        slug = "".join(c if c.isalnum() else "-" for c in name)
        workers = [WorkerProcess(env, log_dir / f"{slug}-worker-{i}.log") for i in range(2)]
        enqueue_wakeup(relay_queue(rq_redis, "relay"))
        client = redis_sync.Redis.from_url(redis_url)
        wait_for(
            lambda: (
                client.zcard("relay:ready") + client.zcard("relay:leases") + client.zcard("relay:retry") == 0
                and _all_pending_empty(client, customers)
            ),
            timeout_s=600,
            interval_s=0.2,
        )
        for worker in workers:
            worker.stop()
        cpu_s = _children_cpu_s() - cpu_before
        calls, seconds, throttled = _api_window(sim)
        client.close()
        rq_redis.close()
    return DeliveryResult(name, len(events), calls, seconds, throttled, cpu_s)


def _all_pending_empty(client: redis_sync.Redis, customers: list[str]) -> bool:
    with client.pipeline(transaction=False) as pipe:
        for uuid in customers:
            pipe.zcard(f"relay:pending:{uuid}")
        return not any(pipe.execute())


def bench_plain_rq(name: str, n_events: int, *, log_dir: Path) -> DeliveryResult:
    with own_redis() as (redis_url, _restart), running_simulator(api_key=API_KEY) as sim:
        customers = _customers(sim, n_events)
        sim.set_faults(latency_ms=LATENCY_MS)
        connection = redis_sync.Redis.from_url(redis_url)
        queue = Queue("baseline", connection=connection)
        for i, uuid in enumerate(customers):
            queue.enqueue(
                "tests.bench.baseline.patch_customer", sim.base_url, API_KEY, uuid, {"city": f"City {i}"}
            )
        cpu_before = _children_cpu_s()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, "baseline"],
                stdout=(log_dir / f"baseline-rq-{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            for i in range(2)
        ]
        for proc in procs:
            proc.wait(timeout=600)
        cpu_s = _children_cpu_s() - cpu_before
        calls, seconds, throttled = _api_window(sim)
        connection.close()
    return DeliveryResult(name, n_events, calls, seconds, throttled, cpu_s)


def run(smoke: bool, log_dir: Path) -> list[DeliveryResult]:
    log_dir.mkdir(parents=True, exist_ok=True)
    if smoke:
        return [
            bench_relay("relay: distinct customers", 60, 1, tags=False, log_dir=log_dir),
            bench_relay(TAG_ONLY, 20, 1, tags=True, city=False, log_dir=log_dir),
            bench_plain_rq("baseline: 1 RQ job per event", 12, log_dir=log_dir),
        ]
    return [
        bench_relay("relay: distinct customers", 600, 1, tags=False, log_dir=log_dir),
        bench_relay("relay: 10 changes/customer, tags", 40, 10, tags=True, log_dir=log_dir),
        bench_relay(TAG_ONLY, 200, 1, tags=True, city=False, log_dir=log_dir),
        bench_plain_rq("baseline: 1 RQ job per event", 120, log_dir=log_dir),
    ]


def markdown(results: list[DeliveryResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.row()) + " |" for r in results]
    relay, baseline = results[0], results[-1]
    ratio = relay.requests_per_s / baseline.requests_per_s if baseline.requests_per_s else float("nan")
    lines.append("")
    lines.append(f"relay / baseline requests/s: **{ratio:.1f}x** (simulator latency {LATENCY_MS} ms)")
    for result in results:
        if result.name == TAG_ONLY:
            lines.append(f"tag-only change: **{result.calls_per_change:.2f}** API calls/change (goal: 1)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a few seconds, to keep the benchmark from rotting"
    )
    args = parser.parse_args()
    started = time.monotonic()
    results = run(args.smoke, Path("bench-results/logs"))
    print(markdown(results))
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()


def as_dict(results: list[DeliveryResult]) -> list[dict[str, Any]]:
    return [dict(zip(HEADER, r.row(), strict=True)) for r in results]
