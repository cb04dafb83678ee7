"""The chaos run: everything that goes wrong in production, at once, then a full accounting.

N events across M customers are sent shuffled, 10% of them twice, while the simulator
answers 5% of calls with 500, lets 2% time out and throws a burst of 429s with Retry-After;
one worker is SIGKILLed mid-run and restarted, and Redis (AOF on) is restarted. Afterwards
every accepted event must be applied exactly once, stale, or dead-lettered with a reason,
every customer in the simulator must equal a model computed from the events, and no worker
may have logged a crash.

    python -m tests.chaos --events 5000 --customers 300      # the full run (~30 s)
    python -m tests.chaos --events 1000 --customers 60 --rounds 3 --seed 300   # harsher

`--rounds N` repeats the 429 burst, the worker kill and the Redis restart N times while the
events are sent (between 30 % and 90 % of the answers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, cast

import orjson
import redis

from relay.app import create_app
from relay.settings import Settings
from relay.simulator.testing import SimulatorHandle, running_simulator
from relay.store import keys
from tests.servers import WorkerProcess, own_redis, running_web_app, wait_for
from tests.webhooks import post

SECRET = "whsec_Y2hhb3MtdGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ=="
API_KEY = "sim_chaos_key"
CITIES = ["Berlin", "Lisbon", "Oslo", "Austin", "Kyoto", "Lagos", "Lima"]
TAGS = [f"t{i}" for i in range(6)]


def make_events(n_events: int, customers: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """Events in occurred_at order (1 ms apart, in the past); each changes a few things."""
    start = datetime.now(UTC) - timedelta(hours=1)
    events = []
    for i in range(n_events):
        event: dict[str, Any] = {
            "id": f"evt_chaos_{i:06d}",
            "occurred_at": (start + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
            "customer": {"uuid": rng.choice(customers)},
        }
        fields: dict[str, Any] = {}
        if rng.random() < 0.6:
            fields["city"] = rng.choice(CITIES)
        if rng.random() < 0.3:
            fields["zip"] = f"{rng.randrange(10000, 99999)}"
        if rng.random() < 0.3:
            fields["primary_contact"] = {"first_name": rng.choice(["Ann", "Bo", "Cy", "Di"])}
        if fields:
            event["set"] = fields
        if rng.random() < 0.3 or not fields:
            tag = rng.choice(TAGS)
            event["tags"] = {"add": [tag]} if rng.random() < 0.6 else {"remove": [tag]}
        events.append(event)
    return events


def model(events: list[dict[str, Any]], initial_tags: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The expected final customers: per field and per tag, the change with the newest occurred_at wins."""
    state: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e["occurred_at"]):
        uuid = event["customer"]["uuid"]
        customer = state.setdefault(uuid, {"tags": set(initial_tags[uuid])})
        for name, value in event.get("set", {}).items():
            if name == "primary_contact":
                customer.setdefault("primary_contact", {}).update(value)
            else:
                customer[name] = value
        customer["tags"] |= set(event.get("tags", {}).get("add", []))
        customer["tags"] -= set(event.get("tags", {}).get("remove", []))
    return state


@dataclass
class ChaosReport:
    sent: int = 0
    duplicates_sent: int = 0
    accepted: int = 0
    duplicate_answers: int = 0
    unanswered: int = 0  # deliveries the relay never answered 2xx (within a minute of retrying)
    # For each of those: the event id and the last answer (or error) its sender got.
    unanswered_why: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    dead_reasons: Counter[str] = field(default_factory=Counter)
    patches_ok: int = 0
    double_applied_keys: list[str] = field(default_factory=list)
    # The same body re-sent by crash recovery because it carries `primary_contact`, which
    # ChartMogul never shows back (workers/recovery.py): harmless, so counted apart.
    resent_keys: list[str] = field(default_factory=list)
    applied_without_patch: list[str] = field(default_factory=list)
    mismatched_customers: list[str] = field(default_factory=list)
    lost: int = 0
    # For each event not settled: where its customer is (ready, leased, retrying, nowhere).
    unsettled: list[str] = field(default_factory=list)
    # When something is unsettled: whether each worker still runs, and its last warnings.
    workers: list[str] = field(default_factory=list)
    # Our bugs, as the workers logged them: a delivery or the maintenance loop that crashed, an
    # exception no one looked at. A Redis restart is expected to interrupt, never to crash.
    crashes: list[str] = field(default_factory=list)
    sending_seconds: float = 0.0
    seconds: float = 0.0

    def table(self) -> str:
        rows = [
            ("events sent (distinct)", self.sent),
            ("duplicate deliveries sent", self.duplicates_sent),
            ("accepted (202)", self.accepted),
            ("answered duplicate (200)", self.duplicate_answers),
            ("never answered 2xx", self.unanswered),
            ("applied", self.statuses["applied"]),
            ("stale", self.statuses["stale"]),
            ("dead-lettered", f"{self.statuses['dead']} {dict(self.dead_reasons) or ''}".strip()),
            ("still queued / lost", self.lost),
            ("successful write calls", self.patches_ok),
            ("write calls applied twice", len(self.double_applied_keys)),
            ("same PATCH re-sent by recovery (contact)", len(self.resent_keys)),
            ("applied with no write call in the log", len(self.applied_without_patch)),
            ("customers differing from the model", len(self.mismatched_customers)),
            ("seconds sending", round(self.sending_seconds, 1)),
            ("seconds", round(self.seconds, 1)),
            *(("unanswered", line) for line in self.unanswered_why[:50]),
            *(("unsettled", line) for line in self.unsettled[:50]),
            ("crashes logged by workers", len(self.crashes)),
            *(("crash", line) for line in self.crashes[:10]),
            *(("worker", line) for line in self.workers),
        ]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)

    @property
    def clean(self) -> bool:
        return (
            self.lost == 0
            and not self.double_applied_keys
            and not self.applied_without_patch
            and not self.mismatched_customers
            and self.unanswered == 0
            and not self.crashes
            and self.statuses["applied"] + self.statuses["stale"] + self.statuses["dead"] == self.sent
        )


def run_chaos(
    n_events: int,
    n_customers: int,
    *,
    seed: int = 7,
    rounds: int = 1,
    log_dir: Path | None = None,
    settle_timeout_s: float = 300,
) -> ChaosReport:
    """`settle_timeout_s`: how long to wait for every event to settle once all are sent; keep it
    well inside a test's own timeout, so that a run that stalls still prints its accounting."""
    rng = random.Random(seed)
    report = ChaosReport()
    began = time.monotonic()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="relay-chaos-logs-"))
    with own_redis() as (redis_url, restart_redis), running_simulator(api_key=API_KEY) as sim:
        initial_tags = {}
        customers = []
        for i in range(n_customers):
            tags = rng.sample(TAGS, 2)
            created = sim.add_customer({"company": f"Chaos {i}", "attributes": {"tags": tags, "custom": {}}})
            customers.append(created["uuid"])
            initial_tags[created["uuid"]] = tags
        events = make_events(n_events, customers, rng)
        env = {
            "RELAY_REDIS_URL": redis_url,
            "CHARTMOGUL_API_BASE": sim.base_url,
            "CHARTMOGUL_API_KEY": API_KEY,
            "RELAY_GENERIC_SECRET": SECRET,
            "RELAY_LEASE_S": "5",
            "RELAY_MAINTENANCE_INTERVAL_S": "0.2",
            "RELAY_RETRY_BASE_S": "0.1",
            "RELAY_RETRY_CAP_S": "1",
            "RELAY_RETRY_DEADLINE_S": "600",
            "RELAY_HTTP_TIMEOUT_S": "1",
            "RELAY_LOG_FORMAT": "json",
        }
        settings = Settings(_env_file=None, redis_url=redis_url, generic_secret=SECRET)  # type: ignore[call-arg,arg-type]
        with running_web_app(create_app(settings)) as web:
            sim.set_faults(status=500, rate=0.05, timeout_rate=0.02)
            workers = [WorkerProcess(env, log_dir / f"worker-{i}.log") for i in range(2)]
            deliveries = [orjson.dumps(e) for e in events]
            deliveries += [deliveries[i] for i in rng.sample(range(n_events), n_events // 10)]
            rng.shuffle(deliveries)
            report.sent, report.duplicates_sent = n_events, len(deliveries) - n_events
            answers: list[int] = []
            answered: set[str] = set()  # events the relay answered 2xx at least once
            lock = threading.Lock()

            def deliver(body: bytes) -> None:
                event_id = orjson.loads(body)["id"]
                status, last = _send_until_answered(web, body, event_id)
                with lock:
                    answers.append(status)
                    if status:
                        answered.add(event_id)
                    else:
                        report.unanswered_why.append(f"{event_id}: {last}")

            def chaos_timeline() -> None:
                total = len(deliveries)
                steps = ["429", "kill", "redis"] * rounds
                for i, step in enumerate(steps):  # one round: at 30, 50 and 70 % of the answers
                    due = total * (0.3 + i * 0.6 / len(steps))
                    wait_for(partial(lambda at: len(answers) >= at, due), timeout_s=300, interval_s=0.02)
                    if step == "429":
                        sim.set_faults(status=429, rate=1.0, retry_after=1)
                        time.sleep(1.5 / rounds)
                        sim.set_faults(status=500, rate=0.05, timeout_rate=0.02)
                    elif step == "kill":
                        next(w for w in workers if w.proc.poll() is None).kill()
                        time.sleep(1.0 / rounds)
                        workers.append(WorkerProcess(env, log_dir / f"worker-restarted-{i}.log"))
                    else:
                        restart_redis()

            timeline = threading.Thread(target=chaos_timeline)
            timeline.start()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(deliver, deliveries))
            timeline.join()
            report.sending_seconds = time.monotonic() - began
            report.accepted = answers.count(202)
            report.duplicate_answers = answers.count(200)
            report.unanswered = answers.count(0)
            sim.clear_faults()

            client = redis.Redis.from_url(redis_url, decode_responses=True)
            event_ids = [e["id"] for e in events]
            terminal = {"applied", "stale", "dead"}

            def statuses(ids: list[str]) -> Counter[str]:
                with client.pipeline(transaction=False) as pipe:
                    for event_id in ids:
                        pipe.hget(keys.event(event_id), "status")
                    return Counter(s or "missing" for s in pipe.execute())

            # Only what the relay answered 2xx can settle; on a timeout the accounting below
            # says what is missing.
            accepted_ids = sorted(answered)
            with contextlib.suppress(AssertionError):
                wait_for(
                    lambda: sum(statuses(accepted_ids)[s] for s in terminal) == len(accepted_ids),
                    timeout_s=settle_timeout_s,
                    interval_s=0.5,
                )
            report.statuses = statuses(event_ids)
            report.lost = n_events - sum(report.statuses[s] for s in terminal)
            report.unsettled = _where_unsettled(client, events, terminal)
            if report.unsettled:
                report.workers = [line for w in workers for line in _worker_state(w)]
            for event_id in cast(list[str], client.zrange(keys.DLQ, 0, -1)):
                report.dead_reasons[cast(str | None, client.hget(keys.event(event_id), "reason")) or "?"] += 1
            _check_exactly_once(report, client, event_ids, sim)
            _check_model(report, events, initial_tags, sim)
            client.close()
            for worker in workers:
                worker.stop()
            report.crashes = [line for w in workers for line in _crashes(w)]
    report.seconds = time.monotonic() - began
    return report


def _where_unsettled(client: redis.Redis, events: list[dict[str, Any]], terminal: set[str]) -> list[str]:
    found = []
    for event in events:
        record = cast(dict[str, str], client.hgetall(keys.event(event["id"])))
        if record.get("status") in terminal:
            continue
        customer = record.get("customer", event["customer"]["uuid"])
        where = [
            name
            for name, key in (("ready", keys.READY), ("leased", keys.LEASES), ("retrying", keys.RETRY))
            if client.zscore(key, customer) is not None
        ]
        in_pending = client.zscore(keys.pending(customer), event["id"]) is not None
        inflight = client.exists(keys.inflight(customer))
        found.append(
            f"{event['id']} status={record.get('status')} customer={customer} "
            f"in={where or ['nowhere']} pending={in_pending} inflight={inflight} "
            f"history={cast(list[str], client.lrange(keys.event_history(event['id']), 0, -1))}"
        )
    return found


CRASHES = ("delivery_crashed", "maintenance_crashed", "Task exception was never retrieved")


def _crashes(worker: WorkerProcess) -> list[str]:
    return [
        f"{worker.log_path.name}: {str(line.get('event'))[:200]}"
        for line in worker.log_lines()
        if str(line.get("event", "")).startswith(CRASHES)
    ]


def _worker_state(worker: WorkerProcess, last: int = 15) -> list[str]:
    """Whether the worker runs, and its last warnings and errors (its whole log is in log_dir)."""
    running = "running" if worker.proc.poll() is None else f"exited {worker.proc.returncode}"
    troubles = [
        f"  {line.get('timestamp', '')} {line.get('level', '')} {line.get('event', '')} "
        f"{ {k: v for k, v in line.items() if k not in ('timestamp', 'level', 'event', 'exception')} }"
        for line in worker.log_lines()
        if line.get("level") in ("warning", "error", "critical") or "raw" in line  # e.g. a traceback
    ]
    return [f"{worker.log_path.name}: {running}, {len(troubles)} warnings/errors", *troubles[-last:]]


def _send_until_answered(web: str, body: bytes, event_id: str) -> tuple[int, str]:
    """Send like a CRM: retry (up to a minute) until the relay answers 2xx. The 2xx status, or
    0 and the last answer (or error) when none came."""
    from relay.demo import signed_headers

    deadline = time.monotonic() + 60
    last = "not sent"
    while time.monotonic() < deadline:
        try:
            answer = post(
                f"{web}/webhooks/generic", body, signed_headers(SECRET, body, msg_id=f"msg_{event_id}")
            )
        except OSError as exc:
            last = repr(exc)
            time.sleep(0.2)
            continue
        if answer.status in (200, 202):
            return answer.status, ""
        last = f"{answer.status} {answer.text}"[:300]
        time.sleep(0.2)
    return 0, last


def _check_exactly_once(
    report: ChaosReport, client: redis.Redis, event_ids: list[str], sim: SimulatorHandle
) -> None:
    # Every write call answered 2xx (PATCH, tag and custom calls), by the delivery's idempotency
    # key (the attribute calls carry it with their kind: `coalesced-…:tags_add`) and the call.
    ok_bodies: dict[tuple[str, str, str], list[Any]] = {}
    for r in sim.requests():
        if r["method"] != "GET" and r["status"] in (200, 204) and r["idempotency_key"]:
            call = (r["idempotency_key"], r["method"], r["path"])
            ok_bodies.setdefault(call, []).append(r["body"])
    ok_keys = Counter(key.split(":")[0] for key, _, _ in ok_bodies)
    report.patches_ok = sum(len(bodies) for bodies in ok_bodies.values())
    for (key, _, _), bodies in ok_bodies.items():
        if len(bodies) > 1:
            harmless = all(body == bodies[0] for body in bodies) and "primary_contact" in bodies[0]
            (report.resent_keys if harmless else report.double_applied_keys).append(key)
    with client.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.hmget(keys.event(event_id), ["status", "idempotency_key"])
        for event_id, (status, idempotency_key) in zip(event_ids, pipe.execute(), strict=True):
            if status == "applied" and idempotency_key not in ok_keys:
                report.applied_without_patch.append(event_id)


def _check_model(
    report: ChaosReport,
    events: list[dict[str, Any]],
    initial_tags: dict[str, list[str]],
    sim: SimulatorHandle,
) -> None:
    for uuid, expected in model(events, initial_tags).items():
        stored = sim.stored_customer(uuid)
        contact = sim.primary_contact(uuid) or {}  # kept apart: never part of the customer
        actual: dict[str, Any] = {"tags": set(stored["attributes"]["tags"])}
        for name in expected:
            if name == "primary_contact":
                actual[name] = {k: contact.get(k) for k in expected[name]}
            elif name != "tags":
                actual[name] = stored.get(name)
        if actual != expected:
            report.mismatched_customers.append(uuid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1, help="429 bursts, worker kills, Redis restarts")
    args = parser.parse_args()
    report = run_chaos(args.events, args.customers, seed=args.seed, rounds=args.rounds)
    print(report.table())
    raise SystemExit(0 if report.clean else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
