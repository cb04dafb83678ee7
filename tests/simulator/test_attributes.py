"""The attribute and contact endpoints: PUT/DELETE custom, GET attributes, GET contacts, and that
each is logged, rate limited and answers 404 for an unknown customer like every other call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from relay.simulator.testing import SimulatorHandle
from tests.simulator.conftest import BASE_CUSTOMER, CUSTOMER_UUID

BASE = f"/v1/customers/{CUSTOMER_UUID}"


def test_put_custom_sets_only_the_keys_given_and_normalises_timestamps(
    sim: SimulatorHandle, customer: dict[str, Any]
) -> None:
    sim.add_custom_attribute("renewal", "Timestamp")

    response = sim.request(
        "PUT", BASE + "/attributes/custom", {"custom": {"CAC": 30, "renewal": "2024-05-01"}}
    )

    assert response.status == 200
    assert response.body == {"custom": {"CAC": 30, "SalesRep": "Mike", "renewal": "2024-05-01T00:00:00.000Z"}}
    assert sim.customer(CUSTOMER_UUID)["attributes"]["custom"] == response.body["custom"]
    assert sim.customer(CUSTOMER_UUID)["attributes"]["tags"] == ["high-value"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"custom": {"nope": 1}}, 'Custom attribute "nope" does not exist'),
        ({"custom": {}}, "non-empty object"),
        ({"custom": [{"key": "CAC", "value": 1}]}, "non-empty object"),
        ({}, "non-empty object"),
    ],
)
def test_put_custom_refuses_a_bad_body_and_changes_nothing(
    sim: SimulatorHandle, customer: dict[str, Any], body: dict[str, Any], message: str
) -> None:
    response = sim.request("PUT", BASE + "/attributes/custom", body)

    assert response.status == 400
    assert response.body["param"] == "custom"
    assert message in response.body["message"]
    assert sim.stored_customer(CUSTOMER_UUID) == customer


def test_delete_custom_removes_the_keys_with_204(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    response = sim.request("DELETE", BASE + "/attributes/custom", {"custom": ["CAC", "never-there"]})

    assert response.status == 204
    assert response.body is None
    assert sim.customer(CUSTOMER_UUID)["attributes"]["custom"] == {"SalesRep": "Mike"}
    assert sim.request("DELETE", BASE + "/attributes/custom", {"custom": "CAC"}).status == 400


def test_get_attributes_answers_all_of_them(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    response = sim.request("GET", BASE + "/attributes")

    assert response.status == 200
    assert response.body == {
        "attributes": {
            "tags": ["high-value"],
            "custom": {"CAC": 25, "SalesRep": "Mike"},
            "stripe": {},
            "clearbit": {},
        }
    }


def test_contacts_list_the_primary_contact_a_patch_set(
    sim: SimulatorHandle, customer: dict[str, Any]
) -> None:
    sim.request("PATCH", BASE, {"primary_contact": {"title": "CFO"}})

    response = sim.request("GET", BASE + "/contacts")

    assert response.status == 200
    [contact] = response.body["entries"]
    assert contact["customer_uuid"] == CUSTOMER_UUID
    assert contact["position"] == 1
    assert (contact["first_name"], contact["last_name"], contact["title"]) == ("Ben", "Smith", "CFO")
    assert "primary_contact" not in sim.customer(CUSTOMER_UUID)


def test_a_customer_without_a_contact_lists_none(sim: SimulatorHandle) -> None:
    created = sim.add_customer({"company": "No Contact"})

    assert sim.request("GET", f"/v1/customers/{created['uuid']}/contacts").body["entries"] == []
    assert sim.primary_contact(created["uuid"]) is None


ATTRIBUTE_CALLS: list[tuple[str, str, Any]] = [
    ("GET", "/attributes", None),
    ("POST", "/attributes/tags", {"tags": ["a"]}),
    ("DELETE", "/attributes/tags", {"tags": ["a"]}),
    ("POST", "/attributes/custom", {"custom": [{"type": "String", "key": "k", "value": "v"}]}),
    ("PUT", "/attributes/custom", {"custom": {"CAC": 1}}),
    ("DELETE", "/attributes/custom", {"custom": ["CAC"]}),
    ("GET", "/contacts", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), ATTRIBUTE_CALLS)
def test_an_unknown_customer_is_a_404(sim: SimulatorHandle, method: str, suffix: str, body: Any) -> None:
    response = sim.request(method, f"/v1/customers/cus_nope{suffix}", body)

    assert response.status == 404
    assert response.body["param"] == "customer_uuid"


def test_attribute_calls_are_logged_and_rate_limited_like_any_other(
    sim_factory: Callable[..., SimulatorHandle],
) -> None:
    sim = sim_factory(rate_limit_per_s=len(ATTRIBUTE_CALLS))
    sim.add_custom_attribute("CAC", "Integer")
    sim.add_customer(dict(BASE_CUSTOMER))

    statuses = [sim.request(method, BASE + suffix, body).status for method, suffix, body in ATTRIBUTE_CALLS]
    over = sim.request("GET", BASE + "/attributes")

    assert statuses == [200, 200, 200, 200, 200, 204, 200]
    assert over.status == 429
    logged = [(entry["method"], entry["path"], entry["status"]) for entry in sim.requests()]
    expected = [(m, BASE + s, st) for (m, s, _), st in zip(ATTRIBUTE_CALLS, statuses, strict=True)]
    assert logged == [*expected, ("GET", BASE + "/attributes", 429)]
