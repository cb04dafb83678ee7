"""A closed-loop HTTP/1.1 load generator: N keep-alive connections, each with one request in flight.

It runs in a process of its own (pinned to its own core when taskset exists), so it shares no
GIL and no core with the server it measures. Every request is built and signed BEFORE the timed
window: a pool of raw HTTP requests, sent round-robin (or each exactly once when `unique`,
because the relay dedupes on event ids and a repeated id would measure the duplicate path).

It speaks raw HTTP over asyncio protocols on uvloop rather than through aiohttp's client: on one
core aiohttp's client tops out below a bare Starlette app (on the 2-core bench machine: 7,300
requests/s with aiohttp, 14,600 with this, against the same ceiling server), and then the
ceiling would measure the load generator. Responses must carry content-length (uvicorn's do).

    python -m tests.bench.loadgen '<spec json>'   → one JSON line: the result
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from standardwebhooks.webhooks import Webhook

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


# --- requests ---------------------------------------------------------------------------------


def raw_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def generic_event(run_id: str, i: int, occurred_at: str) -> bytes:
    """One generic event; a distinct id and a distinct customer each (every customer turns ready)."""
    return orjson.dumps(
        {
            "id": f"evt_{run_id}_{i}",
            "occurred_at": occurred_at,
            "customer": {"uuid": f"cus_{run_id}-{i}"},
            "set": {"city": "Berlin", "country": "DE", "primary_contact": {"title": "CFO"}},
            "tags": {"add": ["vip"], "remove": ["trial"]},
        }
    )


def generic_requests(host: str, secret: str, run_id: str, n: int) -> list[bytes]:
    webhook = Webhook(secret)
    now = datetime.now(UTC)
    occurred_at = now.isoformat().replace("+00:00", "Z")
    stamp = str(int(now.timestamp()))
    requests = []
    for i in range(n):
        body = generic_event(run_id, i, occurred_at)
        msg_id = f"msg_{run_id}_{i}"
        signature = webhook.sign(msg_id=msg_id, timestamp=now, data=body.decode())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": signature,
        }
        requests.append(raw_request(host, "/webhooks/generic", body, headers))
    return requests


# A HubSpot batch: 25 companies, 4 property changes each, as HubSpot groups them.
HUBSPOT_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("city", "Boston"),
    ("country", "United States"),
    ("name", "Acme Corporation"),
    ("hs_lead_status", "IN_PROGRESS"),
)


def hubspot_batch(run_id: int, batch: int, size: int, occurred_ms: int) -> bytes:
    events = []
    for k in range(size):
        prop, value = HUBSPOT_PROPERTIES[k % len(HUBSPOT_PROPERTIES)]
        events.append(
            {
                "eventId": f"{run_id}{batch:07d}{k:03d}",
                "subscriptionId": 2793105,
                "portalId": 62515,
                "appId": 1160452,
                "occurredAt": occurred_ms + k,
                "subscriptionType": "company.propertyChange",
                "attemptNumber": 0,
                "objectId": f"{run_id}{batch:07d}{k // len(HUBSPOT_PROPERTIES):03d}",
                "changeSource": "CRM_UI",
                "propertyName": prop,
                "propertyValue": value,
            }
        )
    return orjson.dumps(events)


def hubspot_requests(host: str, secret: str, run_id: int, n: int, size: int) -> list[bytes]:
    """Batches signed with HubSpot's v3 signature over the URL the relay sees (http://host/…)."""
    key = secret.encode()
    url = f"http://{host}/webhooks/hubspot".encode()
    stamp = str(int(time.time() * 1000))
    requests = []
    for batch in range(n):
        body = hubspot_batch(run_id, batch, size, int(stamp) - 60_000)
        digest = hmac.new(key, b"POST" + url + body + stamp.encode(), hashlib.sha256).digest()
        headers = {
            "content-type": "application/json",
            "x-hubspot-signature-v3": base64.b64encode(digest).decode(),
            "x-hubspot-request-timestamp": stamp,
        }
        requests.append(raw_request(host, "/webhooks/hubspot", body, headers))
    return requests


# --- the closed loop --------------------------------------------------------------------------


@dataclass
class Run:
    requests: list[bytes]
    unique: bool
    start_ns: int
    end_ns: int
    next_index: int = 0
    exhausted: bool = False
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))
    statuses: Counter[int] = field(default_factory=Counter)
    open_connections: int = 0
    errors: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    on_exhausted: Callable[[], None] | None = None

    def next_request(self) -> bytes | None:
        now = time.perf_counter_ns()
        if now >= self.end_ns:
            return None
        if self.next_index >= len(self.requests):
            if self.unique:
                if not self.exhausted:
                    self.exhausted = True
                    self.end_ns = max(self.start_ns, now)
                    if self.on_exhausted is not None:
                        self.on_exhausted()
                return None
            self.next_index = 0
        request = self.requests[self.next_index]
        self.next_index += 1
        return request

    def record(self, status: int, sent_ns: int) -> None:
        now = time.perf_counter_ns()
        if self.start_ns <= now <= self.end_ns:
            self.latencies_ns.append(now - sent_ns)
            self.statuses[status] += 1

    def closed(self, error: BaseException | None) -> None:
        self.open_connections -= 1
        if error is not None and time.perf_counter_ns() < self.end_ns:
            self.errors.append(repr(error))
        if self.open_connections == 0:
            self.done.set()


class Connection(asyncio.Protocol):
    def __init__(self, run: Run) -> None:
        self.run = run
        self.buffer = bytearray()
        self.sent_ns = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.run.open_connections += 1
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        request = self.run.next_request()
        if request is None:
            self.transport.close()
            return
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                raise RuntimeError(f"response without content-length: {head[:200]!r}")
            eol = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : eol if eol > 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                return
            status = int(head[9:12])
            del buffer[:total]
            self.run.record(status, self.sent_ns)
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.closed(exc)


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def machine_busy_ticks() -> int:
    """Busy clock ticks of all cores together (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat", "rb") as f:
        fields = f.readline().split()
    return sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))


def percentile_ms(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))] / 1e6


async def load(spec: dict[str, Any], requests: list[bytes]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    warmup_ns = int(spec["warmup_s"] * 1e9)
    duration_ns = int(spec["duration_s"] * 1e9)
    t0 = time.perf_counter_ns()
    run = Run(requests, spec["unique"], t0 + warmup_ns, t0 + warmup_ns + duration_ns)
    pids: dict[str, int] = {name: int(pid) for name, pid in spec.get("pids", {}).items()}
    pids["loadgen"] = os.getpid()
    ticks: dict[str, list[int]] = {name: [] for name in [*pids, "machine"]}

    def sample() -> None:
        for name, pid in pids.items():
            try:
                ticks[name].append(cpu_ticks(pid))
            except OSError:
                ticks[name].append(0)
        ticks["machine"].append(machine_busy_ticks())

    # CPU is sampled at the window's edges (not when the last answers arrive, which with
    # second-long requests can be much later).
    loop.call_later(spec["warmup_s"], sample)
    at_end = loop.call_later(spec["warmup_s"] + spec["duration_s"], sample)

    def exhausted() -> None:
        if not at_end.cancelled() and len(ticks["machine"]) == 1:
            at_end.cancel()
            sample()

    run.on_exhausted = exhausted
    for _ in range(spec["connections"]):
        await loop.create_connection(lambda: Connection(run), spec["host"], spec["port"])
    try:
        await asyncio.wait_for(run.done.wait(), timeout=spec["warmup_s"] + spec["duration_s"] + 30)
    except TimeoutError:
        run.errors.append("connections still open 30 s after the window")
    seconds = (run.end_ns - run.start_ns) / 1e9
    latencies = sorted(run.latencies_ns)
    cpu = {
        name: (t[-1] - t[0]) / CLOCK_TICKS_PER_S / seconds * 100 if len(t) == 2 and seconds > 0 else None
        for name, t in ticks.items()
    }
    # What else ran on the machine meanwhile (other processes), in % of one core.
    machine = cpu.pop("machine")
    if machine is not None:
        cpu["others"] = max(0.0, machine - sum(v for v in cpu.values() if v is not None))
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "statuses": {str(k): v for k, v in run.statuses.items()},
        "p50_ms": percentile_ms(latencies, 0.50),
        "p90_ms": percentile_ms(latencies, 0.90),
        "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": latencies[-1] / 1e6 if latencies else float("nan"),
        "cpu_percent": cpu,
        "pool_exhausted": run.exhausted,
        "errors": run.errors[:5],
    }


def build_requests(spec: dict[str, Any]) -> list[bytes]:
    host = f"{spec['host']}:{spec['port']}"
    if spec["kind"] == "generic":
        return generic_requests(host, spec["secret"], spec["run_id"], spec["pool"])
    if spec["kind"] == "hubspot":
        return hubspot_requests(host, spec["secret"], int(spec["run_id"]), spec["pool"], spec["batch"])
    raise ValueError(f"unknown request kind {spec['kind']!r}")


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    started = time.perf_counter()
    requests = build_requests(spec)
    prepared_s = time.perf_counter() - started
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    result = asyncio.run(load(spec, requests))
    result["prepare_s"] = prepared_s
    result["pool"] = len(requests)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
