"""/readyz: Redis reachable, a worker heartbeating, the circuit closed — and which check failed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from relay.app import create_app
from relay.settings import Settings
from tests.servers import running_web_app
from tests.webhooks import get


@pytest.fixture
def heartbeat(redis_url: str) -> Iterator[None]:
    """A worker registered on the relay queue, as `relay worker` registers itself."""
    client = redis.Redis.from_url(redis_url)
    worker = Worker(
        [Queue("relay", connection=client, serializer=JSONSerializer)], connection=client, name="ready-test"
    )
    worker.register_birth()
    yield
    worker.register_death()
    client.close()


def test_ready_with_redis_a_worker_and_a_closed_circuit(web: str, heartbeat: None) -> None:
    ready = get(f"{web}/readyz")

    assert ready.status == 200
    assert ready.body == {"status": "ready", "checks": {"redis": "ok", "workers": "ok", "circuit": "ok"}}


def test_not_ready_without_a_worker_says_so(web: str) -> None:
    answer = get(f"{web}/readyz")

    assert answer.status == 503
    assert answer.body["checks"] == {
        "redis": "ok",
        "workers": "no worker heartbeat on the queue",
        "circuit": "ok",
    }


def test_not_ready_while_the_circuit_is_open(web: str, heartbeat: None, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset("relay:circuit", mapping={"state": "open", "since_ms": 1, "reason": "401"})
    client.close()

    answer = get(f"{web}/readyz")

    assert answer.status == 503
    assert answer.body["checks"]["circuit"].startswith("open")
    assert answer.body["checks"]["workers"] == "ok"


def test_a_probe_can_ask_for_some_checks_only(web: str) -> None:
    redis_only = get(f"{web}/readyz?check=redis")
    two = get(f"{web}/readyz?check=redis&check=circuit")
    unknown = get(f"{web}/readyz?check=disk")

    assert redis_only.status == 200 and redis_only.body["checks"] == {"redis": "ok"}
    assert two.status == 200 and set(two.body["checks"]) == {"redis", "circuit"}
    assert unknown.status == 400 and "unknown check" in unknown.body["error"]


def test_redis_down_fails_every_check_without_a_500(relay_settings: Settings) -> None:
    settings = relay_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})

    with running_web_app(create_app(settings)) as base_url:
        answer = get(f"{base_url}/readyz")

    assert answer.status == 503
    assert answer.body["checks"]["redis"].startswith("unreachable")
    assert answer.body["checks"]["workers"].startswith("unknown")
    assert answer.body["checks"]["circuit"].startswith("unknown")
