"""Losing the Redis host: is every event the relay acknowledged still there after a failover?

A primary and a replica redis-server on free loopback ports; the relay's web app on the
primary; senders post N events (each once, as the CRM's first attempt). Midway the replica
is partitioned (`REPLICAOF NO ONE`: it stops receiving, and becomes a primary of its own)
while the senders go on; then the primary is SIGKILLed and the relay is pointed at the
replica. Counted: events answered 2xx that the replica does not have (lost). With
RELAY_REDIS_REPLICA_ACKS=1 a worker then delivers from the replica to the simulator, and every
acknowledged event must be applied exactly once.

    python -m tests.failover --events 4800 --acks 1     # the README's figures; --acks 0 too
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import redis

from relay.app import create_app
from relay.demo import signed_headers
from relay.logs import configure_logging
from relay.settings import Settings
from relay.simulator.testing import running_simulator
from relay.store import keys
from tests.servers import WorkerProcess, free_port, running_web_app, wait_for
from tests.webhooks import post

SECRET = "whsec_ZmFpbG92ZXItdGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ=="
API_KEY = "sim_failover_key"


@dataclass
class FailoverReport:
    acks: int
    sent: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    acknowledged: int = 0
    acknowledged_after_partition: int = 0
    lost: list[str] = field(default_factory=list)
    on_replica_unacknowledged: int = 0
    applied: int = 0
    not_applied: list[str] = field(default_factory=list)
    applied_twice: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def table(self) -> str:
        rows = [
            ("RELAY_REDIS_REPLICA_ACKS", self.acks),
            ("events sent", self.sent),
            ("answers", dict(sorted(self.answers.items()))),
            ("acknowledged (2xx)", self.acknowledged),
            ("acknowledged after the partition", self.acknowledged_after_partition),
            ("acknowledged but not on the replica (lost)", len(self.lost)),
            ("on the replica though answered 503", self.on_replica_unacknowledged),
            ("acknowledged and applied from the replica", self.applied if self.acks else "(not delivered)"),
            ("acknowledged, never applied", len(self.not_applied)),
            ("PATCH idempotency keys applied twice", len(self.applied_twice)),
            ("seconds", round(self.seconds, 1)),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


@contextlib.contextmanager
def redis_pair() -> Iterator[tuple[int, subprocess.Popen[bytes], int]]:
    """(primary port, primary process, replica port): two redis-servers in temp dirs, linked."""
    dirs = [Path(tempfile.mkdtemp(prefix="relay-failover-")) for _ in range(2)]
    ports = [free_port(), free_port()]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n, (port, data_dir) in enumerate(zip(ports, dirs, strict=True)):
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)]
            argv += ["--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]
            argv += ["--repl-diskless-sync-delay", "0"]  # the replica syncs at once
            if n == 1:
                argv += ["--replicaof", "127.0.0.1", str(ports[0])]
            procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        replica = redis.Redis(port=ports[1], decode_responses=True)
        wait_for(lambda: _link_up(replica), timeout_s=20)
        replica.close()
        yield ports[0], procs[0], ports[1]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for data_dir in dirs:
            shutil.rmtree(data_dir, ignore_errors=True)


def _link_up(replica: redis.Redis) -> bool:
    try:
        return replica.info("replication").get("master_link_status") == "up"
    except redis.RedisError:
        return False


def make_events(n_events: int, customers: list[str], rng: random.Random) -> list[bytes]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        orjson.dumps(
            {
                "id": f"evt_failover_{i:06d}",
                "occurred_at": (start + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
                "customer": {"uuid": rng.choice(customers)},
                "set": {"city": rng.choice(["Oslo", "Lima", "Pune", "Kyoto"]), "zip": f"{i:05d}"},
            }
        )
        for i in range(n_events)
    ]


def send_once(web: str, body: bytes) -> int:
    """The CRM's first attempt; 0 when nothing answered."""
    event_id = orjson.loads(body)["id"]
    try:
        return post(f"{web}/webhooks/generic", body, signed_headers(SECRET, body, msg_id=event_id)).status
    except OSError:
        return 0


def run_failover(
    n_events: int,
    *,
    acks: int,
    customers: int = 40,
    senders: int = 8,
    ack_timeout_ms: int = 100,
    seed: int = 11,
    log_dir: Path | None = None,
) -> FailoverReport:
    rng = random.Random(seed)
    report = FailoverReport(acks=acks, sent=n_events)
    began = time.monotonic()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="relay-failover-logs-"))
    with redis_pair() as (primary_port, primary, replica_port), running_simulator(api_key=API_KEY) as sim:
        uuids = [sim.add_customer({"company": f"Failover {i}"})["uuid"] for i in range(customers)]
        bodies = make_events(n_events, uuids, rng)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            redis_url=f"redis://127.0.0.1:{primary_port}/0",
            generic_secret=SECRET,  # type: ignore[arg-type]
            redis_replica_acks=acks,
            redis_replica_ack_timeout_ms=ack_timeout_ms,
        )
        answers: dict[str, int] = {}
        cut_off = threading.Event()  # set once the replica no longer receives
        answered_after_cut: set[str] = set()
        lock = threading.Lock()

        def deliver(body: bytes) -> None:
            status = send_once(web, body)
            event_id = orjson.loads(body)["id"]
            with lock:
                answers[event_id] = status
                if cut_off.is_set():
                    answered_after_cut.add(event_id)

        def partition() -> None:
            wait_for(lambda: len(answers) >= n_events // 2, timeout_s=600, interval_s=0.01)
            with redis.Redis(port=replica_port) as replica:
                replica.execute_command("REPLICAOF", "NO", "ONE")
            cut_off.set()

        with running_web_app(create_app(settings)) as web:
            cut = threading.Thread(target=partition)
            cut.start()
            with ThreadPoolExecutor(max_workers=senders) as pool:
                list(pool.map(deliver, bodies))
            cut.join()
            primary.send_signal(signal.SIGKILL)  # the host is gone; the replica takes over
            primary.wait()

        order = [orjson.loads(b)["id"] for b in bodies]
        report.answers = Counter(answers.values())
        acknowledged = [e for e in order if answers[e] in (200, 202)]
        report.acknowledged = len(acknowledged)
        replica = redis.Redis(port=replica_port, decode_responses=True)
        with replica.pipeline(transaction=False) as pipe:
            for event_id in order:
                pipe.exists(keys.event(event_id))
            on_replica = dict(zip(order, pipe.execute(), strict=True))
        report.lost = [e for e in acknowledged if not on_replica[e]]
        report.on_replica_unacknowledged = sum(
            1 for e in order if on_replica[e] and answers[e] not in (200, 202)
        )
        report.acknowledged_after_partition = sum(1 for e in acknowledged if e in answered_after_cut)
        if acks:
            env = {
                "RELAY_REDIS_URL": f"redis://127.0.0.1:{replica_port}/0",
                "CHARTMOGUL_API_BASE": sim.base_url,
                "CHARTMOGUL_API_KEY": API_KEY,
                "RELAY_MAINTENANCE_INTERVAL_S": "0.2",
                "RELAY_LOG_FORMAT": "json",
            }
            worker = WorkerProcess(env, log_dir / "worker.log")
            try:
                _deliver_and_count(report, replica, acknowledged, sim)
            finally:
                worker.stop()
        replica.close()
    report.seconds = time.monotonic() - began
    return report


def _deliver_and_count(
    report: FailoverReport, replica: redis.Redis, acknowledged: list[str], sim: Any
) -> None:
    def statuses() -> list[str | None]:
        with replica.pipeline(transaction=False) as pipe:
            for event_id in acknowledged:
                pipe.hmget(keys.event(event_id), ["status", "idempotency_key"])
            return [status for status, _ in pipe.execute()]

    with contextlib.suppress(AssertionError):  # on a timeout the counts below say what is missing
        wait_for(lambda: all(s in ("applied", "stale") for s in statuses()), timeout_s=300, interval_s=0.5)
    ok_keys = Counter(
        r["idempotency_key"] for r in sim.requests() if r["method"] == "PATCH" and r["status"] == 200
    )
    report.applied_twice = [key for key, n in ok_keys.items() if n > 1]
    with replica.pipeline(transaction=False) as pipe:
        for event_id in acknowledged:
            pipe.hmget(keys.event(event_id), ["status", "idempotency_key"])
        rows = pipe.execute()
    for event_id, (status, idempotency_key) in zip(acknowledged, rows, strict=True):
        if status in ("applied", "stale") and (status == "stale" or idempotency_key in ok_keys):
            report.applied += 1
        else:
            report.not_applied.append(event_id)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=4800)
    parser.add_argument("--acks", type=int, default=1)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--ack-timeout-ms", type=int, default=100)
    args = parser.parse_args()
    configure_logging(level="WARNING")
    report = run_failover(
        args.events, acks=args.acks, senders=args.senders, ack_timeout_ms=args.ack_timeout_ms
    )
    print(report.table())
    clean = not report.lost and not report.applied_twice and not report.not_applied
    raise SystemExit(0 if clean else 1)


if __name__ == "__main__":
    main()
