"""The load generator: wrk (Debian's `wrk`), sending requests built and signed before the run.

Every request is built and signed in Python BEFORE the timed window and written to a pool
file that tests/bench/requests.lua loads into wrk; wrk then only copies bytes to sockets. wrk
is C on one thread, pinned to its own core when taskset exists, so it shares no core with the
server it measures (Redis floats); its own CPU over the window is reported next to the
server's, which shows whether the load generator or the server is the bottleneck.

Closed loop: `connections` keep-alive connections, each with one request in flight. Latency is
wrk's, request written to response read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
LUA_SCRIPT = Path(__file__).with_name("requests.lua")


def ensure_wrk() -> str:
    """wrk's path; installs Debian's package when it is missing (the bench runs as root in CI)."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


# --- requests ---------------------------------------------------------------------------------


def raw_request(host: str, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
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


def generic_requests(host: str, secret: str, run_id: str, n: int) -> Iterable[bytes]:
    """Standard Webhooks signatures (HMAC-SHA256 over "id.timestamp.body"), as a sender makes them."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    now = datetime.now(UTC)
    occurred_at = now.isoformat().replace("+00:00", "Z")
    stamp = str(int(now.timestamp()))
    for i in range(n):
        body = generic_event(run_id, i, occurred_at)
        msg_id = f"msg_{run_id}_{i}"
        digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        }
        yield raw_request(host, "/webhooks/generic", body, headers)


# A HubSpot batch: 25 companies, 4 property changes each, as HubSpot groups them.
HUBSPOT_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("city", "Boston"),
    ("country", "United States"),
    ("name", "Acme Corporation"),
    ("hs_lead_status", "IN_PROGRESS"),
)


def hubspot_batch(run_id: str, batch: int, size: int, occurred_ms: int) -> bytes:
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


def hubspot_requests(host: str, secret: str, run_id: str, n: int, size: int) -> Iterable[bytes]:
    """Batches signed with HubSpot's v3 signature over the URL the relay sees (http://host/…)."""
    key = secret.encode()
    url = f"http://{host}/webhooks/hubspot".encode()
    stamp = str(int(time.time() * 1000))
    for batch in range(n):
        body = hubspot_batch(run_id, batch, size, int(stamp) - 60_000)
        digest = hmac.new(key, b"POST" + url + body + stamp.encode(), hashlib.sha256).digest()
        headers = {
            "content-type": "application/json",
            "x-hubspot-signature-v3": base64.b64encode(digest).decode(),
            "x-hubspot-request-timestamp": stamp,
        }
        yield raw_request(host, "/webhooks/hubspot", body, headers)


def write_pool(path: Path, requests: Iterable[bytes]) -> int:
    """The pool file requests.lua reads (one thread's): "<length>\\n<request>" records."""
    count = 0
    with path.open("wb") as f:
        for request in requests:
            f.write(b"%d\n" % len(request))
            f.write(request)
            count += 1
    return count


# --- one wrk run ------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]  # wrk's: connect, read, write, status (>= 400), timeout
    wraps: int  # times a connection's thread ran out of pre-built requests and started over
    pool: int
    prepare_s: float
    cpu_percent: dict[str, float | None]  # of one core over the window: server, redis, loadgen, others


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


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    *,
    url: str,
    requests: Iterable[bytes],
    connections: int,
    duration_s: float,
    pids: Mapping[str, int],
    core: str | None,
) -> LoadResult:
    """Write the pool, run wrk over it for `duration_s`, and sample everyone's CPU meanwhile."""
    wrk = ensure_wrk()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        pool_path = Path(tmp) / "pool"
        pool = write_pool(Path(f"{pool_path}.0"), requests)
        prepare_s = time.perf_counter() - started
        pinned = ["taskset", "-c", core] if core is not None and shutil.which("taskset") else []
        # stdbuf: wrk's "Running" line (printed once the pool is loaded, as the clock starts)
        # must arrive now, not when wrk exits, so that CPU is sampled over the window only.
        argv = [
            *pinned,
            *(["stdbuf", "-oL"] if shutil.which("stdbuf") else []),
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            url,
            "--",
            str(pool_path),
        ]
        children_before = _children_cpu_s()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        output = []
        for line in proc.stdout:
            output.append(line)
            if line.startswith(b"Running"):
                break
        ticks = {name: cpu_ticks(pid) for name, pid in pids.items()}
        wrk_ticks, machine, clock = cpu_ticks(proc.pid), machine_busy_ticks(), time.monotonic()
        output += proc.stdout.readlines()
        after = {name: cpu_ticks(pid) for name, pid in pids.items()}
        machine_after, window_s = machine_busy_ticks(), time.monotonic() - clock
        stderr = proc.stderr.read() if proc.stderr else b""
        proc.wait()
        wrk_cpu_s = _children_cpu_s() - children_before - wrk_ticks / CLOCK_TICKS_PER_S
    text = b"".join(output).decode(errors="replace")
    found = re.search(r"^RESULT (\{.*\})$", text, re.M)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-2000:]} {stderr.decode()[-1000:]}")
    result: dict[str, Any] = orjson.loads(found[1])
    cpu: dict[str, float | None] = {
        name: (after[name] - ticks[name]) / CLOCK_TICKS_PER_S / window_s * 100 for name in ticks
    }
    cpu["loadgen"] = wrk_cpu_s / window_s * 100
    busy = (machine_after - machine) / CLOCK_TICKS_PER_S / window_s * 100
    cpu["others"] = max(0.0, busy - sum(v for v in cpu.values() if v is not None))
    return LoadResult(
        requests=int(result["requests"]),
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1e3,
        p90_ms=result["p90_us"] / 1e3,
        p99_ms=result["p99_us"] / 1e3,
        max_ms=result["max_us"] / 1e3,
        errors={k: int(v) for k, v in result["errors"].items()},
        wraps=int(result["wraps"]),
        pool=pool,
        prepare_s=prepare_s,
        cpu_percent=cpu,
    )
