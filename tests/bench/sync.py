"""Sync benchmark: `relay sync` on a HubSpot company export against the simulator at 150 ms
latency and 40 requests/s (ChartMogul's documented limit).

    python -m tests.bench.sync [--smoke]

With an account of ACCOUNT customers (all linked, one in DIFFER of them drifted):
    dry run   wall time and ChartMogul calls (list pages of 200; nothing else is sent)
    memory    peak RSS of the `relay sync --dry-run` process for exports of 1k, 10k and 100k
              records (records past the account's size are unmatched: still read and mapped)
    real run  `--yes`: list calls (one per 200 customers), events enqueued, the calls delivery
              will spend on them (the dry run's estimate), and a second run enqueueing nothing
    delivery  `relay worker --burst` delivering what the real run enqueued: its calls.
Each size runs in its own process, so peak RSS is that run's own (VmHWM, polled until it exits).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis

from relay.simulator.testing import SimulatorHandle, running_simulator
from relay.store import keys
from tests.servers import own_redis

LATENCY_MS = 150
RATE_PER_S = 40.0
API_KEY = "sim_bench_key"
DIFFER = 20  # one customer in DIFFER has a city the export changes
HEADER = ["Record ID", "Company name", "Company Domain Name", "City", "Country/Region", "Industry"]


def uuid(i: int) -> str:
    return f"cus_{i:08d}-0000-4000-8000-000000000000"


def seed(customers: int) -> dict[str, Any]:
    return {
        "customers": [
            {
                "id": 20_000_000 + i,
                "uuid": uuid(i),
                "name": f"Company {i}",
                "company": f"Company {i}",
                "city": "Berlin",
                "country": "DE",
                "website_url": f"https://company{i}.example",
                "attributes": {"tags": ["industry:SaaS"]},
            }
            for i in range(customers)
        ]
    }


def write_export(path: Path, records: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(records):
            city = "Hamburg" if i % DIFFER == 0 else "Berlin"
            writer.writerow([str(i), f"Company {i}", f"company{i}.example", city, "DE", "SaaS"])


def link_all(redis_url: str, customers: int) -> None:
    client = redis.Redis.from_url(redis_url)
    for start in range(0, customers, 5000):
        client.hset(
            keys.LINKS,
            mapping={f"hubspot:company:{i}": uuid(i) for i in range(start, min(customers, start + 5000))},
        )
    client.close()


@dataclass
class Run:
    label: str
    records: int
    seconds: float
    peak_rss_mb: float
    list_calls: int
    other_calls: int
    doc: dict[str, Any]


def run_cli(env: dict[str, str], sim: SimulatorHandle, label: str, records: int, *args: str) -> Run:
    before = len(sim.requests())
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "sync", "--source", "hubspot", *args, "--json"],
            env={**os.environ, **env},
            stdout=out,
            stderr=err,
        )
        peak_kb = peak_rss_kb(proc)
        proc.wait()
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"relay sync {label} failed: {err.read().decode()[-2000:]}")
        text = out.read().decode().strip().splitlines()[-1]
    doc = orjson.loads(text)
    new = sim.requests()[before:]
    lists = sum(1 for r in new if r["method"] == "GET" and r["path"] == "/v1/customers")
    return Run(label, records, seconds, peak_kb / 1024, lists, len(new) - lists, doc)


def peak_rss_kb(proc: subprocess.Popen[bytes]) -> int:
    """The process's own peak RSS (VmHWM, read until it exits). Not rusage's ru_maxrss: the
    child shares this process's pages between fork and exec, so a large bench process (after
    the ingest and backlog sections) showed as the child's peak (104 MB against 87 alone)."""
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):  # gone between poll() and the read
            break
        time.sleep(0.02)
    return peak


def deliver(env: dict[str, str], sim: SimulatorHandle, records: int) -> Run:
    """`relay worker --burst` delivers what the real run enqueued: the calls the differences need."""
    before = len(sim.requests())
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "relay", "worker", "--burst"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=900,
    )
    new = sim.requests()[before:]
    writes = sum(1 for r in new if r["method"] != "GET")
    throttled = sum(1 for r in new if r.get("status") == 429)
    doc = {"to_change": "-", "api_calls": "-", "enqueued": "-"}
    run = Run("delivery (worker --burst)", records, time.monotonic() - started, 0.0, 0, len(new), doc)
    run.other_calls = writes
    run.doc["reads"] = len(new) - writes
    run.doc["throttled"] = throttled
    return run


def run(smoke: bool) -> list[Run]:
    account = 1_000 if smoke else 10_000
    sizes = [200, 1_000, 3_000] if smoke else [1_000, 10_000, 100_000]
    results: list[Run] = []
    with (
        own_redis() as (redis_url, _),
        running_simulator(api_key=API_KEY, seed=seed(account), rate_limit_per_s=RATE_PER_S) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        sim.set_faults(latency_ms=LATENCY_MS)
        link_all(redis_url, account)
        env = {
            "RELAY_REDIS_URL": redis_url,
            "CHARTMOGUL_API_BASE": sim.base_url,
            "CHARTMOGUL_API_KEY": API_KEY,
            "RELAY_RATE_LIMIT_PER_S": str(RATE_PER_S),
            "RELAY_LOG_LEVEL": "WARNING",
        }
        for size in sizes:
            export = Path(tmp) / f"companies-{size}.csv"
            write_export(export, size)
            results.append(run_cli(env, sim, f"dry run, {size:,} records", size, str(export), "--dry-run"))
        export = Path(tmp) / f"companies-{account}.csv"
        write_export(export, account)
        results.append(run_cli(env, sim, f"real run, {account:,} records", account, str(export), "--yes"))
        results.append(run_cli(env, sim, "same file again", account, str(export), "--yes"))
        results.append(deliver(env, sim, account))
    return results


HEADER_ROW = [
    "run",
    "records",
    "wall s",
    "peak RSS MB",
    "list calls",
    "other calls",
    "to change",
    "planned calls",
    "enqueued",
]


def markdown(results: list[Run]) -> str:
    lines = ["| " + " | ".join(HEADER_ROW) + " |", "|" + "---|" * len(HEADER_ROW)]
    for r in results:
        totals = r.doc.get("totals", r.doc)
        enqueued = r.doc.get("enqueued", "-")
        lines.append(
            f"| {r.label} | {r.records:,} | {r.seconds:.1f} | {r.peak_rss_mb:.0f} | {r.list_calls} | "
            f"{r.other_calls} | {totals['to_change']} | {totals['api_calls']} | {enqueued} |"
        )
    lines.append("")
    for r in results:
        if "reads" in r.doc:
            lines.append(
                f"Delivery: {r.other_calls} writes ({r.doc['throttled']} calls answered 429 and were "
                f"retried) and {r.doc['reads']} reads for the enqueued changes."
            )
    lines.append(
        f"Simulator latency {LATENCY_MS} ms per call, {RATE_PER_S:g} requests/s; 'planned calls' is the "
        "dry run's estimate for the real run (list pages + one call per kind of change per customer); "
        "'other calls' are calls the sync command itself made besides list pages (0: the differences "
        "are delivered by the workers, in the last row)."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a small account and small files, so it cannot rot"
    )
    args = parser.parse_args()
    started = time.monotonic()
    print(markdown(run(args.smoke)))
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
