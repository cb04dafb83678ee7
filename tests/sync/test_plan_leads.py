"""Planning a sync under `unmatched = "create"`: a record no customer matches becomes a change
that creates its lead, named as a webhook's event names its customer (the mapping's email or
external id link beside the CRM record), so the worker looks the customer up before creating."""

from __future__ import annotations

from pathlib import Path

import orjson

from relay.changes import CREATE, CustomerRef
from relay.mapping.config import DEFAULTS_DIR, load_mapping_file
from relay.sources import records
from relay.sync.account import Account
from relay.sync.plan import Planner
from relay.sync.readers import ExportRecord

NOW_MS = 1_764_000_000_000


def planner(tmp_path: Path, extra: str) -> Planner:
    path = tmp_path / "hubspot.toml"
    shipped = (DEFAULTS_DIR / "hubspot.toml").read_text()
    path.write_text(
        extra + shipped.replace('link_property = "chartmogul_customer_uuid"\nlink_holds = "uuid"\n', "")
    )
    mapping = load_mapping_file(path, "hubspot")
    return Planner(mapping, records("hubspot"), Account(), {}, occurred_at_ms=NOW_MS)


def record(**properties: str) -> ExportRecord:
    return ExportRecord("line 2", "8302", dict(properties), orjson.dumps(properties).decode())


def test_an_unmatched_record_is_planned_as_a_lead_named_by_its_email_link_too(tmp_path: Path) -> None:
    plan = planner(tmp_path, 'unmatched = "create"\nlink_property = "billing_email"\nlink_holds = "email"\n')

    planned = plan.plan_one(record(name="Acme Corp", city="Boston", billing_email="Billing@Acme.example"))

    assert planned.uuid is None and planned.event is not None
    change = planned.event.change
    assert change.unmatched == CREATE
    assert change.customer == CustomerRef(crm_record="hubspot:company:8302", email="billing@acme.example")
    assert change.fields == {"company": "Acme Corp", "city": "Boston"}
    assert (plan.totals.to_create, plan.totals.unmatched) == (1, 0)


def test_without_create_an_unmatched_record_stays_unmatched(tmp_path: Path) -> None:
    plan = planner(tmp_path, "")

    planned = plan.plan_one(record(name="Acme Corp"))

    assert planned.event is None and planned.why_unmatched.startswith("no link")
    assert (plan.totals.to_create, plan.totals.unmatched) == (0, 1)
