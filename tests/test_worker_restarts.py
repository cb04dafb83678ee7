"""A worker outlives Redis going away: `relay worker` starts its RQ loop over (workers/worker.py)
and must leave nothing of the old loop behind. RQ ends a loop by registering the worker's death
and then unsubscribing its command listener; with Redis gone the first step fails, and the
listener (a thread and a Redis connection, retrying every 2 s) stayed: one more per outage."""

from __future__ import annotations

import pytest
import redis as redis_sync
from rq.serializers import JSONSerializer

from relay.queue import relay_queue, rq_connection
from tests.servers import own_redis, wait_for
from workers.worker import RelayWorker


def test_a_worker_loop_ended_by_a_redis_outage_stops_its_command_listener() -> None:
    with own_redis() as (redis_url, _restart):
        connection = rq_connection(redis_url)
        worker = RelayWorker(
            [relay_queue(connection, "relay")],
            connection=connection,
            serializer=JSONSerializer,
            name="relay.test.listener",
        )
        worker.subscribe()  # type: ignore[no-untyped-call]
        listener = worker.pubsub_thread
        assert listener is not None and listener.is_alive()
        try:
            redis_sync.Redis.from_url(redis_url).shutdown(nosave=True)  # the Redis host is gone
            with pytest.raises(redis_sync.ConnectionError):
                worker.teardown()  # what RQ runs when its loop ends: registering the death fails

            wait_for(lambda: not listener.is_alive(), timeout_s=10)
        finally:
            listener.stop()
            connection.close()
