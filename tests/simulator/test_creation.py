"""`POST /v1/customers` and `/v1/data_sources`: customers created under a data source the account
has, an external_id unique within it, every other value under the PATCH rules."""

from __future__ import annotations

from typing import Any

import pytest

from relay.simulator.customers import DEFAULT_DATA_SOURCE_UUID
from relay.simulator.testing import SimulatorHandle, running_simulator

LEADS = "ds_11111111-2222-3333-4444-555555555555"


def new_lead(**extra: Any) -> dict[str, Any]:
    return {"data_source_uuid": LEADS, "external_id": "hubspot:company:8302", "name": "Acme", **extra}


@pytest.fixture
def sim() -> Any:
    with running_simulator() as handle:
        handle.add_data_source("CRM leads", uuid=LEADS)
        yield handle


def test_a_customer_is_created_under_a_known_data_source_as_a_lead(sim: SimulatorHandle) -> None:
    sim.add_user("anna@example.com")
    created = sim.request(
        "POST",
        "/v1/customers",
        new_lead(
            email="billing@acme.test",
            city="Boston",
            country="US",
            state="US-MA",
            lead_created_at="2025-03-01T10:00:00Z",
            owner="anna@example.com",
            attributes={
                "tags": ["crm"],
                "custom": [{"type": "Integer", "key": "seats", "value": 12, "source": "hubspot"}],
            },
            primary_contact={"first_name": "Ada", "email": "ada@acme.test"},
        ),
    )

    assert created.status == 201, created.body
    customer = created.body
    assert customer["uuid"].startswith("cus_")
    assert customer["status"] == "New Lead"
    assert (customer["external_id"], customer["data_source_uuid"]) == ("hubspot:company:8302", LEADS)
    assert customer["external_ids"] == ["hubspot:company:8302"]
    assert (customer["city"], customer["state"], customer["country"]) == ("Boston", "MA", "US")
    assert customer["lead_created_at"] == "2025-03-01T10:00:00.000Z"
    assert customer["owner"] == "anna@example.com"
    assert customer["attributes"]["tags"] == ["crm"]
    assert customer["attributes"]["custom"] == {"seats": 12}
    assert "primary_contact" not in customer
    assert sim.primary_contact(customer["uuid"])["email"] == "ada@acme.test"  # type: ignore[index]
    # found afterwards the way the relay looks before creating again
    listed = sim.request("GET", f"/v1/customers?external_id=hubspot:company:8302&data_source_uuid={LEADS}")
    assert [c["uuid"] for c in listed.body["entries"]] == [customer["uuid"]]


def test_an_external_id_is_unique_within_its_data_source_only(sim: SimulatorHandle) -> None:
    first = sim.request("POST", "/v1/customers", new_lead())
    again = sim.request("POST", "/v1/customers", new_lead(name="Acme again"))
    elsewhere = sim.request("POST", "/v1/customers", new_lead(data_source_uuid=DEFAULT_DATA_SOURCE_UUID))

    assert first.status == 201
    assert again.status == 422
    assert again.body == {
        "errors": {"external_id": "The external ID for this customer already exists in our system."}
    }
    assert elsewhere.status == 201
    assert len(sim.request("GET", "/v1/customers?external_id=hubspot:company:8302").body["entries"]) == 2


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"external_id": "x", "name": "A"}, 400, 'Parameter "data_source_uuid" is missing'),
        ({"data_source_uuid": LEADS, "name": "A"}, 400, 'Parameter "external_id" is missing'),
        ({"data_source_uuid": LEADS, "external_id": "x", "name": ""}, 400, 'Parameter "name" is missing'),
        ({"data_source_uuid": "ds_unknown", "external_id": "x", "name": "A"}, 422, "Data source not found"),
        (new_lead(country="Germany"), 400, "ISO 3166 alpha-2"),
        (new_lead(lead_created_at="2999-01-01T00:00:00Z"), 400, "in the future"),
        (new_lead(email="not an email"), 422, "valid email"),
        (new_lead(attributes={"custom": [{"key": "seats"}, {"key": "x", "type": "Money"}]}), 400, "type"),
    ],
)
def test_a_create_that_breaks_a_rule_is_refused_and_creates_nothing(
    sim: SimulatorHandle, body: dict[str, Any], status: int, says: str
) -> None:
    sim.strict()
    answer = sim.request("POST", "/v1/customers", body)

    assert answer.status == status
    assert says in str(answer.body)
    assert sim.request("GET", "/v1/customers").body["entries"] == []


def test_a_refused_create_defines_no_custom_attribute(sim: SimulatorHandle) -> None:
    body = new_lead(country="ZZ", attributes={"custom": [{"type": "String", "key": "channel", "value": "x"}]})
    assert sim.request("POST", "/v1/customers", body).status == 400

    patched = sim.request("POST", "/v1/customers", new_lead())
    later = sim.request(
        "PATCH", f"/v1/customers/{patched.body['uuid']}", {"attributes": {"custom": {"channel": "y"}}}
    )
    assert later.status == 400
    assert "does not exist" in later.body["message"]


def test_data_sources_are_listed_created_and_named_uniquely(sim: SimulatorHandle) -> None:
    made = sim.request("POST", "/v1/data_sources", {"name": "Imported leads"})
    taken = sim.request("POST", "/v1/data_sources", {"name": "Imported leads"})
    nameless = sim.request("POST", "/v1/data_sources", {"name": None})
    listed = sim.request("GET", "/v1/data_sources").body["data_sources"]

    assert made.status == 201
    assert made.body["uuid"].startswith("ds_")
    assert (made.body["system"], made.body["status"]) == ("Custom", "idle")
    assert (taken.status, nameless.status) == (422, 422)
    assert nameless.body == {"errors": {"name": "A name is required for each data source."}}
    assert {s["name"] for s in listed} == {"Simulator", "CRM leads", "Imported leads"}
    assert sim.request("GET", f"/v1/data_sources/{LEADS}").body["name"] == "CRM leads"
    assert sim.request("GET", "/v1/data_sources/ds_nope").status == 404


def test_a_reset_keeps_only_the_default_data_source(sim: SimulatorHandle) -> None:
    sim.reset()
    listed = sim.request("GET", "/v1/data_sources").body["data_sources"]
    assert [s["uuid"] for s in listed] == [DEFAULT_DATA_SOURCE_UUID]


def test_a_seed_declares_data_sources() -> None:
    seed = {"data_sources": [{"uuid": LEADS, "name": "CRM leads"}]}
    with running_simulator(seed=seed) as sim:
        created = sim.request("POST", "/v1/customers", new_lead())
    assert created.status == 201
