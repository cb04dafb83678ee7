"""Control endpoints, seeds and the demo seed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from relay.simulator import DEMO_SEED_PATH, load_seed
from relay.simulator.behaviour import Behaviour
from relay.simulator.customers import InvalidSetup
from relay.simulator.testing import SimulatorHandle, running_simulator
from tests.simulator.conftest import CUSTOMER_UUID, OWNER


def test_a_customer_gets_defaults_and_a_generated_uuid(sim: SimulatorHandle) -> None:
    created = sim.add_customer({"company": "Acme Corp", "external_id": "crm-1"})

    assert re.fullmatch(r"cus_[0-9a-f-]{36}", created["uuid"])
    assert created["status"] == "New Lead"
    assert created["attributes"] == {"tags": [], "custom": {}, "stripe": {}, "clearbit": {}}
    assert created["name"] == ""
    assert created["email"] == ""
    assert created["city"] is None
    assert created["owner"] is None
    assert created["external_ids"] == ["crm-1"]
    assert created["data_source_uuids"] == [created["data_source_uuid"]]
    assert created["data_source_uuid"].startswith("ds_")
    assert isinstance(created["id"], int)
    assert sim.customer(created["uuid"]) == created


def test_customers_get_distinct_ids(sim: SimulatorHandle) -> None:
    first = sim.add_customer({"company": "One"})
    second = sim.add_customer({"company": "Two"})

    assert first["id"] != second["id"]
    assert first["uuid"] != second["uuid"]


def test_a_customer_accepts_request_style_state_and_timestamps(sim: SimulatorHandle) -> None:
    created = sim.add_customer(
        {"state": "US-NY", "lead_created_at": "2023-01-01 00:00:00", "status": "Active"}
    )

    assert created["state"] == "NY"
    assert created["address"]["state"] == "New York"
    assert created["lead_created_at"] == "2023-01-01T00:00:00.000Z"
    assert created["status"] == "Active"


def test_custom_attributes_a_customer_carries_become_defined(sim: SimulatorHandle) -> None:
    created = sim.add_customer({"attributes": {"custom": {"seats": 3}}})

    response = sim.request(
        "PATCH", f"/v1/customers/{created['uuid']}", {"attributes": {"custom": {"seats": 4}}}
    )

    assert response.status == 200
    assert response.body["attributes"]["custom"] == {"seats": 4}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sim/customers", {"attributes": {"tags": "vip"}}),
        ("/_sim/customers", {"lead_created_at": "not a time"}),
        ("/_sim/customers", [1]),
        ("/_sim/users", {}),
        ("/_sim/custom_attributes", {"key": "x", "type": "Money"}),
        ("/_sim/custom_attributes", {"type": "String"}),
    ],
)
def test_bad_set_up_is_a_400(sim: SimulatorHandle, path: str, body: Any) -> None:
    response = sim.request("POST", path, body, api_key=None)

    assert response.status == 400
    assert isinstance(response.body["error"], str)


def test_a_control_body_that_is_not_json_is_a_400(sim: SimulatorHandle) -> None:
    response = sim.request("POST", "/_sim/users", raw=b"{nope", api_key=None)

    assert response.status == 400
    assert response.body == {"error": "body is not valid JSON"}


def test_users_are_the_owners_a_patch_may_name(sim: SimulatorHandle) -> None:
    sim.set_behaviour(unknown_owner="reject")
    created = sim.add_customer({"company": "Acme Corp"})
    path = f"/v1/customers/{created['uuid']}"

    before = sim.request("PATCH", path, {"owner": "new.owner@example.com"})
    sim.add_user("new.owner@example.com")
    after = sim.request("PATCH", path, {"owner": "new.owner@example.com"})

    assert before.status == 400
    assert after.status == 200
    assert after.body["owner"] == "new.owner@example.com"


def test_reset_empties_everything(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    sim.request("GET", "/v1/ping")
    sim.set_faults(status=500, rate=0.0)
    sim.set_behaviour(lenient_values=False)

    sim.reset()

    assert sim.behaviour() == Behaviour().to_json()
    sim.set_behaviour(unknown_owner="reject")

    assert sim.requests() == []
    assert sim.request("GET", "/_sim/customers", api_key=None).body == []
    assert sim.request("GET", "/_sim/faults", api_key=None).body["status"] is None
    assert sim.request("GET", f"/v1/customers/{CUSTOMER_UUID}").status == 404
    created = sim.add_customer({"company": "After Reset"})
    owner = sim.request("PATCH", f"/v1/customers/{created['uuid']}", {"owner": OWNER})
    custom = sim.request("PATCH", f"/v1/customers/{created['uuid']}", {"attributes": {"custom": {"CAC": 1}}})
    assert owner.status == 400
    assert custom.status == 400


def test_a_seed_loads_users_attributes_and_customers(tmp_path: Path) -> None:
    seed_file = tmp_path / "seed.json"
    seed_file.write_bytes(
        orjson.dumps(
            {
                "users": [{"email": "a@example.com"}, "b@example.com"],
                "custom_attributes": [{"key": "channel", "type": "String"}],
                "customers": [{"uuid": "cus_1", "company": "Seeded", "owner": "a@example.com"}],
            }
        )
    )

    with running_simulator(seed=load_seed(seed_file)) as sim:
        response = sim.request(
            "PATCH",
            "/v1/customers/cus_1",
            {"owner": "b@example.com", "attributes": {"custom": {"channel": "x"}}},
        )

    assert response.status == 200
    assert response.body["company"] == "Seeded"
    assert response.body["owner"] == "b@example.com"


@pytest.mark.parametrize(
    "content",
    [b"{nope", b"[]", b'{"customers": {}}', b'{"clients": []}'],
)
def test_a_malformed_seed_file_is_refused(tmp_path: Path, content: bytes) -> None:
    seed_file = tmp_path / "seed.json"
    seed_file.write_bytes(content)

    with pytest.raises(InvalidSetup):
        load_seed(seed_file)


def test_the_demo_seed_is_consistent_and_patchable() -> None:
    seed = load_seed(DEMO_SEED_PATH)
    owners = {user["email"] for user in seed["users"]}
    defined = {attribute["key"] for attribute in seed["custom_attributes"]}

    assert len(seed["customers"]) >= 3
    assert len(owners) == 2
    with running_simulator(seed=seed) as sim:
        for given in seed["customers"]:
            assert given.get("owner") in owners | {None}
            assert set(given["attributes"]["custom"]) <= defined
            current = sim.customer(given["uuid"])
            # a read-merge-write round trip of the demo customer is accepted as it is
            body = {
                "attributes": {
                    "tags": current["attributes"]["tags"],
                    "custom": current["attributes"]["custom"],
                },
                "owner": current["owner"],
                "lead_created_at": current["lead_created_at"],
                "free_trial_started_at": current["free_trial_started_at"],
            }
            response = sim.request("PATCH", f"/v1/customers/{given['uuid']}", body)
            assert response.status == 200, response.body
            assert response.body == current
