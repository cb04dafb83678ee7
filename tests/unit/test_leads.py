"""A lead's create call (workers/unmatched.py `lead_body`): what a record's waiting changes map,
within ChartMogul's contract, under the configured data source, named even before a name came.
And the client's create (relay/chartmogul/client.py) against the simulator: a taken external_id
is its own error, every other refusal the usual one."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from relay.changes import CustomerChange, CustomerRef
from relay.chartmogul.client import ChartMogulClient
from relay.crms import record_title
from relay.exceptions import ExternalIdTaken, Rejected
from relay.simulator.testing import SimulatorHandle
from tests.conftest import SIM_API_KEY
from workers.unmatched import lead_body

LEADS = "ds_11111111-2222-3333-4444-555555555555"
RECORD = "hubspot:company:8302"


def change(at_ms: int, **fields: Any) -> CustomerChange:
    return CustomerChange(f"e{at_ms}", "hubspot", at_ms, CustomerRef(crm_record=RECORD), fields=fields)


def test_a_lead_carries_what_its_changes_map_and_a_readable_name_until_one_arrives() -> None:
    body = lead_body(
        RECORD,
        LEADS,
        [
            change(1, city="Albany", email="billing@acme.test"),
            change(2, city="Boston", status="Working Lead", owner="ann@acme.test"),
            change(3, primary_contact={"first_name": "Ada"}),
        ],
    )

    assert body == {
        "data_source_uuid": LEADS,
        "external_id": RECORD,
        "name": "HubSpot company 8302",
        "email": "billing@acme.test",
        "city": "Boston",  # the newest change wins, as in any delivery
    }  # status, owner and the contact follow with the change itself


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"company": "Acme Inc"}, "Acme Inc"),
        ({"company": "Acme Inc", "name": "Acme"}, "Acme"),
        ({"name": "  "}, "HubSpot company 8302"),
    ],
)
def test_the_name_is_the_mapped_name_or_company(fields: dict[str, Any], name: str) -> None:
    assert lead_body(RECORD, LEADS, [change(1, **fields)])["name"] == name


def test_values_that_break_the_contract_stay_out_of_the_create() -> None:
    body = lead_body(
        RECORD,
        LEADS,
        [change(1, country="Germany", state="US-CA", lead_created_at="2999-01-01T00:00:00Z", zip="10115")],
    )

    assert {k: v for k, v in body.items() if k not in ("data_source_uuid", "external_id", "name")} == {
        "state": "US-CA",
        "zip": "10115",
    }


def test_a_trial_before_the_lead_stays_out_the_lead_date_goes_in() -> None:
    body = lead_body(
        RECORD, LEADS, [change(1, lead_created_at="2024-02-01", free_trial_started_at="2024-01-01", city="X")]
    )
    assert (body["lead_created_at"], body["city"]) == ("2024-02-01", "X")
    assert "free_trial_started_at" not in body  # the change itself is refused with the reason


@pytest.mark.parametrize(
    ("record", "title"),
    [
        ("hubspot:company:8302", "HubSpot company 8302"),
        ("pipedrive:organization:42", "Pipedrive organization 42"),
        ("salesforce:Account:0015e00000AbCdE", "Salesforce Account 0015e00000AbCdE"),
        ("zoho:accounts:4876", "zoho accounts 4876"),  # a declared source, by its name
    ],
)
def test_a_record_reads_as_a_person_writes_it(record: str, title: str) -> None:
    assert record_title(record) == title


def test_the_client_tells_a_taken_external_id_from_other_refusals(simulator: SimulatorHandle) -> None:
    simulator.add_data_source("CRM leads", uuid=LEADS)

    async def main() -> tuple[dict[str, Any], object, object]:
        async with aiohttp.ClientSession() as session:
            client = ChartMogulClient(session, base_url=simulator.base_url, api_key=SecretStr(SIM_API_KEY))
            body = {"data_source_uuid": LEADS, "external_id": RECORD, "name": "Acme"}
            created = await client.create_customer(body)
            taken = await asyncio.gather(client.create_customer(body), return_exceptions=True)
            unknown = {**body, "data_source_uuid": "ds_unknown", "external_id": "x"}
            refused = await asyncio.gather(client.create_customer(unknown), return_exceptions=True)
            return created, taken[0], refused[0]

    created, taken, refused = asyncio.run(main())

    assert created["uuid"].startswith("cus_") and created["external_id"] == RECORD
    assert isinstance(taken, ExternalIdTaken) and taken.status == 422
    assert isinstance(refused, Rejected) and not isinstance(refused, ExternalIdTaken)
    assert "Data source not found" in refused.message
