"""Ingest benchmark: how many signed webhooks one web process makes durable, and how fast.

Measured in one run, with one load generator (wrk, tests/bench/loadgen.py: 32 keep-alive
connections, closed loop, every request built and signed before the timed window):
    1 ceiling    a bare Starlette app that answers 202 and does nothing
    2 floor      a naive relay: checks the Standard Webhooks HMAC, one `rq.Queue.enqueue` per request
    3 generic    the relay's /webhooks/generic (relay.app.create_app, as `relay serve` runs it)
    4 ceiling    the bare app again, answering the HubSpot batches of row 5
    5 hubspot    the relay's /webhooks/hubspot, distinct 100-event batches signed with v3

Each server is a uvicorn subprocess (one process, uvloop + httptools, no access log, JSON logs at
INFO to a file: `relay serve`'s set-up) pinned to core 0, and wrk and Redis (a private
redis-server, AOF everysec) to core 1 when taskset exists: the server has its core to itself.
Every generic event has its own customer, so every request makes a customer ready and asks for
a worker wake-up; every relay request carries events never sent before (the relay would answer
a repeat as a duplicate).

    python -m tests.bench.ingest [--smoke]
    python -m tests.bench.ingest --serve relay --port 8000    (one server, e.g. to profile it;
        kinds: ceiling, naive, relay; BENCH_PROFILE=<file> writes cProfile stats at exit)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis as redis_sync

from tests.bench import loadgen
from tests.servers import free_port, own_redis, wait_for

GENERIC_SECRET = "whsec_" + base64.b64encode(b"relay-bench-generic-secret-0123456789").decode()
HUBSPOT_SECRET = "hs-bench-client-secret-0123456789"
CONNECTIONS = 32
HUBSPOT_BATCH = 100
SERVER_CORE, LOADGEN_CORE = "0", "1"


# --- the servers (the subprocess runs: python -m tests.bench.ingest --serve KIND --port P) ------


def ceiling_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def accept(request: Request) -> Response:
        return Response(status_code=202)

    async def healthz(request: Request) -> Response:
        return Response(b"ok")

    return Starlette(
        routes=[Route("/webhooks/{source}", accept, methods=["POST"]), Route("/healthz", healthz)]
    )


def naive_job(body: str) -> None:
    """What the naive relay's worker would run (never run here)."""


def naive_app() -> Any:
    """The floor, as a first version would be written: verify the HMAC, one RQ job per request."""
    from rq import Queue
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    webhook = Webhook(os.environ["RELAY_GENERIC_SECRET"])
    queue = Queue("naive", connection=redis_sync.Redis.from_url(os.environ["RELAY_REDIS_URL"]))

    async def accept(request: Request) -> Response:
        body = await request.body()
        try:
            webhook.verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        job = await run_in_threadpool(queue.enqueue, "tests.bench.ingest.naive_job", body.decode())
        return JSONResponse({"status": "accepted", "job": job.id}, status_code=202)

    async def healthz(request: Request) -> Response:
        return Response(b"ok")

    return Starlette(
        routes=[Route("/webhooks/{source}", accept, methods=["POST"]), Route("/healthz", healthz)]
    )


def relay_app() -> Any:
    """The relay as `relay serve` builds it."""
    from relay.app import create_app
    from relay.settings import get_settings

    return create_app(get_settings())


def serve(kind: str, port: int) -> None:
    import uvicorn

    from relay.cli.common import load_settings

    load_settings()  # logging as `relay serve` configures it
    apps: dict[str, Callable[[], Any]] = {"ceiling": ceiling_app, "naive": naive_app, "relay": relay_app}
    app = apps[kind]()
    profile_to = os.environ.get("BENCH_PROFILE")  # a path: the server's cProfile stats go there
    if profile_to:
        profile_until_shutdown(app, profile_to)
    uvicorn.run(  # as `relay serve` runs it (no proxy headers by default)
        app,
        host="127.0.0.1",
        port=port,
        proxy_headers=False,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def profile_until_shutdown(app: Any, path: str) -> None:
    """cProfile the whole server; the stats are written when the app shuts down (uvicorn ends
    the process by re-raising SIGTERM, so nothing after uvicorn.run would run)."""
    import cProfile

    profile = cProfile.Profile()
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app):
            profile.enable()
            try:
                yield
            finally:
                profile.disable()
                profile.dump_stats(path)

    app.router.lifespan_context = lifespan


# --- the runs ---------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    server: str  # ceiling | naive | relay
    kind: str  # what wrk sends: generic | hubspot
    unique: bool  # every request distinct (the relay answers a repeated event id as a duplicate)
    env: dict[str, str] = field(default_factory=dict)  # the server's, over the defaults


CEILING = "1 ceiling: bare Starlette, 202"
FLOOR = "2 floor: HMAC + rq enqueue per request"
GENERIC = "3 relay /webhooks/generic"
HUBSPOT_CEILING = "4 ceiling: bare Starlette, 202, HubSpot batches"
HUBSPOT = "5 relay /webhooks/hubspot, 100-event batches"
ROWS = [
    Row(CEILING, "ceiling", "generic", unique=False),
    Row(FLOOR, "naive", "generic", unique=False),
    Row(GENERIC, "relay", "generic", unique=True),
    Row(HUBSPOT_CEILING, "ceiling", "hubspot", unique=False),
    Row(HUBSPOT, "relay", "hubspot", unique=True),
]


@dataclass
class IngestResult:
    name: str
    events_per_request: int
    load: loadgen.LoadResult
    stored_events: int | None
    requests_per_round_trip: float | None

    @property
    def requests_per_s(self) -> float:
        return self.load.requests / self.load.seconds if self.load.seconds else 0.0

    @property
    def events_per_s(self) -> float:
        return self.requests_per_s * self.events_per_request

    @property
    def server_cpu_us_per_request(self) -> float | None:
        server = self.load.cpu_percent.get("server")
        if server is None or not self.requests_per_s:
            return None
        return server / 100 / self.requests_per_s * 1e6

    def row(self) -> list[str]:
        cpu = self.load.cpu_percent
        per_request = self.server_cpu_us_per_request
        errors = {k: v for k, v in self.load.errors.items() if v}
        return [
            self.name,
            f"{self.requests_per_s:,.0f}",
            f"{self.events_per_s:,.0f}" if self.events_per_request else "-",
            f"{self.load.p50_ms:.1f}",
            f"{self.load.p99_ms:.1f}",
            "-" if per_request is None else f"{per_request:,.0f}",
            "/".join(_pct(cpu.get(k)) for k in ("server", "redis", "loadgen", "others")),
            "-" if self.requests_per_round_trip is None else f"{self.requests_per_round_trip:.1f}",
            "all 2xx" if not errors else " ".join(f"{k}: {v}" for k, v in sorted(errors.items())),
        ]


HEADER = [
    "server",
    "requests/s",
    "events/s",
    "p50 ms",
    "p99 ms",
    "server CPU µs/request",
    "CPU % server/redis/wrk/others",
    "requests/Redis round trip",
    "answers",
]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _pinned(core: str) -> list[str]:
    return ["taskset", "-c", core] if shutil.which("taskset") else []


@contextlib.contextmanager
def server_process(kind: str, env: Mapping[str, str], log_path: Path) -> Iterator[tuple[int, int]]:
    """A uvicorn subprocess serving `kind`; yields (port, pid) once /healthz answers."""
    port = free_port()
    log = log_path.open("wb")
    argv = [sys.executable, "-m", "tests.bench.ingest", "--serve", kind, "--port", str(port)]
    proc = subprocess.Popen(
        [*_pinned(SERVER_CORE), *argv], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(lambda: _healthy(port) or proc.poll() is not None, timeout_s=30, interval_s=0.1)
        if proc.poll() is not None:
            raise RuntimeError(f"the {kind} server exited with {proc.returncode}; see {log_path}")
        yield port, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _requests_per_round_trip(log_path: Path) -> float | None:
    """From the relay's `web_stopped` line: requests accepted per Redis round trip."""
    for line in reversed(log_path.read_bytes().splitlines()):
        if b'"web_stopped"' in line:
            doc = orjson.loads(line)
            trips = int(doc.get("accept_round_trips") or 0)
            return int(doc.get("accept_requests") or 0) / trips if trips else None
    return None


def _requests(row: Row, host: str, run_id: str, n: int) -> Iterable[bytes]:
    if row.kind == "generic":
        return loadgen.generic_requests(host, GENERIC_SECRET, run_id, n)
    return loadgen.hubspot_requests(host, HUBSPOT_SECRET, run_id, n, HUBSPOT_BATCH)


def _wrk(url: str, requests: Iterable[bytes], duration_s: float, pids: dict[str, int]) -> loadgen.LoadResult:
    return loadgen.run_wrk(
        url=url,
        requests=requests,
        connections=CONNECTIONS,
        duration_s=duration_s,
        pids=pids,
        core=LOADGEN_CORE,
    )


def compact_aof(client: redis_sync.Redis) -> None:
    """Every row starts from a rewritten (empty) AOF, so that no row pays for rewriting what an
    earlier row wrote (Redis rewrites once the file doubles: auto-aof-rewrite-percentage)."""

    def rewriting() -> bool:
        persistence = client.info("persistence")
        return bool(int(persistence["aof_rewrite_in_progress"]) or int(persistence["aof_rewrite_scheduled"]))

    wait_for(lambda: not rewriting(), timeout_s=60)  # one Redis started on its own
    with contextlib.suppress(redis_sync.ResponseError):  # another began meanwhile: it compacts too
        client.bgrewriteaof()
    wait_for(lambda: not rewriting(), timeout_s=60)


def measure(
    row: Row,
    *,
    redis_url: str,
    redis_pid: int,
    warmup_s: float,
    duration_s: float,
    pool: int,
    log_dir: Path,
    run_id: str,
) -> IngestResult:
    from relay.store import keys

    client = redis_sync.Redis.from_url(redis_url)
    client.flushall()
    compact_aof(client)
    env = {
        "RELAY_REDIS_URL": redis_url,
        "RELAY_GENERIC_SECRET": GENERIC_SECRET,
        "RELAY_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
        "RELAY_LOG_LEVEL": "INFO",
        "RELAY_LOG_FORMAT": "json",
        **row.env,
    }
    batch = HUBSPOT_BATCH if row.kind == "hubspot" else 1
    events_per_request = 0 if row.server == "ceiling" and batch > 1 else batch  # 0: none processed
    log_path = log_dir / f"ingest-{''.join(c if c.isalnum() else '-' for c in row.name)}.log"
    with server_process(row.server, env, log_path) as (port, pid):
        host = f"127.0.0.1:{port}"
        url = f"http://{host}/webhooks/{row.kind}"
        # Warm-up: its own events (a repeat would be a duplicate), a small pool that may repeat.
        warm = _requests(row, host, f"{run_id}9", max(50, pool // 50) if row.unique else pool)
        _wrk(url, warm, warmup_s, {})
        load = _wrk(url, _requests(row, host, run_id, pool), duration_s, {"server": pid, "redis": redis_pid})
    if not load.requests:
        raise RuntimeError(f"{row.name}: no request answered ({load.errors}); see {log_path}")
    stored = int(client.zcard(keys.EVENTS)) if row.server == "relay" else None
    client.close()
    return IngestResult(
        name=row.name,
        events_per_request=events_per_request,
        load=load,
        stored_events=stored,
        requests_per_round_trip=_requests_per_round_trip(log_path) if row.server == "relay" else None,
    )


def run(
    smoke: bool, log_dir: Path, only: set[str] | None = None, seconds: float | None = None
) -> list[IngestResult]:
    """Every row (or the `only` rows, by number, e.g. {"1", "3"}), in one run."""
    log_dir.mkdir(parents=True, exist_ok=True)
    warmup_s, duration_s = (1.0, 1.0) if smoke else (2.0, 10.0)
    duration_s = seconds or duration_s
    results: list[IngestResult] = []
    loadgen.ensure_wrk()
    with own_redis() as (redis_url, _restart):
        client = redis_sync.Redis.from_url(redis_url)
        redis_pid = int(client.info("server")["process_id"])
        client.close()
        if shutil.which("taskset"):  # Redis with wrk, off the server's core (see the notes)
            subprocess.run(
                ["taskset", "-p", "-c", LOADGEN_CORE, str(redis_pid)], check=True, capture_output=True
            )
        ceiling = {"generic": 30_000.0, "hubspot": 15_000.0}  # requests/s, until measured
        for i, row in enumerate(ROWS):
            if only and row.name.split()[0] not in only:
                continue
            if row.unique:
                # Enough distinct requests for the relay to reach 0.8x the ceiling (generic) or
                # 3x its requests in events (HubSpot) without repeating one; a repeat is reported.
                share = 0.8 if row.kind == "generic" else 0.03
                pool = int(ceiling[row.kind] * share * duration_s * 1.1) + CONNECTIONS
            else:
                pool = 5000 if row.kind == "generic" else 500
            result = measure(
                row,
                redis_url=redis_url,
                redis_pid=redis_pid,
                warmup_s=warmup_s,
                duration_s=duration_s,
                pool=pool,
                log_dir=log_dir,
                run_id=f"{int(time.time())}{i}",
            )
            if row.server == "ceiling":  # nothing serves faster: it sizes the unique pools
                ceiling[row.kind] = max(result.requests_per_s, 1000.0)
            results.append(result)
            print(f"  ingest: {' | '.join(result.row())}", file=sys.stderr)
    return results


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def _cpu_ratio(base: IngestResult, relay: IngestResult, events: int = 1) -> str:
    """How many times `base`'s CPU per request `relay`'s CPU per event is (a throughput ratio)."""
    a, b = base.server_cpu_us_per_request, relay.server_cpu_us_per_request
    return f"{a / (b / events):.2f}x" if a and b else "n/a"


def markdown(results: list[IngestResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.row()) + " |" for r in results]
    by_name = {r.name: r for r in results}
    if len(by_name) < len(ROWS):
        return "\n".join(lines)
    ceiling, floor, generic = by_name[CEILING], by_name[FLOOR], by_name[GENERIC]
    hub_ceiling, hubspot = by_name[HUBSPOT_CEILING], by_name[HUBSPOT]
    lines += [
        "",
        f"- generic: **{_ratio(generic.requests_per_s, ceiling.requests_per_s)} the ceiling** "
        f"(goal >= 0.25x, aim 0.5x), **{_ratio(generic.requests_per_s, floor.requests_per_s)} the floor** "
        "(goal >= 4x), "
        f"p99 **{generic.load.p99_ms:.1f} ms** (goal <= 20 ms)",
        f"- HubSpot: **{hubspot.events_per_s:,.0f} events/s = "
        f"{_ratio(hubspot.events_per_s, hub_ceiling.requests_per_s)} the requests/s bare Starlette answers** "
        "for the same batches (goal >= 0.9x, aim 1.5x)",
        f"- by server CPU per request (what a server alone on a quiet core would reach): generic "
        f"{_cpu_ratio(ceiling, generic)} the ceiling, {_cpu_ratio(floor, generic)} the floor; HubSpot "
        f"{_cpu_ratio(hub_ceiling, hubspot, HUBSPOT_BATCH)} the ceiling's requests/s in events/s",
    ]
    for r in results:
        if r.stored_events is not None and r.stored_events < r.load.requests * r.events_per_request:
            lines.append(f"- WARNING {r.name}: {r.stored_events} events in Redis, fewer than answered")
        if r.stored_events is not None and r.load.wraps:
            lines.append(f"- WARNING {r.name}: the pre-signed requests ran out; repeats were sent")
    pinned = (
        "server pinned to core 0, wrk and Redis to core 1 (taskset)"
        if shutil.which("taskset")
        else "nothing pinned (no taskset)"
    )
    lines.append(
        f"\nwrk, 1 thread, {CONNECTIONS} keep-alive connections, closed loop; {pinned}; Redis "
        "with AOF everysec. Latency is wrk's, request written to response read. CPU % is "
        "of one core over the window; `others` is the rest of the machine (other processes). "
        "Server CPU µs/request is the server's CPU time (user + system) per answered request. "
        "Requests/Redis round trip: how many requests' accepts shared one pipelined round trip "
        "(group commit). wrk below ~90 % of its core while the server is at ~100 % of its own "
        "means the server, not the load generator, is the bound."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="a second per server, so it cannot rot")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help="the measured window per row (default 10)")
    parser.add_argument("--rows", help="only these rows, by number: e.g. 3,5 (to compare a change)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    started = time.monotonic()
    only = set(args.rows.split(",")) if args.rows else None
    results = run(args.smoke, Path("bench-results/logs"), only, args.seconds)
    print(markdown(results))
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
