"""The /v1 routes other than PATCH: ping, auth, the customer read, look-ups, tag and custom endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from relay.simulator.testing import SimulatorHandle
from tests.simulator.conftest import CUSTOMER_UUID, DATA_SOURCE_UUID

UNAUTHORIZED = {"code": 401, "message": "No valid API key provided", "param": None}

RESPONSE_KEYS = {
    "id",
    "uuid",
    "data_source_uuid",
    "data_source_uuids",
    "external_id",
    "external_ids",
    "name",
    "email",
    "company",
    "city",
    "country",
    "state",
    "zip",
    "lead_created_at",
    "free_trial_started_at",
    "customer-since",
    "status",
    "address",
    "attributes",
    "mrr",
    "arr",
    "billing-system-url",
    "chartmogul-url",
    "billing-system-type",
    "currency",
    "currency-sign",
    "owner",
    "website_url",
}


def test_ping(sim: SimulatorHandle) -> None:
    response = sim.request("GET", "/v1/ping")

    assert response.status == 200
    assert response.body == {"data": "pong!"}


@pytest.mark.parametrize(
    ("api_key", "headers"),
    [
        (None, {}),
        ("wrong_key", {}),
        ("", {}),
        (None, {"Authorization": "Bearer sim_test_key"}),
        (None, {"Authorization": "Basic !!!not-base64"}),
        # the right key with a password is not ChartMogul's scheme
        (None, {"Authorization": "Basic c2ltX3Rlc3Rfa2V5OnNlY3JldA=="}),
    ],
)
def test_without_the_api_key_every_route_is_401(
    sim: SimulatorHandle, customer: dict[str, Any], api_key: str | None, headers: dict[str, str]
) -> None:
    for method, path in [("GET", "/v1/ping"), ("GET", f"/v1/customers/{CUSTOMER_UUID}")]:
        response = sim.request(method, path, api_key=api_key, headers=headers)
        assert response.status == 401
        assert response.body == UNAUTHORIZED

    patch = sim.request(
        "PATCH", f"/v1/customers/{CUSTOMER_UUID}", {"company": "x"}, api_key=api_key, headers=headers
    )
    assert patch.status == 401
    assert sim.stored_customer(CUSTOMER_UUID)["company"] == customer["company"]


def test_a_customer_in_chartmogul_response_shape(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    got = sim.customer(CUSTOMER_UUID)

    assert set(got) >= RESPONSE_KEYS
    assert got["uuid"] == CUSTOMER_UUID
    assert got["id"] == 12150249
    assert got["state"] == "CA"
    assert got["lead_created_at"] == "2023-01-01T00:00:00.000Z"
    assert got["customer-since"] == "2023-06-19T13:16:00-04:00"
    assert got["data_source_uuids"] == [DATA_SOURCE_UUID]
    assert got["external_ids"] == ["34916129"]
    assert got["address"] == {
        "address_zip": "99801",
        "city": "San Francisco",
        "state": "California",
        "country": "United States",
    }
    assert got["attributes"] == {
        "tags": ["high-value"],
        "custom": {"CAC": 25, "SalesRep": "Mike"},
        "stripe": {},
        "clearbit": {},
    }
    assert got["billing-system-url"] is None
    assert "primary_contact" not in got
    assert got["mrr"] == 3000
    assert got["chartmogul-url"] == "https://app.chartmogul.com/#/customers/12150249-Example_Company"


def test_an_unknown_customer_is_404(sim: SimulatorHandle) -> None:
    response = sim.request("GET", "/v1/customers/cus_nope")

    assert response.status == 404
    assert response.body == {
        "code": 404,
        "message": 'Customer "cus_nope" not found',
        "param": "customer_uuid",
    }


def test_an_unknown_route_is_a_chartmogul_shaped_404(sim: SimulatorHandle) -> None:
    response = sim.request("GET", "/v1/invoices")

    assert response.status == 404
    assert response.body["code"] == 404
    assert response.body["param"] is None


def test_a_wrong_method_is_405(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    response = sim.request("PUT", f"/v1/customers/{CUSTOMER_UUID}", {"company": "x"})

    assert response.status == 405
    assert response.body["code"] == 405


def test_look_up_by_external_id(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    sim.add_customer({"external_id": "other", "company": "Other"})

    found = sim.request("GET", "/v1/customers?external_id=34916129")
    with_source = sim.request(
        "GET", f"/v1/customers?external_id=34916129&data_source_uuid={DATA_SOURCE_UUID}"
    )
    wrong_source = sim.request("GET", "/v1/customers?external_id=34916129&data_source_uuid=ds_other")
    missing = sim.request("GET", "/v1/customers?external_id=nope")

    assert found.status == 200
    assert [entry["uuid"] for entry in found.body["entries"]] == [CUSTOMER_UUID]
    assert isinstance(found.body["cursor"], str)  # non-null on every page with entries
    assert found.body["has_more"] is False
    assert with_source.body["entries"] == found.body["entries"]
    assert wrong_source.status == 200
    empty_first_page = {
        "entries": [],
        "current_page": 1,
        "total_pages": 1,
        "has_more": False,
        "per_page": 200,
        "page": 1,
        "cursor": None,
    }
    assert wrong_source.body == empty_first_page
    assert missing.body == empty_first_page


def test_search_by_email(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    found = sim.request("GET", "/v1/customers/search?email=BEN@example.com")
    missing = sim.request("GET", "/v1/customers/search?email=nobody@example.com")
    no_email = sim.request("GET", "/v1/customers/search")

    assert found.status == 200
    assert [entry["uuid"] for entry in found.body["entries"]] == [CUSTOMER_UUID]
    assert found.body["has_more"] is False
    assert missing.status == 404
    assert missing.body == {
        "code": 404,
        "message": 'Can\'t find any customers with email: "nobody@example.com"',
        "param": "email",
    }
    assert no_email.status == 400
    assert no_email.body["param"] == "email"


def test_adding_tags_is_idempotent(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    path = f"/v1/customers/{CUSTOMER_UUID}/attributes/tags"

    first = sim.request("POST", path, {"tags": ["vip", "high-value", "vip"]})
    again = sim.request("POST", path, {"tags": ["vip"]})

    assert first.status == 200
    assert first.body == {"tags": ["high-value", "vip"]}
    assert again.body == {"tags": ["high-value", "vip"]}
    assert sim.customer(CUSTOMER_UUID)["attributes"]["tags"] == ["high-value", "vip"]


def test_removing_tags_is_idempotent(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    path = f"/v1/customers/{CUSTOMER_UUID}/attributes/tags"
    sim.request("POST", path, {"tags": ["vip"]})

    first = sim.request("DELETE", path, {"tags": ["high-value", "never-there"]})
    again = sim.request("DELETE", path, {"tags": ["high-value"]})

    assert first.status == 200
    assert first.body == {"tags": ["vip"]}
    assert again.body == {"tags": ["vip"]}
    assert sim.customer(CUSTOMER_UUID)["attributes"]["custom"] == customer["attributes"]["custom"]


@pytest.mark.parametrize("body", [{}, {"tags": "vip"}, {"tags": [1]}, None])
def test_tag_endpoints_refuse_a_bad_body(sim: SimulatorHandle, customer: dict[str, Any], body: Any) -> None:
    response = sim.request("POST", f"/v1/customers/{CUSTOMER_UUID}/attributes/tags", body)

    assert response.status == 400
    assert response.body["param"] == "tags"


def test_tag_endpoints_on_an_unknown_customer_are_404(sim: SimulatorHandle) -> None:
    response = sim.request("DELETE", "/v1/customers/cus_nope/attributes/tags", {"tags": ["vip"]})

    assert response.status == 404


def test_adding_a_custom_attribute_defines_it_and_sets_it(
    sim: SimulatorHandle, customer: dict[str, Any]
) -> None:
    path = f"/v1/customers/{CUSTOMER_UUID}/attributes/custom"
    body = {
        "custom": [
            {"type": "String", "key": "region", "value": "EMEA", "source": "crm"},
            {"type": "Integer", "key": "CAC", "value": 30},
        ]
    }

    response = sim.request("POST", path, body)

    assert response.status == 200
    assert response.body == {"custom": {"CAC": 30, "SalesRep": "Mike", "region": "EMEA"}}
    # now defined: a PATCH may carry it
    patch = sim.request(
        "PATCH", f"/v1/customers/{CUSTOMER_UUID}", {"attributes": {"tags": [], "custom": {"region": "APAC"}}}
    )
    assert patch.status == 200
    assert patch.body["attributes"]["custom"] == {"region": "APAC"}


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "String", "value": "x"}, "custom"),
        ({"type": "Text", "key": "region", "value": "x"}, "type"),
        ({"type": "String", "key": "CAC", "value": "x"}, "type"),  # CAC exists as Integer
        ({"type": "String", "key": "region"}, "value"),
        ({"type": "String", "key": "region", "value": {"x": 1}}, "value"),
    ],
)
def test_custom_attribute_endpoint_refuses_bad_items_and_applies_nothing(
    sim: SimulatorHandle, customer: dict[str, Any], item: dict[str, Any], param: str
) -> None:
    body = {"custom": [{"type": "String", "key": "fine", "value": "ok"}, item]}

    response = sim.request("POST", f"/v1/customers/{CUSTOMER_UUID}/attributes/custom", body)

    assert response.status == 400
    assert response.body["param"] == param
    assert sim.stored_customer(CUSTOMER_UUID) == customer
    patch = sim.request("PATCH", f"/v1/customers/{CUSTOMER_UUID}", {"attributes": {"custom": {"fine": "x"}}})
    assert patch.body["message"] == 'Custom attribute "fine" does not exist'
