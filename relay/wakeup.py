"""Wake-up jobs: the RQ jobs that tell a worker "customers are ready, deliver them".

The ledger (relay:ready) is the source of truth for what needs delivering; an RQ job only
wakes a worker up. Losing one is harmless: each worker's maintenance loop enqueues a new one
whenever customers are ready and the queue is empty.
"""

from __future__ import annotations

import asyncio

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from relay.logs import get_logger

log = get_logger("relay.wakeup")

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
            try:
                await asyncio.to_thread(enqueue_wakeup, self.queue)
            except redis.RedisError as exc:
                # Harmless: a worker's maintenance loop notices ready customers by itself.
                log.warning("wakeup_failed", error=type(exc).__name__)
            if not self._again:
                return

    async def aclose(self) -> None:
        if self._task is not None:
            await self._task
