"""The official `chartmogul` Python client (v4) against the simulator."""

from __future__ import annotations

from typing import Any

import chartmogul  # type: ignore[import-untyped]
import orjson
import pytest

from relay.simulator.testing import SimulatorHandle
from tests.simulator.conftest import CUSTOMER_UUID


def _config(sim: SimulatorHandle, api_key: str | None = None) -> chartmogul.Config:
    config = chartmogul.Config(api_key or sim.api_key, request_timeout=5, max_retries=0)
    # the client keeps its base URI as a class attribute; point this instance at the simulator
    config.uri = sim.base_url + "/v1"
    return config


def test_ping(sim: SimulatorHandle) -> None:
    assert chartmogul.Ping.ping(_config(sim)).get().data == "pong!"


def test_retrieve(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    got = chartmogul.Customer.retrieve(_config(sim), uuid=CUSTOMER_UUID).get()

    assert got.uuid == CUSTOMER_UUID
    assert got.company == "Example Company"
    assert got.state == "CA"
    assert got.address.city == "San Francisco"
    assert got.attributes.tags == ["high-value"]
    assert got.attributes.custom == {"CAC": 25, "SalesRep": "Mike"}
    assert got.lead_created_at.year == 2023
    assert got.mrr == 3000
    assert got.billing_system_type == "Custom"


def test_modify_with_the_seed_page_example(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    sim.add_custom_attribute("channel", "String")
    data = {
        "lead_created_at": "2023-01-01 00:00:00",
        "free_trial_started_at": "2023-06-13 15:45:13",
        "city": "San Francisco",
        "country": "US",
        "state": "US-CA",
        "attributes": {
            "tags": ["high-value"],
            "custom": {"CAC": 25, "channel": {"value": "Twitter", "source": "integration2"}},
        },
        "website_url": "https://example.com",
    }

    updated = chartmogul.Customer.modify(_config(sim), uuid=CUSTOMER_UUID, data=data).get()

    assert updated.state == "CA"
    assert updated.attributes.custom == {"CAC": 25, "channel": "Twitter"}
    assert updated.free_trial_started_at.hour == 15
    assert sim.customer(CUSTOMER_UUID)["attributes"]["custom"] == {"CAC": 25, "channel": "Twitter"}


def test_modify_breaking_a_rule_raises_with_the_400_body(
    sim: SimulatorHandle, customer: dict[str, Any]
) -> None:
    with pytest.raises(chartmogul.APIError) as raised:
        chartmogul.Customer.modify(_config(sim), uuid=CUSTOMER_UUID, data={"status": "Active"}).get()

    assert raised.value.__cause__.response.status_code == 400
    assert orjson.loads(raised.value.args[0])["param"] == "status"
    assert sim.customer(CUSTOMER_UUID)["status"] == "New Lead"


def test_a_wrong_key_raises_with_the_401_body(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    with pytest.raises(chartmogul.APIError) as raised:
        chartmogul.Customer.retrieve(_config(sim, "wrong"), uuid=CUSTOMER_UUID).get()

    assert orjson.loads(raised.value.args[0]) == {
        "code": 401,
        "message": "No valid API key provided",
        "param": None,
    }


def test_look_ups(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    config = _config(sim)

    by_external_id = chartmogul.Customer.all(config, external_id="34916129").get()
    by_email = chartmogul.Customer.search(config, email="ben@example.com").get()

    assert [entry.uuid for entry in by_external_id.entries] == [CUSTOMER_UUID]
    assert by_external_id.has_more is False
    assert [entry.uuid for entry in by_email.entries] == [CUSTOMER_UUID]


def test_tags_and_custom_attributes(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    config = _config(sim)

    added = chartmogul.Tags.add(config, uuid=CUSTOMER_UUID, data={"tags": ["vip"]}).get()
    removed = chartmogul.Tags.remove(config, uuid=CUSTOMER_UUID, data={"tags": ["high-value"]}).get()
    custom = chartmogul.CustomAttributes.add(
        config, uuid=CUSTOMER_UUID, data={"custom": [{"type": "String", "key": "region", "value": "EMEA"}]}
    ).get()

    assert added.tags == ["high-value", "vip"]
    assert removed.tags == ["vip"]
    assert custom.custom == {"CAC": 25, "SalesRep": "Mike", "region": "EMEA"}
