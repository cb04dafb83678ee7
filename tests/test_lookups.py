"""Look-ups by external_id and email against the simulator's cursor pages, what an ambiguous
match does to an event, and ChartMogul's text/plain 5xx pages through the client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import pytest
import redis as redis_sync
from pydantic import SecretStr

from relay.chartmogul.client import LOOKUP_PER_PAGE, ChartMogulClient, parse_error_message
from relay.exceptions import Transient
from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from tests.conftest import GENERIC_SECRET, SIM_API_KEY
from tests.servers import WorkerProcess, wait_for
from tests.webhooks import send_generic

T = TypeVar("T")


def with_client(simulator: SimulatorHandle, work: Callable[[ChartMogulClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with aiohttp.ClientSession() as session:
            client = ChartMogulClient(session, base_url=simulator.base_url, api_key=SecretStr(SIM_API_KEY))
            return await work(client)

    return asyncio.run(main())


def list_calls(simulator: SimulatorHandle, path: str) -> list[dict[str, Any]]:
    return [r for r in simulator.requests() if r["method"] == "GET" and r["path"] == path]


def test_a_look_up_by_external_id_follows_every_page(simulator: SimulatorHandle) -> None:
    # one external_id in many data sources: ChartMogul keeps it unique per data source only
    made = [
        simulator.add_customer({"external_id": "crm-dup", "data_source_uuid": f"ds_{i}"})["uuid"]
        for i in range(2 * LOOKUP_PER_PAGE + 50)
    ]
    simulator.add_customer({"external_id": "crm-other"})

    found = with_client(simulator, lambda client: client.find_by_external_id("crm-dup"))

    assert sorted(c["uuid"] for c in found) == sorted(made)
    calls = list_calls(simulator, "/v1/customers")
    assert len(calls) == 3
    assert all(call["query"]["per_page"] == str(LOOKUP_PER_PAGE) for call in calls)
    assert "cursor" not in calls[0]["query"] and all(call["query"]["cursor"] for call in calls[1:])


def test_a_search_by_email_follows_every_page_and_none_is_empty(simulator: SimulatorHandle) -> None:
    made = {simulator.add_customer({"email": "shared@corp.test"})["uuid"] for _ in range(LOOKUP_PER_PAGE + 1)}

    found = with_client(simulator, lambda client: client.search_by_email("SHARED@corp.test"))
    nobody = with_client(simulator, lambda client: client.search_by_email("nobody@corp.test"))

    assert {c["uuid"] for c in found} == made and len(found) == len(made)
    assert nobody == []
    assert len(list_calls(simulator, "/v1/customers/search")) == 3  # two pages, then the 404


def test_several_matching_customers_dead_letter_the_event_naming_the_candidates(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str]
) -> None:
    # As recorded (chartmogul-ruby _find_by_external_id/returns_matching_user_if_exists.yml):
    # one external_id, two customers in two data sources.
    first = simulator.add_customer({"external_id": "crm-twice", "data_source_uuid": "ds_a"})
    second = simulator.add_customer({"external_id": "crm-twice", "data_source_uuid": "ds_b"})
    event = {
        "id": "evt_twice",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "customer": {"external_id": "crm-twice"},
        "set": {"city": "Nowhere"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)
    wait_for(lambda: client.hget(keys.event("evt_twice"), "status") == "dead")
    reason, error = client.hmget(keys.event("evt_twice"), "reason", "error")
    client.close()
    assert reason == "customer_not_found"
    assert error is not None and "ambiguous: 2 ChartMogul customers match" in error
    assert first["uuid"] in error and second["uuid"] in error
    # neither candidate was written to
    assert not [r for r in simulator.requests() if r["method"] == "PATCH"]
    assert simulator.stored_customer(first["uuid"])["city"] is None


@pytest.mark.parametrize(
    ("status", "page"), [(500, "500 Internal Server Error"), (504, "504 Gateway Timeout Error")]
)
def test_a_proxy_5xx_page_is_transient_with_its_text(
    simulator: SimulatorHandle, status: int, page: str
) -> None:
    customer = simulator.add_customer({"company": "Proxy Co"})
    simulator.set_faults(status=status)

    async def call(client: ChartMogulClient) -> Transient:
        with pytest.raises(Transient) as caught:
            await client.get_customer(customer["uuid"])
        return caught.value

    error = with_client(simulator, call)

    assert error.status == status
    assert error.body == page
    assert error.message.endswith(f"→ {status}: {page}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("504 Gateway Timeout Error", "504 Gateway Timeout Error"),
        ("500 Internal Server Error\n", "500 Internal Server Error"),
        ("<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"),
        ("", "no error message"),
    ],
)
def test_the_error_parser_shows_text_pages_as_they_are(body: str, message: str) -> None:
    assert parse_error_message(body) == message
