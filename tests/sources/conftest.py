"""Fixtures for the CRM sources: the shared relay environment with every CRM's secret set, and
a factory for web apps with other settings (a source disabled, a public base URL, a mapping dir)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import redis

from relay.app import create_app
from relay.settings import Settings
from relay.store import keys
from tests.servers import running_web_app
from tests.sources.senders import (
    CLOSE_KEY,
    HUBSPOT_SECRET,
    PIPEDRIVE_PASSWORD,
    PIPEDRIVE_USER,
    SALESFORCE_ORG_ID,
)

CRM_SECRETS = {
    "RELAY_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
    "RELAY_PIPEDRIVE_BASIC_AUTH": f"{PIPEDRIVE_USER}:{PIPEDRIVE_PASSWORD}",
    "RELAY_SALESFORCE_ORG_ID": SALESFORCE_ORG_ID,
    "RELAY_CLOSE_SIGNATURE_KEY": CLOSE_KEY,
}


@pytest.fixture
def relay_env(relay_env: dict[str, str]) -> dict[str, str]:
    """The shared relay environment plus every CRM source's secret."""
    return {**relay_env, **CRM_SECRETS}


def settings_from_env(env: dict[str, str]) -> Settings:
    fields = {name.removeprefix("RELAY_").lower(): value for name, value in env.items()}
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg, arg-type]


@pytest.fixture
def start_web(relay_env: dict[str, str]) -> Iterator[Callable[..., str]]:
    """start_web(RELAY_X="…", RELAY_Y=None) -> base URL of a web app with those settings changed
    (None removes a setting)."""
    with ExitStack() as stack:

        def start(**changes: str | None) -> str:
            env = {**relay_env, **changes}
            settings = settings_from_env({k: v for k, v in env.items() if v is not None})
            return stack.enter_context(running_web_app(create_app(settings)))

        yield start


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def stored_event_ids(client: redis.Redis) -> list[str]:
    """Every event the ledger holds (its time index and its records)."""
    indexed = [str(e) for e in client.zrange(keys.EVENTS, 0, -1)]
    prefix = keys.event("")
    records = [str(k).removeprefix(prefix) for k in client.scan_iter(keys.event("*"))]
    return sorted(set(indexed) | {r for r in records if not r.endswith(":history")})
