"""`relay sync` end to end: exports read against the simulator's paged customer list, changes
enqueued into Redis through the ledger and delivered by a real worker."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis as redis_sync

from relay.simulator.testing import SimulatorHandle
from relay.store import EventRecord, keys
from tests.cli import relay_cli
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, wait_for
from tests.webhooks import send_generic

HUBSPOT_CSV = (
    "Record ID,Company name,Company Domain Name,City,State/Region,Country/Region,Lead Status,Industry\n"
    "101,Acme Corp,acme.example,Boston,MA,US,OPEN_DEAL,SaaS\n"
    "102,Globex,globex.example,Berlin,,DE,,\n"
    "103,Nobody Inc,nobody.example,Paris,,FR,,\n"
    "104,Too,few\n"
    ",No Id Ltd,noid.example,Rome,,IT,,\n"
)


def _customers(simulator: SimulatorHandle) -> tuple[str, str]:
    acme = simulator.add_customer(
        {
            "name": "Acme",
            "company": "Acme Corp",
            "city": "San Francisco",
            "state": "CA",
            "country": "US",
            "website_url": "https://acme.example",
            "attributes": {"tags": ["vip"]},
        }
    )
    globex = simulator.add_customer(
        {
            "name": "Globex",
            "company": "Globex",
            "city": "Berlin",
            "country": "DE",
            "website_url": "https://globex.example",
        }
    )
    return acme["uuid"], globex["uuid"]


def _link(env: dict[str, str], tmp_path: Path, rows: list[tuple[str, str, str]]) -> None:
    links = tmp_path / "links.csv"
    links.write_text("source,crm_id,customer_uuid\n" + "".join(f"{s},{c},{u}\n" for s, c, u in rows))
    assert relay_cli(env, "links", "import", str(links)).returncode == 0


def _hubspot(env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path) -> tuple[str, str, Path]:
    acme, globex = _customers(simulator)
    _link(env, tmp_path, [("hubspot", "101", acme), ("hubspot", "102", globex)])
    export = tmp_path / "companies.csv"
    export.write_text(HUBSPOT_CSV)
    return acme, globex, export


def test_dry_run_prints_each_change_and_totals_and_sends_nothing(
    relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path
) -> None:
    acme, _, export = _hubspot(relay_env, simulator, tmp_path)
    unmatched = tmp_path / "unmatched.csv"

    result = relay_cli(
        relay_env, "sync", "--source", "hubspot", str(export), "--dry-run", "--unmatched", str(unmatched)
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"hubspot:company:101 (line 2) → {acme}" in out
    assert "  city: San Francisco → Boston" in out
    assert "  state: CA → US-MA" in out
    assert "  status: New Lead → Qualified Lead" in out
    assert "  tags: [vip] → [vip, industry:SaaS]" in out
    assert "hubspot:company:102" not in out  # identical: nothing to change
    assert "Records read: 3" in out
    assert "Unmatched: 1 (no link 1)" in out
    assert "Skipped (bad input): 2" in out
    assert "line 5: has 3 fields, the header has 8" in out + result.stderr
    assert "line 6: has no id (hs_object_id)" in out + result.stderr
    assert "Fields to change: city 1, state 1, status 1, tags 1" in out
    assert "API calls the real run will spend: 3 (list 1, tags 1, update 1)" in out
    assert "Matched: 2 (unchanged 1, to change 1, stale only 0)" in out
    rows = list(csv.DictReader(unmatched.read_text().splitlines()))
    assert [(r["source"], r["crm_id"], r["where"]) for r in rows] == [("hubspot", "103", "line 4")]
    assert rows[0]["why"].startswith("no link")
    methods = [r["method"] for r in simulator.requests() if r["path"].startswith("/v1/")]
    assert methods == ["GET"]  # one list page, no writes
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"])
    assert client.zcard(keys.EVENTS) == 0
    client.close()


def test_dry_run_json_is_one_document(
    relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path
) -> None:
    acme, _, export = _hubspot(relay_env, simulator, tmp_path)

    result = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--dry-run", "--json")

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    [customer] = doc["customers"]
    assert customer["customer_uuid"] == acme
    assert {"field": "city", "current": "San Francisco", "new": "Boston"} in customer["changes"]
    totals = doc["totals"]
    assert (totals["records_read"], totals["matched"], totals["unmatched"], totals["skipped"]) == (3, 2, 1, 2)
    assert totals["unmatched_why"] == {"no link": 1}
    assert totals["api_calls"] == 3
    assert totals["fields_to_change"] == {"city": 1, "state": 1, "status": 1, "tags": 1}


def test_real_run_enqueues_once_and_the_worker_delivers(
    relay_env: dict[str, str],
    simulator: SimulatorHandle,
    tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    acme, globex, export = _hubspot(relay_env, simulator, tmp_path)
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)

    asked = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), input="n\n")
    assert asked.returncode == 1
    assert "Enqueue changes for 1 customers?" in asked.stderr
    assert client.zcard(keys.EVENTS) == 0

    first = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--yes")
    second = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--yes")

    assert first.returncode == 0, first.stderr
    assert "Enqueued 1 changes; 1 unmatched, 2 skipped." in first.stdout
    assert "API calls this run spends: 3" in first.stdout and "the real run" not in first.stdout
    assert "Enqueued 0 changes;" in second.stdout
    assert "Not enqueued again: 1 made by an earlier run of this export with the same --as-of (1 queued)" in (
        second.stdout
    )
    [event_id] = cast(list[str], client.zrange(keys.EVENTS, 0, -1))
    assert event_id.startswith("sync:hubspot:101:")
    record = EventRecord.from_hash(cast(dict[str, str], client.hgetall(keys.event(event_id))), event_id)
    assert record.source == "sync" and record.change is not None
    change = record.change
    assert change.fields == {"city": "Boston", "state": "US-MA", "status": "Qualified Lead"}
    assert change.tags_add == ["industry:SaaS"] and change.tags_remove == []

    start_worker()
    wait_for(lambda: client.hget(keys.event(event_id), "status") == "applied")
    stored = simulator.stored_customer(acme)
    assert (stored["city"], stored["state"]) == ("Boston", "MA")
    assert {t.lower() for t in stored["attributes"]["tags"]} == {
        "vip",
        "industry:saas",
    }  # added, never removed
    assert simulator.stored_customer(globex)["city"] == "Berlin"

    third = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--yes")
    assert "Nothing to change." in third.stdout + third.stderr
    assert "Matched: 2 (unchanged 2, to change 0, stale only 0)" in third.stdout
    client.close()


def test_an_export_older_than_a_webhook_change_never_overwrites_it(
    relay_env: dict[str, str],
    simulator: SimulatorHandle,
    tmp_path: Path,
    web: str,
    worker: WorkerProcess,
) -> None:
    acme, _, export = _hubspot(relay_env, simulator, tmp_path)
    event = {
        "id": "evt_new",
        "occurred_at": "2026-06-01T12:00:00Z",
        "customer": {"uuid": acme},
        "set": {"city": "Denver"},
    }
    assert send_generic(web, GENERIC_SECRET, event).status == 202
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Denver")

    dry = relay_cli(
        relay_env, "sync", "--source", "hubspot", str(export), "--dry-run", "--as-of", "2026-05-01T00:00:00Z"
    )
    result = relay_cli(
        relay_env, "sync", "--source", "hubspot", str(export), "--yes", "--as-of", "2026-05-01T00:00:00Z"
    )

    # The dry run and the summary say which field is stale, why, and that it is not sent.
    assert (
        "  city: Denver → Boston  (stale, not sent: evt_new at 2026-06-01T12:00:00.000Z is newer than "
        "--as-of 2026-05-01T00:00:00.000Z)"
    ) in dry.stdout
    assert "  state: CA → US-MA" in dry.stdout
    assert "Matched: 2 (unchanged 1, to change 1, stale only 0)" in dry.stdout
    assert "Stale, not sent: city 1 in 1 record(s) (a change applied after --as-of won" in dry.stdout
    assert result.returncode == 0, result.stderr
    assert "Enqueued 1 changes; 1 unmatched, 2 skipped; 1 stale field(s) not sent." in result.stdout
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)
    [sync_id] = [e for e in cast(list[str], client.zrange(keys.EVENTS, 0, -1)) if e.startswith("sync:")]
    wait_for(lambda: client.hget(keys.event(sync_id), "status") == "applied")
    record = EventRecord.from_hash(cast(dict[str, str], client.hgetall(keys.event(sync_id))), sync_id)
    assert record.change is not None and "city" not in record.change.fields  # never sent
    # Its record claims exactly what its calls sent and ChartMogul kept.
    assert record.details["applied_fields"].split(",") == ["state", "status", "tag:industry:SaaS"]
    # ... and lists the field it left out as stale, with the newer event that won.
    assert orjson.loads(record.details["stale_fields"]) == {"city": "evt_new"}
    shown = relay_cli(relay_env, "events", "show", sync_id)
    assert "stale:          city (newer: evt_new)" in shown.stdout, shown.stdout
    stored = simulator.stored_customer(acme)
    assert stored["city"] == "Denver"  # the newer webhook value stands
    assert stored["state"] == "MA"  # fields the webhook did not touch are synced

    # The export is the newer truth after all: a later --as-of sends the city too (new events).
    now = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--yes", "--as-of", "now")
    assert "Enqueued 1 changes;" in now.stdout and "Fields to change: city 1" in now.stdout
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Boston")
    client.close()


def test_a_rerun_enqueues_what_changed_since_and_counts_only_that(
    relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path
) -> None:
    acme, _, export = _hubspot(relay_env, simulator, tmp_path)
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)
    as_of = ["--as-of", "2026-05-01T00:00:00Z"]
    first = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--yes", *as_of, "--json")
    # Someone changes the customer in ChartMogul before anything is delivered: the same export
    # now differs in another way, and that difference is a change of its own.
    simulator.request("PATCH", f"/v1/customers/{acme}", {"city": "Austin", "status": "Qualified Lead"})

    second = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--yes", *as_of, "--json")

    assert json.loads(first.stdout)["enqueued"] == 1
    summary = json.loads(second.stdout)
    assert summary["fields_to_change"] == {"city": 1, "state": 1, "tags": 1}
    sync_events = [e for e in cast(list[str], client.zrange(keys.EVENTS, 0, -1)) if e.startswith("sync:")]
    assert summary["enqueued"] == 1 and len(sync_events) == 2  # what it says it enqueued, it did
    assert summary["already_enqueued"] == 0
    client.close()


def _json_sync(env: dict[str, str], source: str, path: Path) -> dict[str, Any]:
    result = relay_cli(env, "sync", "--source", source, str(path), "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_json_lines_in_hubspot_api_shape(
    relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path
) -> None:
    acme, _ = _customers(simulator)
    export = tmp_path / "companies.jsonl"
    export.write_text(
        json.dumps(
            {
                "id": "555",
                "properties": {"name": "Acme Corp", "city": "Austin", "chartmogul_customer_uuid": acme},
            }
        )
        + "\nnot json\n"
        + json.dumps({"properties": {"city": "X"}})
        + "\n"
    )

    doc = _json_sync(relay_env, "hubspot", export)

    assert doc["customers"][0]["customer_uuid"] == acme  # matched by the link property
    assert doc["customers"][0]["changes"] == [{"field": "city", "current": "San Francisco", "new": "Austin"}]
    assert doc["totals"]["skipped"] == 2
    assert doc["totals"]["skipped_records"][0].startswith("line 2: is not valid JSON")
    assert doc["totals"]["skipped_records"][1] == "line 3: the record has no id (hs_object_id)"


def test_pipedrive_json_array_close_csv_and_salesforce_data_loader(
    relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path
) -> None:
    acme, globex = _customers(simulator)
    _link(
        relay_env,
        tmp_path,
        [("pipedrive", "7", acme), ("close", "lead_abc", acme), ("salesforce", "001A", globex)],
    )
    pipedrive = tmp_path / "orgs.json"
    pipedrive.write_text(
        json.dumps([{"id": 7, "name": "Acme Corp", "address": {"locality": "Oslo", "country": "NO"}}])
    )
    close = tmp_path / "leads.csv"
    close.write_text("id,display_name,primary_address_city\nlead_abc,Acme Corp,Lima\n")
    salesforce = tmp_path / "accounts.csv"
    salesforce.write_text("Id,Name,BillingCity,BillingCountryCode\n001A,Globex,Hamburg,DE\n")

    changes = {
        source: _json_sync(relay_env, source, path)["customers"][0]["changes"]
        for source, path in (("pipedrive", pipedrive), ("close", close), ("salesforce", salesforce))
    }

    assert {"field": "city", "current": "San Francisco", "new": "Oslo"} in changes["pipedrive"]
    assert {"field": "country", "current": "US", "new": "NO"} in changes["pipedrive"]
    assert changes["close"] == [{"field": "city", "current": "San Francisco", "new": "Lima"}]
    assert changes["salesforce"] == [{"field": "city", "current": "Berlin", "new": "Hamburg"}]


def test_an_unknown_column_set_is_refused_by_name(relay_env: dict[str, str], tmp_path: Path) -> None:
    export = tmp_path / "other.csv"
    export.write_text("Foo,Bar\n1,2\n")

    result = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--dry-run")

    assert result.returncode != 0
    assert "unknown column set: no id column (one of record id, hs_object_id)" in result.stderr


def test_a_dead_sync_event_replays_its_stored_change(
    relay_env: dict[str, str],
    simulator: SimulatorHandle,
    tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    acme, _, export = _hubspot(relay_env, simulator, tmp_path)
    assert relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--yes").returncode == 0
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)
    [event_id] = cast(list[str], client.zrange(keys.EVENTS, 0, -1))
    simulator.set_faults(status=422)  # ChartMogul refuses the write: a dead letter
    start_worker()
    wait_for(lambda: client.hget(keys.event(event_id), "status") == "dead")
    simulator.clear_faults()

    replayed = relay_cli(relay_env, "dlq", "replay", event_id)

    assert replayed.returncode == 0, replayed.stderr
    assert "warning" not in replayed.stdout + replayed.stderr  # a sync event replays as stored
    wait_for(lambda: client.hget(keys.event(event_id), "status") == "applied")
    assert simulator.stored_customer(acme)["city"] == "Boston"
    client.close()


@pytest.mark.parametrize("unknown_owner", ["ignore", "reject"])
def test_an_owner_chartmogul_does_not_take_is_still_drift_on_the_next_run(
    relay_env: dict[str, str],
    simulator: SimulatorHandle,
    tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
    unknown_owner: str,
) -> None:
    simulator.set_behaviour(unknown_owner=unknown_owner)
    mapping_dir = tmp_path / "mapping"
    mapping_dir.mkdir()
    default = (Path(__file__).resolve().parents[2] / "relay/mapping/defaults/hubspot.toml").read_text()
    (mapping_dir / "hubspot.toml").write_text(
        default.replace("[owners]\n", '[owners]\n"314" = "anna@nowhere.example"\n')
    )
    env = {**relay_env, "RELAY_MAPPING_DIR": str(mapping_dir)}
    acme, _ = _customers(simulator)
    _link(env, tmp_path, [("hubspot", "101", acme)])
    export = tmp_path / "companies.csv"
    export.write_text("Record ID,Company name,hubspot_owner_id\n101,Acme Corp,314\n")
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"], decode_responses=True)

    assert relay_cli(env, "sync", "--source", "hubspot", str(export), "--yes").returncode == 0
    [event_id] = cast(list[str], client.zrange(keys.EVENTS, 0, -1))
    start_worker()
    wait_for(lambda: cast(str, client.hget(keys.event(event_id), "status")) in ("applied", "dead"))
    again = relay_cli(env, "sync", "--source", "hubspot", str(export), "--dry-run")

    # ChartMogul kept no owner (a 200 that ignored it, or a 400): the next run still sees it.
    assert "  owner: (empty) → anna@nowhere.example" in again.stdout
    if unknown_owner == "reject":
        assert client.hget(keys.event(event_id), "status") == "dead"
    client.close()


def test_a_bad_as_of_is_named(relay_env: dict[str, str], tmp_path: Path) -> None:
    export = tmp_path / "companies.csv"
    export.write_text(HUBSPOT_CSV)

    result = relay_cli(relay_env, "sync", "--source", "hubspot", str(export), "--as-of", "last tuesday")

    assert result.returncode == 2
    assert "'last tuesday' is not a time: give a duration ago (30m, 1h, 7d), now" in result.stderr


@pytest.mark.parametrize("as_of", ["now", "2h", "10:05", "2026-11-30T12:00:00Z"])
def test_as_of_takes_now_durations_clock_times_and_iso(
    relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path, as_of: str
) -> None:
    _, _, export = _hubspot(relay_env, simulator, tmp_path)

    doc = json.loads(
        relay_cli(
            relay_env, "sync", "--source", "hubspot", str(export), "--dry-run", "--json", "--as-of", as_of
        ).stdout
    )

    assert doc["totals"]["to_change"] == 1
