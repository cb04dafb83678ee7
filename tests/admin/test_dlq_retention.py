"""Dead letters are kept on a retention of their own (RELAY_DLQ_TTL_S), not the event TTL, and
the age of the oldest is a gauge an alert watches (tests/monitoring has the alert's cases)."""

from __future__ import annotations

from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from relay.app import create_app
from relay.settings import Settings
from relay.store import Store, keys
from tests.admin.helpers import UUID_A, generic_payload, parsed, seed_dead
from tests.cli import relay_cli
from tests.servers import running_web_app
from tests.webhooks import get


def gauges(web: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(get(f"{web}/metrics").text)
        for sample in family.samples
        if sample.name.startswith("relay_dlq_oldest") or sample.name.startswith("relay_dlq_retention")
    }


def test_a_dead_letter_outlives_the_event_ttl_and_its_age_is_exported(
    redis_url: str, relay_settings: Settings, relay_env: dict[str, str], with_store: Any
) -> None:
    settings = relay_settings.model_copy(update={"event_ttl_s": 600, "dlq_ttl_s": 86_400})
    client = redis.Redis.from_url(redis_url)

    async def seed(store: Store) -> None:
        store = Store.from_url(redis_url, event_ttl_s=600, dlq_ttl_s=86_400)
        try:
            await store.ledger.accept(parsed(generic_payload("evt_kept", UUID_A, set={"city": "Oslo"})))
            await seed_dead(store, [parsed(generic_payload("evt_dead", UUID_A, set={"city": "Rome"}))])
        finally:
            await store.aclose()

    with_store(seed)
    with running_web_app(create_app(settings)) as web:
        exported = gauges(web)
    status = relay_cli({**relay_env, "RELAY_DLQ_TTL_S": "86400"}, "status")

    assert 0 < client.ttl(keys.event("evt_kept")) <= 600  # an event: the event TTL
    assert 86_000 < client.ttl(keys.event("evt_dead")) <= 86_400  # a dead letter: its own
    assert 86_000 < client.ttl(keys.event_history("evt_dead")) <= 86_400
    assert exported["relay_dlq_retention_seconds"] == 86_400
    assert 0 <= exported["relay_dlq_oldest_age_seconds"] < 60
    assert "oldest died " in status.stdout and "(kept 1d 0h: RELAY_DLQ_TTL_S)" in status.stdout
    client.close()


def test_with_no_dead_letter_the_oldest_age_is_zero(web: str) -> None:
    assert gauges(web)["relay_dlq_oldest_age_seconds"] == 0
