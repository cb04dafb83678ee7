"""Fixtures over real parts: Redis (its own db, flushed), the simulator, the web app, workers."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from relay.app import create_app
from relay.settings import Settings
from relay.simulator.testing import SimulatorHandle, running_simulator
from relay.store import Store
from tests.servers import WorkerProcess, running_web_app


# Tests own one Redis database and flush it around each test.
def _test_redis_url() -> str:
    """The test db; under `pytest -n N` each worker (gw0, gw1, …) takes the next db up, so no two
    flush each other's state."""
    url = os.environ.get("RELAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, db = url.rpartition("/")
    return f"{base}/{int(db or 0) + int(worker[2:])}"


TEST_REDIS_URL = _test_redis_url()
GENERIC_SECRET = "whsec_" + base64.b64encode(b"relay-test-generic-secret-0123456789").decode()
SIM_API_KEY = "sim_test_key_7f3a9c"


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield TEST_REDIS_URL
    client.flushdb()
    client.close()


T = TypeVar("T")


@pytest.fixture
def with_store(redis_url: str) -> Callable[[Callable[[Store], Awaitable[T]]], T]:
    """Run `work(store)` on a fresh event loop with a Store on the (flushed) test Redis."""

    def run(work: Callable[[Store], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            store = Store.from_url(redis_url)
            try:
                return await work(store)
            finally:
                await store.aclose()

        return asyncio.run(main())

    return run


@pytest.fixture
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(api_key=SIM_API_KEY) as sim:
        yield sim


@pytest.fixture
def relay_env(redis_url: str, simulator: SimulatorHandle) -> dict[str, str]:
    """Environment of a relay wired to the test Redis and the simulator, with fast retries."""
    return {
        "RELAY_REDIS_URL": redis_url,
        "CHARTMOGUL_API_BASE": simulator.base_url,
        "CHARTMOGUL_API_KEY": SIM_API_KEY,
        "RELAY_GENERIC_SECRET": GENERIC_SECRET,
        "RELAY_RETRY_BASE_S": "0.05",
        "RELAY_RETRY_CAP_S": "0.3",
        "RELAY_RETRY_DEADLINE_S": "30",
        "RELAY_MAINTENANCE_INTERVAL_S": "0.2",
        "RELAY_HTTP_TIMEOUT_S": "2",
        "RELAY_LOG_FORMAT": "json",
    }


def settings_from(env: dict[str, str]) -> Settings:
    """The settings a process started with `env` reads (and nothing from `.env`)."""
    fields = {name.removeprefix("RELAY_").lower(): value for name, value in env.items()}
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg,arg-type]


@pytest.fixture
def relay_settings(relay_env: dict[str, str]) -> Settings:
    return settings_from(relay_env)


@pytest.fixture
def web(relay_settings: Settings) -> Iterator[str]:
    with running_web_app(create_app(relay_settings)) as base_url:
        yield base_url


@pytest.fixture
def start_worker(relay_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*args: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess({**relay_env, **env}, tmp_path / f"worker-{len(started)}.log", *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(start_worker: Callable[..., WorkerProcess]) -> WorkerProcess:
    return start_worker()
