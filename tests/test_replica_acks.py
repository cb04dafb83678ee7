"""RELAY_REDIS_REPLICA_ACKS: the web app answers 2xx only once Redis WAIT says enough replicas
hold the write, and 503 (the CRM retries) when they do not in time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from relay.app import create_app
from relay.settings import Settings
from tests.conftest import GENERIC_SECRET
from tests.failover import redis_pair
from tests.servers import event_record, running_web_app
from tests.webhooks import send_generic

UUID = "cus_00000000-0000-4000-8000-0000000000ab"


def event(event_id: str) -> dict[str, object]:
    return {
        "id": event_id,
        "occurred_at": "2026-11-20T10:00:00Z",
        "customer": {"uuid": UUID},
        "set": {"city": "Oslo"},
    }


@contextmanager
def web_app(redis_url: str, acks: int, *, timeout_ms: int = 100) -> Iterator[str]:
    """`timeout_ms`: short where no replica can confirm; long where one must, so a busy machine
    does not turn a confirmation into a 503."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        redis_url=redis_url,
        generic_secret=GENERIC_SECRET,  # type: ignore[arg-type]
        redis_replica_acks=acks,
        redis_replica_ack_timeout_ms=timeout_ms,
    )
    with running_web_app(create_app(settings)) as base_url:
        yield base_url


@pytest.fixture
def primary_with_replica() -> Iterator[str]:
    with redis_pair() as (primary_port, _, _):
        yield f"redis://127.0.0.1:{primary_port}/0"


def test_a_write_no_replica_confirms_is_answered_503_and_its_retry_too(redis_url: str) -> None:
    assert redis.Redis.from_url(redis_url).info("replication")["connected_slaves"] == 0
    with web_app(redis_url, acks=1) as web:
        first = send_generic(web, GENERIC_SECRET, event("evt_r1"))
        retry = send_generic(web, GENERIC_SECRET, event("evt_r1"))

        assert first.status == 503
        assert "replicas" in first.body["error"]
        assert event_record(redis_url, "evt_r1")["status"] == "queued"  # the primary has it
        # The retry is a duplicate on the primary, and still unconfirmed: not acknowledged either.
        assert retry.status == 503


def test_a_write_the_replica_confirms_is_answered_2xx_even_after_a_script_flush(
    primary_with_replica: str,
) -> None:
    with web_app(primary_with_replica, acks=1, timeout_ms=5000) as web:
        assert send_generic(web, GENERIC_SECRET, event("evt_r2")).status == 202
        # A new primary after a failover has no scripts loaded: the relay loads its own again.
        redis.Redis.from_url(primary_with_replica).script_flush()
        assert send_generic(web, GENERIC_SECRET, event("evt_r3")).status == 202
        assert send_generic(web, GENERIC_SECRET, event("evt_r3")).status == 200  # duplicate, confirmed


def test_two_acks_with_one_replica_is_503(primary_with_replica: str) -> None:
    with web_app(primary_with_replica, acks=2) as web:
        assert send_generic(web, GENERIC_SECRET, event("evt_r4")).status == 503
