"""`relay events list --customer`: any key the customer is known by finds its events, before
and after a worker resolves them to its ChartMogul uuid, and each row says when the change
happened and which fields it touches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from relay.simulator.testing import SimulatorHandle
from tests.cli import relay_cli
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, event_record, wait_for
from tests.sources.senders import hubspot_event, send_hubspot
from tests.webhooks import iso, send_generic


def found(env: dict[str, str], customer: str) -> list[str]:
    listed = relay_cli(env, "events", "list", "--customer", customer, "--json")
    assert listed.returncode == 0, listed.stderr
    return sorted(orjson.loads(line)["event_id"] for line in listed.stdout.splitlines())


def test_a_crm_record_its_uuid_an_email_each_find_the_events_before_and_after_resolution(
    relay_env: dict[str, str],
    start_web: Callable[..., str],
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    redis_url: str,
    tmp_path: Path,
) -> None:
    web = start_web()
    acme = simulator.add_customer({"company": "Acme", "email": "ops@acme.example"})["uuid"]
    links = tmp_path / "links.csv"
    links.write_text(f"source,crm_id,customer_uuid\nhubspot,9001,{acme}\n")
    assert relay_cli(relay_env, "links", "import", str(links)).returncode == 0
    sent = send_hubspot(web, [hubspot_event(7001, 9001, "city", "Oakland")])
    assert sent.status == 202
    hub = sent.body["event_id"]  # HubSpot's eventId and a digest of the event (it is not unique)
    by_email = {
        "id": "evt_mail",
        "occurred_at": iso(),
        "customer": {"email": "OPS@acme.example"},
        "set": {"zip": "94607"},
    }
    assert send_generic(web, GENERIC_SECRET, by_email).status == 202
    both = sorted(["evt_mail", hub])

    # Not resolved yet: each event under the key it named the customer by; the CRM record's
    # link says which uuid it is, so both find it.
    assert found(relay_env, "hubspot:company:9001") == [hub]
    assert found(relay_env, "ops@acme.example") == ["evt_mail"]
    assert found(relay_env, acme) == [hub]

    start_worker()
    wait_for(lambda: all(event_record(redis_url, e).get("status") == "applied" for e in both))

    # Resolved: each key names the customer, and finds all of its events.
    for key in ("hubspot:company:9001", "crm:hubspot:company:9001", "ops@acme.example", acme):
        assert found(relay_env, key) == both, key
    table = relay_cli({**relay_env, "COLUMNS": "200"}, "events", "list", "--customer", "hubspot:company:9001")
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["OCCURRED", "RECEIVED", "EVENT", "CUSTOMER", "STATUS", "FIELDS"]
    assert sorted(row.split()[2:] for row in rows) == sorted(
        [["evt_mail", acme, "applied", "zip"], [hub, acme, "applied", "city"]]
    )
