"""The RQ queue: the one module (beside the worker entry point) that speaks RQ.

Wake-ups: the store (relay:ready) is the source of truth for what needs delivering; an RQ job
only wakes a worker up. Losing one is harmless: each worker's maintenance loop enqueues a new
one whenever customers are ready and the queue is empty.

The dead-letter mirror: each dead event also gets a job in the queue's FailedJobRegistry,
written by the store in the same atomic call that dead-letters it, so rq-dashboard lists it:

    job id        dlq-<event id, escaped>  (rq 3 allows only [A-Za-z0-9_-] in job ids)
    function      workers.jobs.redeliver_event(event_id)
    description   "dead letter <event id>: <reason> (<http status>) <error>"

The dashboard's "Requeue" enqueues that job; a worker runs it, which replays the event (as
stored) and wakes delivery. "Delete" removes the job only: the event stays in the relay's DLQ
(`relay dlq purge` removes it there). Replaying or purging through the relay removes the job.
The job is built with rq's own Job.to_dict, so the hash is what rq itself would save.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue as Queue  # re-exported: callers name the type without importing rq
from rq import Worker, requeue_job
from rq.exceptions import InvalidJobOperation as InvalidJobOperation
from rq.exceptions import NoSuchJobError as NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer as JSONSerializer  # re-exported for rq-dashboard's config

from relay.exceptions import StoreError, StoreUnavailable, store_error
from relay.logs import get_logger

log = get_logger("relay.queue")

DELIVER_READY = "workers.jobs.deliver_ready"
REDELIVER_EVENT = "workers.jobs.redeliver_event"
JOB_TIMEOUT_S = 300
RESULT_TTL_S = 600
FAILURE_TTL_S = 7 * 24 * 3600
REDELIVER_TIMEOUT_S = 60
MAX_WAITING_WAKEUPS = 16
# Under load wake-ups are asked for continuously; one every this many seconds is enough (each
# is a thread hop, which stalls the event loop on the GIL, and a Redis call or two: back to back
# they took ~10 % of the web process).
WAKE_INTERVAL_S = 0.05


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """RQ's calls raise redis-py's errors; the relay's (StoreError) come out instead, as from
    the store. Every function here that reaches Redis runs under it; so does the RQ worker loop
    (workers/worker.py)."""
    try:
        yield
    except (redis.RedisError, OSError) as exc:
        raise store_error(exc) from exc


def redis_failure(exc: BaseException) -> StoreError | None:
    """The relay's error for one of redis-py's raised inside RQ or rq-dashboard; None otherwise."""
    return store_error(exc) if isinstance(exc, redis.RedisError) else None


def rq_connection(redis_url: str) -> redis.Redis:
    """RQ needs a bytes-mode client of its own (it pickles nothing: jobs are JSON)."""
    return redis.Redis.from_url(redis_url, health_check_interval=15, socket_keepalive=True)


def relay_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


@translated()
def enqueue_wakeup(queue: Queue, *, max_waiting: int = MAX_WAITING_WAKEUPS) -> bool:
    """Enqueue one wake-up unless `max_waiting` are already waiting (they would only no-op)."""
    if queue.count >= max_waiting:
        return False
    queue.enqueue(
        DELIVER_READY,
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
        description="deliver ready customers",
    )
    return True


async def wake(queue: Queue) -> None:
    """Wake a worker from async code; a failure is only logged (maintenance loops cover it)."""
    try:
        await asyncio.to_thread(enqueue_wakeup, queue)
    except StoreUnavailable as exc:
        log.warning("wakeup_failed", error=exc.cause)


class Waker:
    """Wake-ups off the request path: at most one enqueue in flight; the wake-ups asked for
    meanwhile coalesce into one more. The events are durable before a wake-up is asked for."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def wake(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._enqueue())

    async def _enqueue(self) -> None:
        while True:
            self._again = False
            await wake(self.queue)
            if not self._again:
                return
            await asyncio.sleep(WAKE_INTERVAL_S)

    async def aclose(self) -> None:
        if self._task is not None:
            await self._task


def finished_meanwhile(exc: BaseException) -> bool:
    """rq's error when a running job ends while it is being deleted: rq lists the job's
    executions, then finds one's record gone (rq 3 raises a plain ValueError)."""
    text = str(exc) if isinstance(exc, ValueError) else ""
    return text.startswith("Execution ") and text.endswith(" not found in Redis")


@translated()
def queue_length(queue: Queue) -> int:
    return int(queue.count)


@translated()
def compact(connection: redis.Redis, queue_name: str) -> None:
    """Drop expired job ids from the queue; an empty queue (no list in Redis) has none."""
    try:
        relay_queue(connection, queue_name).compact()  # type: ignore[no-untyped-call]
    except redis.ResponseError as exc:  # rq RENAMEs the list, which an empty queue does not have
        if "no such key" not in str(exc).lower():
            raise


@translated()
def requeue_failed(connection: redis.Redis, queue_name: str) -> int:
    """Requeue every failed job of the queue (the dashboard's "requeue all"); how many were."""
    registry = FailedJobRegistry(queue_name, connection=connection, serializer=JSONSerializer)
    count = 0
    for job_id in registry.get_job_ids(cleanup=False):
        try:
            requeue_job(job_id, connection=connection, serializer=JSONSerializer)
        except (NoSuchJobError, InvalidJobOperation):
            continue  # expired, or requeued by someone else since the listing
        count += 1
    return count


# --- workers -----------------------------------------------------------------------------


@dataclass(slots=True)
class WorkerInfo:
    name: str
    state: str
    last_heartbeat: str | None
    current_job: str | None
    successful_jobs: int
    failed_jobs: int


@translated()
def read_workers(queue: Queue) -> list[WorkerInfo]:
    """The queue's workers from RQ's registry: only those whose heartbeat key has not expired."""
    workers = []
    for worker in Worker.all(queue=queue, serializer=JSONSerializer):
        heartbeat: datetime | None = worker.last_heartbeat
        workers.append(
            WorkerInfo(
                name=worker.name,
                state=str(worker.get_state()),
                last_heartbeat=heartbeat.isoformat() if heartbeat else None,
                current_job=worker.get_current_job_id(),
                successful_jobs=worker.successful_job_count,
                failed_jobs=worker.failed_job_count,
            )
        )
    return sorted(workers, key=lambda w: w.name)


def dashboard_worker_rows(connection: redis.Redis, serialize_job: Any) -> list[dict[str, Any]]:
    """rq-dashboard's workers.json rows, read with the relay's JSON serializer (see
    relay/admin/dashboard.py for why upstream's own listing fails on rq 3)."""
    rows = [
        {
            "name": worker.name,
            "pid": worker.pid,
            "queues": [queue.name for queue in worker.queues],
            "state": str(worker.get_state()),
            "current_job": serialize_job(worker.get_current_job()),
            "last_heartbeat": worker.last_heartbeat,
            "birth_date": worker.birth_date,
            "successful_job_count": worker.successful_job_count,
            "failed_job_count": worker.failed_job_count,
            "total_working_time": worker.total_working_time,
            "version": getattr(worker, "version", ""),
            "python_version": getattr(worker, "python_version", ""),
        }
        for worker in Worker.all(connection=connection, serializer=JSONSerializer)
    ]
    rows.sort(key=lambda w: (w["state"], w["queues"], w["name"]))
    return rows


# --- the dead-letter mirror ------------------------------------------------------------

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_ESCAPES = {"_": "__", ".": "_d", ":": "_c"}
_UNESCAPES = {"_": "_", "d": ".", "c": ":"}
JOB_ID_PREFIX = "dlq-"
# Job.create wants a connection; building a job's hash never uses it (it never connects).
_UNUSED_CONNECTION = redis.Redis()


def mirror_job_id(event_id: str) -> str:
    """`evt_01` → `dlq-evt__01`; `hubspot:42.1` → `dlq-hubspot_c42_d1`; reversible."""
    out = []
    for char in event_id:
        if char in _SAFE:
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        else:
            out.append("".join(f"_x{byte:02x}" for byte in char.encode()))
    return JOB_ID_PREFIX + "".join(out)


def mirrored_event_id(job_id: str) -> str | None:
    """The event id a mirror job stands for; None if it is not a mirror job id."""
    if not job_id.startswith(JOB_ID_PREFIX):
        return None
    text, out, i = job_id[len(JOB_ID_PREFIX) :], bytearray(), 0
    while i < len(text):
        char = text[i]
        if char != "_":
            out += char.encode()
            i += 1
        elif text[i + 1 : i + 2] in _UNESCAPES:
            out += _UNESCAPES[text[i + 1]].encode()
            i += 2
        elif text[i + 1 : i + 2] == "x" and len(text) >= i + 4:
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            return None
    return out.decode(errors="replace")


def describe(event_id: str, fields: Mapping[str, Any]) -> str:
    reason = fields.get("reason") or "dead"
    status = f" ({fields['http_status']})" if fields.get("http_status") else ""
    error = str(fields.get("error") or "")[:300]
    return f"dead letter {event_id}: {reason}{status} {error}".rstrip()


@dataclass(frozen=True, slots=True)
class DeadLetterMirror:
    """Where and how a queue's dead letters are mirrored as failed RQ jobs."""

    queue_name: str
    ttl_s: int

    @property
    def registry_key(self) -> str:
        return str(FailedJobRegistry.key_template.format(self.queue_name))

    def job_key(self, event_id: str) -> str:
        return str(Job.key_for(mirror_job_id(event_id)))

    def job(self, event_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The failed job's hash, as rq would save it."""
        job = Job.create(
            REDELIVER_EVENT,
            args=[event_id],
            connection=_UNUSED_CONNECTION,
            id=mirror_job_id(event_id),
            origin=self.queue_name,
            description=describe(event_id, fields),
            serializer=JSONSerializer,
            result_ttl=0,
            failure_ttl=self.ttl_s,
            timeout=REDELIVER_TIMEOUT_S,
            status=JobStatus.FAILED,
        )
        job.ended_at = datetime.now(UTC)
        return {
            k: (v.value if isinstance(v, JobStatus) else v)
            for k, v in job.to_dict(include_meta=False).items()
        }
