"""`relay links`: importing CRM record → customer links, and what happens to events after."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import redis as redis_sync

from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from tests.cli import relay_cli
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, wait_for
from tests.webhooks import send_generic


def test_import_list_and_delete_links(relay_env: dict[str, str], tmp_path: Path) -> None:
    csv_file = tmp_path / "links.csv"
    csv_file.write_text(
        "source,crm_id,customer_uuid\n"
        "hubspot,1246965,cus_aaaa-1111\n"
        "hubspot,contact:42,cus_aaaa-1111\n"
        "pipedrive,7,cus_bbbb-2222\n"
    )

    imported = relay_cli(relay_env, "links", "import", str(csv_file))

    assert imported.returncode == 0, imported.stderr
    assert "Imported 3 links" in imported.stdout
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)
    assert client.hgetall(keys.LINKS) == {
        "hubspot:company:1246965": "cus_aaaa-1111",
        "hubspot:contact:42": "cus_aaaa-1111",
        "pipedrive:organization:7": "cus_bbbb-2222",
    }
    listed = relay_cli(relay_env, "links", "list", "--source", "pipedrive")
    assert listed.stdout.splitlines() == [
        "source,crm_id,customer_uuid",
        "pipedrive,organization:7,cus_bbbb-2222",
    ]
    assert relay_cli(relay_env, "links", "delete", "hubspot", "1246965").returncode == 0
    assert relay_cli(relay_env, "links", "delete", "hubspot", "1246965").returncode == 1
    assert "hubspot:company:1246965" not in client.hgetall(keys.LINKS)
    client.close()


def test_a_bad_file_imports_nothing_and_names_the_lines(relay_env: dict[str, str], tmp_path: Path) -> None:
    csv_file = tmp_path / "links.csv"
    csv_file.write_text("source,crm_id,customer_uuid\nhubspot,1,cus_ok\nzoho,2,cus_x\nhubspot,3,not-a-uuid\n")

    result = relay_cli(relay_env, "links", "import", str(csv_file))

    assert result.returncode == 1
    assert "line 3: source 'zoho'" in result.stderr
    assert "line 4: customer_uuid 'not-a-uuid'" in result.stderr
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"])
    assert client.hlen(keys.LINKS) == 0
    client.close()


def test_external_id_and_email_resolve_to_the_customer(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str]
) -> None:
    by_external_id = simulator.add_customer(
        {"company": "Ext Co", "external_id": "crm-77", "data_source_uuid": "ds_1"}
    )
    by_email = simulator.add_customer({"company": "Mail Co", "email": "billing@mail.test"})
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")

    for event in (
        {
            "id": "evt_ext",
            "occurred_at": now,
            "customer": {"external_id": "crm-77", "data_source_uuid": "ds_1"},
            "set": {"city": "Graz"},
        },
        {
            "id": "evt_mail",
            "occurred_at": now,
            "customer": {"email": "billing@mail.test"},
            "set": {"city": "Linz"},
        },
        {
            "id": "evt_nobody",
            "occurred_at": now,
            "customer": {"email": "ghost@nowhere.test"},
            "set": {"city": "X"},
        },
    ):
        assert send_generic(web, GENERIC_SECRET, event).status == 202

    wait_for(lambda: simulator.stored_customer(by_external_id["uuid"])["city"] == "Graz")
    wait_for(lambda: simulator.stored_customer(by_email["uuid"])["city"] == "Linz")
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)
    wait_for(lambda: client.hget(keys.event("evt_nobody"), "status") == "dead")
    assert client.hget(keys.event("evt_nobody"), "reason") == "customer_not_found"
    assert "ghost@nowhere.test" in client.hget(keys.event("evt_nobody"), "error")  # type: ignore[operator]
    assert client.hget(keys.event("evt_ext"), "customer") == by_external_id["uuid"]
    client.close()


def test_a_stale_look_up_is_dropped_and_the_event_resolved_again(
    web: str, worker: WorkerProcess, simulator: SimulatorHandle, relay_env: dict[str, str]
) -> None:
    customer = simulator.add_customer({"company": "Moved Co", "email": "ops@moved.test"})
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)
    # An earlier look-up cached a customer that has since been merged away in ChartMogul.
    client.set(keys.lookup("email:ops@moved.test"), "cus_merged-away")
    event = {
        "id": "evt_moved",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "customer": {"email": "ops@moved.test"},
        "set": {"city": "Bern"},
    }

    assert send_generic(web, GENERIC_SECRET, event).status == 202

    wait_for(lambda: simulator.stored_customer(customer["uuid"])["city"] == "Bern")
    # The worker settles the event just after ChartMogul answers: wait for that, not only the PATCH.
    wait_for(lambda: client.hget(keys.event("evt_moved"), "status") != "queued")
    assert client.hget(keys.event("evt_moved"), "status") == "applied"
    assert client.get(keys.lookup("email:ops@moved.test")) == customer["uuid"]
    patched = [r["path"] for r in simulator.requests() if r["method"] == "PATCH"]
    assert patched == ["/v1/customers/cus_merged-away", f"/v1/customers/{customer['uuid']}"]
    client.close()
