"""Wake-up jobs: the RQ jobs that tell a worker "customers are ready, deliver them".

The ledger (relay:ready) is the source of truth for what needs delivering; an RQ job only
wakes a worker up. Losing one is harmless: each worker's maintenance loop enqueues a new one
whenever customers are ready and the queue is empty.
"""

from __future__ import annotations

import redis
from rq import Queue
from rq.serializers import JSONSerializer

DELIVER_READY = "workers.jobs.deliver_ready"
JOB_TIMEOUT_S = 300
RESULT_TTL_S = 600
FAILURE_TTL_S = 7 * 24 * 3600


def rq_connection(redis_url: str) -> redis.Redis:
    """RQ needs a bytes-mode client of its own (it pickles nothing: jobs are JSON)."""
    return redis.Redis.from_url(redis_url, health_check_interval=15, socket_keepalive=True)


def relay_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def enqueue_wakeup(queue: Queue, *, max_waiting: int = 16) -> bool:
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
