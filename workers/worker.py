"""`relay worker`: an RQ worker on the relay's queue, with the delivery runtime beside it.

It is a SimpleWorker (no fork per job), because the runtime's event loop, connection pool
and maintenance loop must outlive each job. SIGTERM is RQ's warm shutdown: the current
delivery run finishes its in-flight calls, then the worker exits.
"""

from __future__ import annotations

import time
import uuid

from rq import SimpleWorker
from rq.serializers import JSONSerializer

from relay.exceptions import StoreUnavailable
from relay.logs import get_logger
from relay.queue import relay_queue, rq_connection, translated
from relay.settings import Settings
from workers import jobs
from workers.runtime import DeliveryRuntime

log = get_logger("relay.worker")
RESTART_DELAY_S = 1.0


class RelayWorker(SimpleWorker):
    """RQ's SimpleWorker, plus: a warm shutdown also stops the running job from claiming more,
    and a loop that Redis ended stops its command listener."""

    runtime: DeliveryRuntime

    def request_stop(self, signum: int, frame: object) -> None:
        self.runtime.stopping.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def unsubscribe(self) -> None:
        """RQ's, with a bounded wait. Its listener polls every 60 s; when it read the reply to
        UNSUBSCRIBE before being stopped, it sleeps out that poll, and redis-py's stop() joins
        it with no timeout: a warm shutdown then took up to a minute (a deployment's grace
        period is 30 s). Stopped, the daemon thread ends by itself; nothing waits on it."""
        if self.pubsub_thread is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        self.pubsub.unsubscribe()
        self.pubsub_thread.stop(timeout=1)
        self.pubsub.close()

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        finally:
            # RQ registers the death, then stops the command listener; with Redis gone the first
            # step raises, and the listener (a thread and a connection) would outlive this loop
            # (run_worker starts another). Stopped, it ends at its next retry.
            if self.pubsub_thread is not None:
                self.pubsub_thread.stop(timeout=1)


def run_worker(settings: Settings, *, burst: bool = False, metrics_port: int | None = None) -> None:
    settings.require_api_key()
    stop_metrics = None
    if metrics_port is not None:  # this process's counters at :metrics_port/metrics
        from relay.metrics import serve_metrics, zero_worker_series

        zero_worker_series()
        stop_metrics = serve_metrics(metrics_port)
    runtime = DeliveryRuntime(settings)
    runtime.start()
    jobs.install_runtime(runtime)
    connection = rq_connection(settings.redis_url)
    try:
        with translated():  # a worker that cannot reach Redis at start says so in one line
            connection.ping()
        log.info(
            "worker_started",
            queue=settings.queue_name,
            concurrency=settings.delivery_concurrency,
            chartmogul=settings.chartmogul_api_base,
        )
        while True:
            try:
                with translated():
                    worker = RelayWorker(
                        [relay_queue(connection, settings.queue_name)],
                        connection=connection,
                        serializer=JSONSerializer,
                        name=f"relay.{runtime.worker_name}.{uuid.uuid4().hex[:6]}",
                    )
                    worker.runtime = runtime
                    worker.work(burst=burst, logging_level=settings.log_level.upper(), with_scheduler=False)
            except StoreUnavailable as exc:
                log.warning("worker_lost_redis", error=exc.cause)
            if burst or runtime.stopping.is_set():
                break
            # RQ gives up on some Redis errors (e.g. while Redis restarts); nothing is lost,
            # since the ledger holds every event. Start over once Redis answers again.
            log.warning("worker_restarting", in_s=RESTART_DELAY_S)
            time.sleep(RESTART_DELAY_S)
        if burst:
            delivered = runtime.run(runtime.drain())
            log.info("burst_drained", customers=delivered)
    finally:
        jobs.install_runtime(None)
        runtime.stop()
        connection.close()
        if stop_metrics is not None:
            stop_metrics()
