"""`relay sync --from-api` end to end: a CRM stand-in → `relay sync` → Redis → a real `relay worker`
→ the ChartMogul simulator, counting what arrived; the watermark across runs; what a dry run, a
wrong token and a failed run leave behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis as redis_sync

from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from relay.times import iso, now_ms
from tests.cli import Ran, relay_cli
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, wait_for
from tests.standins.hubspot import HubSpotHandle, running_hubspot
from tests.standins.pipedrive import running_pipedrive
from tests.webhooks import send_generic

HOUR_MS = 3_600_000
OVERLAP_MS = 5 * 60_000


@pytest.fixture
def hubspot() -> Iterator[HubSpotHandle]:
    with running_hubspot(token="pat-na1-standin-0123") as standin:
        yield standin


@pytest.fixture
def env(relay_env: dict[str, str], hubspot: HubSpotHandle) -> dict[str, str]:
    return {
        **relay_env,
        "RELAY_HUBSPOT_ACCESS_TOKEN": hubspot.token,
        "RELAY_HUBSPOT_API_BASE": hubspot.base_url,
    }


def sync_process(env: Mapping[str, str], *args: str) -> Ran:
    """`relay sync ARGS` as its own process, as the CronJob runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "relay", "sync", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def customers(
    simulator: SimulatorHandle, env: dict[str, str], tmp_path: Path, source: str
) -> tuple[str, str]:
    """Acme and Globex in ChartMogul, linked to the CRM's records 101 and 102."""
    acme = simulator.add_customer({"name": "Acme", "company": "Acme Corp", "city": "San Francisco"})["uuid"]
    globex = simulator.add_customer({"name": "Globex", "company": "Globex", "city": "Berlin"})["uuid"]
    links = tmp_path / "links.csv"
    links.write_text(f"source,crm_id,customer_uuid\n{source},101,{acme}\n{source},102,{globex}\n")
    assert relay_cli(env, "links", "import", str(links)).returncode == 0
    return acme, globex


def patches(simulator: SimulatorHandle) -> list[dict[str, Any]]:
    return [r for r in simulator.requests() if r["method"] == "PATCH"]


def watermark(env: Mapping[str, str], source: str = "hubspot") -> float | None:
    client = redis_sync.Redis.from_url(env["RELAY_REDIS_URL"])
    try:
        return client.zscore(keys.SYNC_WATERMARKS, source)
    finally:
        client.close()


def sync_events(env: Mapping[str, str]) -> list[str]:
    client = redis_sync.Redis.from_url(env["RELAY_REDIS_URL"], decode_responses=True)
    try:
        return [e for e in cast(list[str], client.zrange(keys.EVENTS, 0, -1)) if e.startswith("sync:")]
    finally:
        client.close()


def test_hubspot_changes_reach_chartmogul_and_the_next_run_goes_on_from_the_watermark(
    env: dict[str, str],
    hubspot: HubSpotHandle,
    simulator: SimulatorHandle,
    tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    acme, globex = customers(simulator, env, tmp_path, "hubspot")
    now = now_ms()
    hubspot.put_company(101, {"name": "Acme Corp", "city": "Boston"}, modified_ms=now - 3 * HOUR_MS)
    hubspot.put_company(102, {"name": "Globex", "city": "Hamburg"}, modified_ms=now - 2 * HOUR_MS)
    hubspot.put_company(103, {"name": "Initech", "city": "Austin"}, modified_ms=now - 5 * HOUR_MS)

    first = sync_process(env, "--source", "hubspot", "--from-api", "--since", "4h", "--yes")

    assert first.returncode == 0, first.stderr
    assert "Read 2 HubSpot companies changed since" in first.stdout  # 103 is older than --since
    assert "Enqueued 2 changes; 0 unmatched, 0 skipped." in first.stdout
    assert f"Watermark for hubspot: {iso(now - 2 * HOUR_MS)}" in first.stdout
    start_worker()
    wait_for(lambda: simulator.stored_customer(globex)["city"] == "Hamburg")
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Boston")

    hubspot.put_company(101, {"city": "Denver"})  # a change whose webhook never came
    second = sync_process(env, "--source", "hubspot", "--from-api", "--yes")

    assert second.returncode == 0, second.stderr
    since = iso(now - 2 * HOUR_MS - OVERLAP_MS)
    assert (
        f"Read 2 HubSpot companies changed since {since} (the watermark {iso(now - 2 * HOUR_MS)} less 5 min)"
        in second.stdout
    )
    assert hubspot.searches()[-1]["filterGroups"][0]["filters"][0]["value"] == str(
        now - 2 * HOUR_MS - OVERLAP_MS
    )
    assert "Matched: 2 (unchanged 1, to change 1, stale only 0)" in second.stdout  # Globex: as applied
    assert "Enqueued 1 changes" in second.stdout
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Denver")
    assert [p["path"].rsplit("/", 1)[-1] for p in patches(simulator)].count(acme) == 2
    assert len(patches(simulator)) == 3  # Boston, Hamburg, Denver: each sent once
    assert (watermark(env) or 0) > now - HOUR_MS  # moved on to Denver's change


def test_dry_run_sends_nothing_and_leaves_the_watermark(
    env: dict[str, str], hubspot: HubSpotHandle, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    acme, _ = customers(simulator, env, tmp_path, "hubspot")
    changed_ms = now_ms() - HOUR_MS
    hubspot.put_company(101, {"name": "Acme Corp", "city": "Boston"}, modified_ms=changed_ms)
    hubspot.put_company(555, {"name": "Unknown Co"}, modified_ms=changed_ms + 1)

    text = relay_cli(env, "sync", "--source", "hubspot", "--from-api", "--since", "2h", "--dry-run")
    doc = json.loads(
        relay_cli(
            env, "sync", "--source", "hubspot", "--from-api", "--since", "2h", "--dry-run", "--json"
        ).stdout
    )

    assert text.returncode == 0, text.stderr
    assert f"hubspot:company:101 (changed {iso(changed_ms)}) → {acme}" in text.stdout
    assert "  city: San Francisco → Boston" in text.stdout
    assert "Unmatched: 1 (no link 1)" in text.stdout
    assert "The watermark stays unset (dry run)." in text.stdout
    assert doc["customers"][0]["as_of"] == iso(changed_ms)
    assert (doc["from_api"]["records"], doc["from_api"]["watermark_moved"]) == (2, False)
    assert doc["totals"]["to_change"] == 1
    assert sync_events(env) == [] and watermark(env) is None
    assert patches(simulator) == []


def test_a_webhook_change_newer_than_the_crm_record_wins_over_it(
    env: dict[str, str],
    hubspot: HubSpotHandle,
    simulator: SimulatorHandle,
    tmp_path: Path,
    web: str,
    worker: WorkerProcess,
) -> None:
    acme, _ = customers(simulator, env, tmp_path, "hubspot")
    changed_ms = now_ms() - HOUR_MS
    hubspot.put_company(101, {"name": "Acme Corp", "city": "Boston"}, modified_ms=changed_ms)
    event = {
        "id": "evt_newer",
        "occurred_at": iso(changed_ms + 60_000),
        "customer": {"uuid": acme},
        "set": {"city": "Denver"},
    }
    assert send_generic(web, GENERIC_SECRET, event).status == 202
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Denver")

    dry = relay_cli(env, "sync", "--source", "hubspot", "--from-api", "--since", "2h", "--dry-run")

    assert (
        f"  city: Denver → Boston  (stale, not sent: evt_newer at {iso(changed_ms + 60_000)} is newer than "
        f"the change in HubSpot at {iso(changed_ms)})"
    ) in dry.stdout
    assert (
        "Stale, not sent: city 1 in 1 record(s) (a change applied after the record's change in HubSpot won)"
        in (dry.stdout)
    )


def test_a_run_that_fails_leaves_the_watermark_where_it_was(
    env: dict[str, str], hubspot: HubSpotHandle, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    customers(simulator, env, tmp_path, "hubspot")
    hubspot.put_company(101, {"name": "Acme Corp", "city": "Boston"}, modified_ms=now_ms() - HOUR_MS)
    assert (
        relay_cli(env, "sync", "--source", "hubspot", "--from-api", "--since", "2h", "--yes").returncode == 0
    )
    before = watermark(env)
    hubspot.put_company(102, {"city": "Hamburg"})

    refused = relay_cli(
        {**env, "CHARTMOGUL_API_KEY": "not-the-key"}, "sync", "--source", "hubspot", "--from-api", "--yes"
    )
    declined = relay_cli(env, "sync", "--source", "hubspot", "--from-api", input="n\n")

    assert refused.returncode == 2 and "refused the API key" in refused.stderr
    assert declined.returncode == 1 and "Nothing was enqueued." in declined.stderr
    assert watermark(env) == before  # the next run reads Hamburg again
    assert len(sync_events(env)) == 1


def test_chartmogul_drifting_back_is_repaired_by_the_next_run_and_never_enqueued_twice(
    env: dict[str, str],
    hubspot: HubSpotHandle,
    simulator: SimulatorHandle,
    tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    acme, _ = customers(simulator, env, tmp_path, "hubspot")
    created_ms = (now_ms() - 24 * HOUR_MS) // 1000 * 1000  # ChartMogul keeps seconds
    simulator.request("PATCH", f"/v1/customers/{acme}", {"lead_created_at": iso(created_ms)})
    company = {"name": "Acme Corp", "city": "Boston", "createdate": created_ms}
    hubspot.put_company(101, company, modified_ms=now_ms() - HOUR_MS)
    args = ("sync", "--source", "hubspot", "--from-api", "--since", "2h", "--yes", "--json")
    first = json.loads(relay_cli(env, *args).stdout)
    assert (first["enqueued"], first["fields_to_change"]) == (1, {"city": 1})  # the city alone differs
    worker = start_worker()
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Boston")
    worker.stop()
    simulator.request("PATCH", f"/v1/customers/{acme}", {"city": "San Francisco"})  # someone puts it back

    repair = json.loads(relay_cli(env, *args).stdout)
    again = json.loads(relay_cli(env, *args).stdout)

    # The same difference as the first run's, but that event was applied and ChartMogul drifted
    # back since: a new event, not "already applied".
    assert (repair["enqueued"], repair["fields_to_change"]) == (1, {"city": 1})
    assert (again["enqueued"], again["already_by_status"]) == (0, {"queued": 1})
    assert len(sync_events(env)) == 2
    start_worker()
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Boston")


@pytest.mark.timeout(180)
def test_past_hubspots_10000_result_cap_every_company_is_read_once(
    env: dict[str, str],
    hubspot: HubSpotHandle,
    simulator: SimulatorHandle,
    tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    acme, globex = customers(simulator, env, tmp_path, "hubspot")
    start = now_ms() - 2 * HOUR_MS
    # 10,050 companies, oldest first; the two linked ones are past the 10,000th.
    bulk = [(n, {"name": f"Co {n}"}, start + n) for n in range(1000, 11_048)]
    linked = [
        (101, {"name": "Acme Corp", "city": "Boston"}, start + 20_000),
        (102, {"city": "Oslo"}, start + 20_001),
    ]
    hubspot.put_companies(bulk + linked)

    done = relay_cli(env, "sync", "--source", "hubspot", "--from-api", "--since", "3h", "--yes", "--json")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["from_api"]["records"], summary["records_read"]) == (10_050, 10_050)
    assert summary["from_api"]["cap_restarts"] == 1
    assert (summary["enqueued"], summary["unmatched"]) == (2, 10_048)
    start_worker()
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Boston")
    wait_for(lambda: simulator.stored_customer(globex)["city"] == "Oslo")
    assert len(patches(simulator)) == 2
    assert watermark(env) == start + 20_001


def test_a_wrong_token_is_one_line_and_reads_nothing_else(
    env: dict[str, str], hubspot: HubSpotHandle, simulator: SimulatorHandle
) -> None:
    wrong = {**env, "RELAY_HUBSPOT_ACCESS_TOKEN": "pat-na1-wrong-token-9876"}

    done = relay_cli(wrong, "sync", "--source", "hubspot", "--from-api", "--since", "1h", "--yes")
    unset = relay_cli(
        {**env, "RELAY_HUBSPOT_ACCESS_TOKEN": None},
        "sync",
        "--source",
        "hubspot",
        "--from-api",
        "--since",
        "1h",
    )

    assert done.returncode == 2
    assert done.stderr.startswith(
        f"Error: HubSpot at {hubspot.base_url} refused RELAY_HUBSPOT_ACCESS_TOKEN (401: Authentication "
        "credentials not found.): set it to the access token of a HubSpot private app"
    )
    assert len(done.stderr.strip().splitlines()) == 1
    assert "wrong-token-9876" not in done.stdout + done.stderr
    assert unset.returncode == 2
    assert (
        "RELAY_HUBSPOT_ACCESS_TOKEN is not set: relay sync --from-api --source hubspot reads" in unset.stderr
    )
    assert [r for r in simulator.requests() if r["path"].startswith("/v1/")] == []  # ChartMogul not read
    assert watermark(env) is None


def test_the_first_run_must_say_how_far_back_and_options_that_do_not_go_together_are_named(
    env: dict[str, str], tmp_path: Path
) -> None:
    export = tmp_path / "companies.csv"
    export.write_text("Record ID,Company name\n101,Acme\n")

    first = relay_cli(env, "sync", "--source", "hubspot", "--from-api")
    both = relay_cli(env, "sync", "--source", "hubspot", str(export), "--from-api")
    as_of = relay_cli(env, "sync", "--source", "hubspot", "--from-api", "--as-of", "now")
    since_file = relay_cli(env, "sync", "--source", "hubspot", str(export), "--since", "1h")
    close = relay_cli(env, "sync", "--source", "close", "--from-api", "--since", "1h")
    neither = relay_cli(env, "sync", "--source", "hubspot")

    assert (
        first.returncode == 2
        and "no watermark for hubspot yet" in first.stderr
        and "--since 30d" in first.stderr
    )
    assert both.returncode == 2 and "give a FILE or --from-api, not both" in both.stderr
    assert as_of.returncode == 2 and "--as-of is for export files" in as_of.stderr
    assert since_file.returncode == 2 and "--since and --first-since go with --from-api" in since_file.stderr
    assert (
        close.returncode == 2
        and "--from-api reads hubspot and pipedrive; for close, sync an export file" in (close.stderr)
    )
    assert neither.returncode == 2 and "give the export FILE to read, or --from-api" in neither.stderr


def test_first_since_starts_a_first_run_and_is_ignored_once_there_is_a_watermark(
    env: dict[str, str], hubspot: HubSpotHandle, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    customers(simulator, env, tmp_path, "hubspot")
    now = now_ms()
    hubspot.put_company(101, {"name": "Acme Corp", "city": "Boston"}, modified_ms=now - HOUR_MS)
    hubspot.put_company(102, {"name": "Globex", "city": "Hamburg"}, modified_ms=now - 3 * HOUR_MS)
    args = ("sync", "--source", "hubspot", "--from-api", "--yes", "--json")

    first = json.loads(relay_cli(env, *args, "--first-since", "2h").stdout)["from_api"]
    later = json.loads(relay_cli(env, *args, "--first-since", "30d").stdout)["from_api"]

    assert (first["since_from"], first["records"]) == ("no watermark yet: --first-since 2h", 1)
    assert later["since_from"] == f"the watermark {iso(now - HOUR_MS)} less 5 min"
    assert later["records"] == 1  # Globex (3 h ago) is not read: the watermark decides


def test_pipedrive_organizations_reach_chartmogul_through_a_rate_limit(
    relay_env: dict[str, str],
    simulator: SimulatorHandle,
    tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    with running_pipedrive(token="pd-standin-0123") as pipedrive:
        env = {
            **relay_env,
            "RELAY_PIPEDRIVE_API_TOKEN": pipedrive.token,
            "RELAY_PIPEDRIVE_API_BASE": pipedrive.base_url,
        }
        acme, globex = customers(simulator, env, tmp_path, "pipedrive")
        updated = datetime.now(UTC) - timedelta(minutes=30)
        pipedrive.put_organization(
            101, {"name": "Acme Corp", "address": {"locality": "Oslo"}}, updated=updated
        )
        pipedrive.put_organization(
            102, {"name": "Globex", "address": {"locality": "Bergen"}}, updated=updated
        )
        pipedrive.throttle(1, reset_s=1)

        done = relay_cli(env, "sync", "--source", "pipedrive", "--from-api", "--since", "1h", "--yes")
        queries = pipedrive.queries()

    assert done.returncode == 0, done.stderr
    assert "Read 2 Pipedrive organizations changed since" in done.stdout
    assert "1 s waiting out rate limits" in done.stdout
    assert "Enqueued 2 changes" in done.stdout
    assert queries[-1]["sort_by"] == "update_time"
    start_worker()
    wait_for(lambda: simulator.stored_customer(acme)["city"] == "Oslo")
    wait_for(lambda: simulator.stored_customer(globex)["city"] == "Bergen")
    assert watermark(env, "pipedrive") == int(updated.replace(microsecond=0).timestamp() * 1000)
