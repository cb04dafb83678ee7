"""Dead letters mirrored as failed RQ jobs, so rq-dashboard lists them beside the relay's queue.

The relay's DLQ (relay:dlq and the event records) is the truth; the mirror is a view of it.
Each dead event gets a job in the relay queue's FailedJobRegistry, written in the same
transaction that dead-letters it (Ledger.settle):

    job id        dlq-<event id, escaped>  (rq 3 allows only [A-Za-z0-9_-] in job ids)
    function      workers.jobs.redeliver_event(event_id)
    description   "dead letter <event id>: <reason> (<http status>) <error>"

The dashboard's "Requeue" enqueues that job; a worker runs it, which replays the event (as
stored) and wakes delivery. "Delete" removes the job only: the event stays in the relay's DLQ
(`relay dlq purge` removes it there). Replaying or purging through the relay removes the job.

The job is built with rq's own Job.to_dict, so the hash is what rq itself would save.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

REDELIVER_EVENT = "workers.jobs.redeliver_event"
JOB_ID_PREFIX = "dlq-"
REDELIVER_TIMEOUT_S = 60
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_ESCAPES = {"_": "__", ".": "_d", ":": "_c"}
_UNESCAPES = {"_": "_", "d": ".", "c": ":"}
# Job.create wants a connection; building a job's hash never uses it (it never connects).
_UNUSED_CONNECTION = redis.Redis()


def job_id(event_id: str) -> str:
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


def event_id(mirror_job_id: str) -> str | None:
    """The event id a mirror job stands for; None if it is not a mirror job id."""
    if not mirror_job_id.startswith(JOB_ID_PREFIX):
        return None
    text, out, i = mirror_job_id[len(JOB_ID_PREFIX) :], bytearray(), 0
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


def job_key(mirror_job_id: str) -> str:
    return str(Job.key_for(mirror_job_id))


def registry_key(queue_name: str) -> str:
    return FailedJobRegistry.key_template.format(queue_name)


def describe(event_id: str, fields: Mapping[str, Any]) -> str:
    reason = fields.get("reason") or "dead"
    status = f" ({fields['http_status']})" if fields.get("http_status") else ""
    error = str(fields.get("error") or "")[:300]
    return f"dead letter {event_id}: {reason}{status} {error}".rstrip()


def dead_letter_job(
    event_id: str, fields: Mapping[str, Any], *, queue_name: str, ttl_s: int
) -> tuple[str, dict[str, Any], str, float]:
    """(job key, job hash, failed registry key, registry score) for one dead event."""
    job = Job.create(
        REDELIVER_EVENT,
        args=[event_id],
        connection=_UNUSED_CONNECTION,
        id=job_id(event_id),
        origin=queue_name,
        description=describe(event_id, fields),
        serializer=JSONSerializer,
        result_ttl=0,
        failure_ttl=ttl_s,
        timeout=REDELIVER_TIMEOUT_S,
        status=JobStatus.FAILED,
    )
    job.ended_at = datetime.now(UTC)
    mapping = {
        k: (v.value if isinstance(v, JobStatus) else v) for k, v in job.to_dict(include_meta=False).items()
    }
    return str(job.key), mapping, registry_key(queue_name), time.time() + ttl_s


def remove_commands(event_id: str, queue_name: str) -> tuple[str, str, str]:
    """(job key, failed registry key, job id): DEL the first, ZREM the id from the second."""
    mirror_id = job_id(event_id)
    return job_key(mirror_id), registry_key(queue_name), mirror_id
