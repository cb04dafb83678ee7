"""Fixtures: a live simulator per test (real HTTP on loopback) and a baseline customer."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from relay.simulator.testing import SimulatorHandle, running_simulator

OWNER = "owner@example.com"
OTHER_OWNER = "second.owner@example.com"
CUSTOMER_UUID = "cus_ab223d54-75b4-431b-adb2-eb6b9e234571"
DATA_SOURCE_UUID = "ds_fef05d54-47b4-431b-aed2-eb6b9e545430"

# The seed page's example customer, as a simulator customer.
BASE_CUSTOMER: dict[str, Any] = {
    "id": 12150249,
    "uuid": CUSTOMER_UUID,
    "data_source_uuid": DATA_SOURCE_UUID,
    "external_id": "34916129",
    "name": "Ben",
    "email": "ben@example.com",
    "company": "Example Company",
    "city": "San Francisco",
    "country": "US",
    "state": "CA",
    "zip": "99801",
    "lead_created_at": "2023-01-01T00:00:00.000Z",
    "free_trial_started_at": "2023-06-13T15:45:13.000Z",
    "customer-since": "2023-06-19T13:16:00-04:00",
    "status": "New Lead",
    "attributes": {"tags": ["high-value"], "custom": {"CAC": 25, "SalesRep": "Mike"}, "stripe": {}},
    "mrr": 3000,
    "arr": 36000,
    "owner": OWNER,
    "website_url": "https://example.com",
    "primary_contact": {"first_name": "Ben", "last_name": "Smith", "email": "ben@example.com"},
}

CUSTOM_ATTRIBUTES = {"CAC": "Integer", "SalesRep": "String", "channel": "String", "enterprise": "Boolean"}


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """A fresh simulator without rate limit, so many tests in a row never see 429."""
    with running_simulator(rate_limit_per_s=float("inf")) as handle:
        yield handle


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., SimulatorHandle]]:
    """Start simulators with other settings (`running_simulator` keywords); stopped after the test."""
    with ExitStack() as stack:

        def start(**kw: Any) -> SimulatorHandle:
            return stack.enter_context(running_simulator(**kw))

        yield start


@pytest.fixture
def customer(sim: SimulatorHandle) -> dict[str, Any]:
    """BASE_CUSTOMER stored, with its owners and custom attribute definitions."""
    sim.add_user(OWNER)
    sim.add_user(OTHER_OWNER)
    for key, type_ in CUSTOM_ATTRIBUTES.items():
        sim.add_custom_attribute(key, type_)
    return sim.add_customer(copy.deepcopy(BASE_CUSTOMER))
