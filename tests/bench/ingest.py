"""Ingest benchmark: how many signed webhooks one web process makes durable, and how fast.

Measured in the same run, with the same load generator (tests/bench/loadgen.py: 32 keep-alive
connections, closed loop, every request built and signed before the timed window):
    1 ceiling    a bare Starlette app that answers 202 and does nothing
    2 floor      a naive relay: checks the Standard Webhooks HMAC, one `rq.Queue.enqueue` per request
    3 generic    the relay's /webhooks/generic (relay.app.create_app, as `relay serve` runs it)
    4 hubspot    the relay's /webhooks/hubspot, 100-event batches signed with v3
and the relay rows again with the group committer of tests/bench/group_commit.py wired in (`+ group commit`),
and with it and INFO logs off (`+ group commit, logs WARNING`: what the INFO log lines cost).

Each server is a uvicorn subprocess (one process, uvloop + httptools, no access log, JSON logs at
INFO to a file: `relay serve`'s set-up) pinned to core 0 and the load generator to core 1 when
taskset exists; Redis is a private redis-server (AOF everysec), not pinned. Every generic event
has its own customer, so every request makes a customer ready and asks for a worker wake-up.

    python -m tests.bench.ingest [--smoke]
    python -m tests.bench.ingest --serve relay-gc --port 8000    (one server, e.g. to profile it;
        kinds: ceiling, naive, relay, relay-gc; BENCH_PROFILE=<file> writes cProfile stats at exit)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis as redis_sync

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


def relay_app(*, group_commit: bool) -> Any:
    """The relay as `relay serve` builds it; with `group_commit`, tests/bench/group_commit.py wired in."""
    from relay.app import create_app
    from relay.settings import get_settings

    app = create_app(get_settings())
    if group_commit:
        wire_group_commit(app)
    return app


def wire_group_commit(app: Any) -> None:
    """Stand-in, for the benchmark only, for the change to relay/app.py the lead makes: accept
    through a GroupCommitter (closed in the lifespan, before the Redis client)."""
    # group_commit.py went with the redesign (issue 10): this path fails until the bench drops it.
    from tests.bench.group_commit import GroupCommitter  # type: ignore[import-untyped,import-not-found]

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app):
            state = app.state.relay
            committer = GroupCommitter(state.ledger)
            state.ledger.accept_many = committer.accept_many
            try:
                yield
            finally:
                await committer.aclose()
                print(f"group_commit accepts={committer.accepts} writes={committer.writes}", file=sys.stderr)

    app.router.lifespan_context = lifespan


def serve(kind: str, port: int) -> None:
    import uvicorn

    from relay.cli.common import load_settings

    load_settings()  # logging as `relay serve` configures it
    apps: dict[str, Callable[[], Any]] = {
        "ceiling": ceiling_app,
        "naive": naive_app,
        "relay": lambda: relay_app(group_commit=False),
        "relay-gc": lambda: relay_app(group_commit=True),
    }
    app = apps[kind]()
    profile_to = os.environ.get("BENCH_PROFILE")  # a path: the server's cProfile stats go there
    if profile_to:
        profile_until_shutdown(app, profile_to)
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_graceful_shutdown=10
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
    server: str  # ceiling | naive | relay | relay-gc
    kind: str  # what the load generator sends: generic | hubspot
    unique: bool  # every request sent once (the relay dedupes repeated event ids)
    env: dict[str, str] = field(default_factory=dict)  # the server's, over the defaults


LOGS_OFF = {"RELAY_LOG_LEVEL": "WARNING"}
CEILING = "1 ceiling: bare Starlette, 202"
FLOOR = "2 floor: HMAC + rq enqueue per request"
ROWS = [
    Row(CEILING, "ceiling", "generic", unique=False),
    Row(FLOOR, "naive", "generic", unique=False),
    Row("3 relay generic", "relay", "generic", unique=True),
    Row("3 relay generic + group commit", "relay-gc", "generic", unique=True),
    Row("3 relay generic + group commit, logs WARNING", "relay-gc", "generic", unique=True, env=LOGS_OFF),
    Row("4 relay hubspot x100", "relay", "hubspot", unique=True),
    Row("4 relay hubspot x100 + group commit", "relay-gc", "hubspot", unique=True),
    Row(
        "4 relay hubspot x100 + group commit, logs WARNING", "relay-gc", "hubspot", unique=True, env=LOGS_OFF
    ),
]


@dataclass
class IngestResult:
    name: str
    events_per_request: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    cpu_percent: dict[str, float | None]
    stored_events: int | None
    pool_exhausted: bool
    requests_per_write: float | None

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def events_per_s(self) -> float:
        return self.requests_per_s * self.events_per_request

    @property
    def server_cpu_us_per_request(self) -> float | None:
        server = self.cpu_percent.get("server")
        if server is None or not self.requests_per_s:
            return None
        return server / 100 / self.requests_per_s * 1e6

    def row(self) -> list[str]:
        cpu = self.cpu_percent
        per_request = self.server_cpu_us_per_request
        return [
            self.name,
            f"{self.requests_per_s:,.0f}",
            f"{self.events_per_s:,.0f}",
            f"{self.p50_ms:.1f}",
            f"{self.p99_ms:.1f}",
            "-" if per_request is None else f"{per_request:,.0f}",
            "/".join(_pct(cpu.get(k)) for k in ("server", "redis", "loadgen", "others")),
            "-" if self.requests_per_write is None else f"{self.requests_per_write:.1f}",
            " ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())),
        ]


HEADER = [
    "server",
    "requests/s",
    "events/s",
    "p50 ms",
    "p99 ms",
    "server CPU µs/request",
    "CPU % server/redis/loadgen/others",
    "requests/Redis write",
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


def run_loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "tests.bench.loadgen", orjson.dumps(spec).decode()]
    proc = subprocess.run(
        [*_pinned(LOADGEN_CORE), *argv],
        capture_output=True,
        timeout=spec["warmup_s"] + spec["duration_s"] + 180,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = orjson.loads(proc.stdout.splitlines()[-1])
    return result


def _requests_per_write(log_path: Path) -> float | None:
    found = re.search(rb"group_commit accepts=(\d+) writes=(\d+)", log_path.read_bytes())
    if not found or not int(found[2]):
        return None
    return int(found[1]) / int(found[2])


def measure(
    row: Row,
    *,
    redis_url: str,
    redis_pid: int,
    warmup_s: float,
    duration_s: float,
    rate_cap: float,
    log_dir: Path,
    run_id: str,
) -> IngestResult:
    client = redis_sync.Redis.from_url(redis_url)
    client.flushall()
    env = {
        "RELAY_REDIS_URL": redis_url,
        "RELAY_GENERIC_SECRET": GENERIC_SECRET,
        "RELAY_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
        "RELAY_LOG_LEVEL": "INFO",
        "RELAY_LOG_FORMAT": "json",
        **row.env,
    }
    batch = HUBSPOT_BATCH if row.kind == "hubspot" else 1
    # A unique pool must outlast the window (else the window ends early, reported); a repeating
    # pool only needs variety.
    pool = int(rate_cap * (warmup_s + duration_s) * 1.2) + CONNECTIONS if row.unique else 5000
    log_path = log_dir / f"ingest-{''.join(c if c.isalnum() else '-' for c in row.name)}.log"
    with server_process(row.server, env, log_path) as (port, pid):
        spec = {
            "host": "127.0.0.1",
            "port": port,
            "kind": row.kind,
            "secret": HUBSPOT_SECRET if row.kind == "hubspot" else GENERIC_SECRET,
            "run_id": run_id,
            "pool": pool,
            "batch": batch,
            "unique": row.unique,
            "connections": CONNECTIONS,
            "warmup_s": warmup_s,
            "duration_s": duration_s,
            "pids": {"server": pid, "redis": redis_pid},
        }
        result = run_loadgen(spec)
    if not result["requests"]:
        raise RuntimeError(f"{row.name}: no request answered ({result['errors']}); see {log_path}")
    stored = int(client.zcard("relay:events")) if row.server.startswith("relay") else None
    client.close()
    return IngestResult(
        name=row.name,
        events_per_request=batch,
        requests=result["requests"],
        seconds=result["seconds"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        statuses=result["statuses"],
        cpu_percent=result["cpu_percent"],
        stored_events=stored,
        pool_exhausted=result["pool_exhausted"],
        requests_per_write=_requests_per_write(log_path),
    )


def run(smoke: bool, log_dir: Path) -> list[IngestResult]:
    log_dir.mkdir(parents=True, exist_ok=True)
    warmup_s, duration_s = (0.4, 0.6) if smoke else (1.0, 8.0)
    results: list[IngestResult] = []
    with own_redis() as (redis_url, _restart):
        client = redis_sync.Redis.from_url(redis_url)
        redis_pid = int(client.info("server")["process_id"])
        client.close()
        rate_cap = 20_000.0
        for i, row in enumerate(ROWS):
            result = measure(
                row,
                redis_url=redis_url,
                redis_pid=redis_pid,
                warmup_s=warmup_s,
                duration_s=duration_s,
                rate_cap=rate_cap if row.kind == "generic" else rate_cap / 40,
                log_dir=log_dir,
                run_id=f"{int(time.time())}{i}",
            )
            if row.name == CEILING:  # nothing serves faster: it sizes the unique request pools
                rate_cap = max(result.requests_per_s * 1.1, 2000.0)
            results.append(result)
            print(f"  ingest: {' | '.join(result.row())}", file=sys.stderr)
    return results


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def markdown(results: list[IngestResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.row()) + " |" for r in results]
    by_name = {r.name: r for r in results}
    ceiling, floor = by_name[CEILING], by_name[FLOOR]
    lines.append("")
    for r in results:
        if r.name.startswith("3 "):
            lines.append(
                f"- {r.name}: **3/1 = {_ratio(r.requests_per_s, ceiling.requests_per_s)}** of the ceiling "
                f"(goal >= 0.5x, at least 0.25x), **3/2 = {_ratio(r.requests_per_s, floor.requests_per_s)}** "
                f"of the floor (goal >= 4x), p99 **{r.p99_ms:.1f} ms** (goal <= 20 ms)"
            )
        if r.name.startswith("4 "):
            lines.append(f"- {r.name}: **{r.events_per_s:,.0f} events/s** (goal >= 50,000)")
    for r in results:
        if r.stored_events is not None and r.stored_events < r.requests * r.events_per_request:
            lines.append(f"- WARNING {r.name}: {r.stored_events} events in Redis, fewer than answered")
        if r.pool_exhausted:
            lines.append(f"- WARNING {r.name}: the pre-signed requests ran out; the window ended early")
    pinned = (
        "server pinned to core 0, load generator to core 1 (taskset)"
        if shutil.which("taskset")
        else "nothing pinned (no taskset)"
    )
    lines.append(
        f"\n{CONNECTIONS} keep-alive connections, closed loop; {pinned}; Redis not pinned. Latency is "
        "the load generator's, request written to response read. CPU % is of one core over the "
        "window; `others` is the rest of the machine (other processes). Server CPU µs/request is "
        "the server's CPU time (user + system) per answered request. Requests/Redis write: how many "
        "requests the group committer wrote per round trip."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="about a second per server, so it cannot rot")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    started = time.monotonic()
    results = run(args.smoke, Path("bench-results/logs"))
    print(markdown(results))
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
