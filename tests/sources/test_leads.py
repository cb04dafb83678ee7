"""Records no ChartMogul customer matches, created as leads (a mapping's `unmatched = "create"`)
or ignored (`"ignore"`): end to end through the web app, real `relay worker` processes and the
simulator, which creates customers as ChartMogul does (an external_id unique in its data source).

    a new company       one POST /v1/customers (a readable name until one arrives), linked, applied
    several at once     one lead for a burst of events about one new record
    a race              two workers creating the same lead: one customer, one link
    a worker dies       after its create landed: the next one finds it, creates nothing
    a contact           waits for its company's lead, then goes through by itself
    ignore              recorded as ignored, with the reason
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from relay.mapping.config import DEFAULTS_DIR
from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from tests.cli import relay_cli
from tests.servers import WorkerProcess, free_port, wait_for
from tests.sources.senders import hubspot_event, hubspot_event_id, send_hubspot
from tests.webhooks import get

LEADS = "ds_11111111-2222-3333-4444-555555555555"
RECORD = "hubspot:company:8302"
CONTACT = {"subscriptionType": "contact.propertyChange", "objectId": 51}


def mapping_dir(tmp_path: Path, policy: str) -> Path:
    """The shipped HubSpot mapping with `unmatched = <policy>`, and the company name feeding the
    customer's name too (so a lead created before its name arrived gets it)."""
    directory = tmp_path / "mapping"
    directory.mkdir(exist_ok=True)
    shipped = (DEFAULTS_DIR / "hubspot.toml").read_text()
    named = shipped.replace(
        'name = { field = "company" }', 'name = [{ field = "company" }, { field = "name" }]'
    )
    (directory / "hubspot.toml").write_text(f'unmatched = "{policy}"\n' + named)
    return directory


@dataclass
class Relay:
    """A web app and workers that create leads under a data source the simulator has, with short
    leases (a stalled worker's run out fast); the simulator and the test's Redis beside them."""

    web: str
    settings: dict[str, str]
    start: Callable[..., WorkerProcess]
    sim: SimulatorHandle
    redis: redis.Redis

    def start_worker(self, *args: str) -> WorkerProcess:
        return self.start(*args, **self.settings)

    def leads(self, record: str = RECORD) -> list[dict[str, Any]]:
        found = self.sim.request("GET", f"/v1/customers?external_id={record}&data_source_uuid={LEADS}")
        return list(found.body["entries"])

    def creates(self) -> list[dict[str, Any]]:
        return [r for r in self.sim.requests() if (r["method"], r["path"]) == ("POST", "/v1/customers")]


@pytest.fixture
def relay(
    start_web: Callable[..., str],
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> Relay:
    simulator.add_data_source("CRM leads", uuid=LEADS)
    settings = {
        "RELAY_MAPPING_DIR": str(mapping_dir(tmp_path, "create")),
        "RELAY_CHARTMOGUL_DATA_SOURCE_UUID": LEADS,
        "RELAY_LEASE_S": "1",
    }
    return Relay(start_web(**settings), settings, start_worker, simulator, redis_client)


def status(client: redis.Redis, event_id: str) -> str | None:
    return client.hget(keys.event(event_id), "status")  # type: ignore[return-value]


def history(client: redis.Redis, event_id: str) -> list[str]:
    return [orjson.loads(e)["what"] for e in client.lrange(keys.event_history(event_id), 0, -1)]


def applied(client: redis.Redis, *event_ids: str) -> bool:
    statuses = [status(client, e) for e in event_ids]
    if "dead" in statuses:
        reasons = {e: client.hmget(keys.event(e), "reason", "error") for e in event_ids}
        raise AssertionError(f"dead-lettered: {reasons}")
    return all(s in ("applied", "stale") for s in statuses)


def test_a_new_company_becomes_a_lead_linked_and_then_updated(relay: Relay) -> None:
    first = [
        hubspot_event(2001, 8302, "city", "Boston"),
        hubspot_event(2002, 8302, "domain", "acme.example"),
        hubspot_event(2003, 8302, "createdate", "1704103200000"),
        hubspot_event(2004, 8302, "hs_lead_status", "OPEN_DEAL"),
    ]
    assert send_hubspot(relay.web, first).status == 202
    relay.start_worker()  # the four wait together: one lead for them

    wait_for(lambda: applied(relay.redis, *map(hubspot_event_id, first)))
    [lead] = relay.leads()
    [create] = relay.creates()
    assert create["body"] == {
        "data_source_uuid": LEADS,
        "external_id": RECORD,
        "name": "HubSpot company 8302",  # no name has arrived yet: ChartMogul requires one
        "city": "Boston",
        "website_url": "https://acme.example",
        "lead_created_at": "2024-01-01T10:00:00Z",
    }
    stored = relay.sim.stored_customer(lead["uuid"])
    assert (stored["city"], stored["status"]) == ("Boston", "Qualified Lead")  # the change, applied
    assert relay.redis.hget(keys.LINKS, RECORD) == lead["uuid"]
    assert "lead_created" in history(relay.redis, hubspot_event_id(first[0]))

    later = hubspot_event(2005, 8302, "name", "Acme Corp")
    assert send_hubspot(relay.web, [later]).status == 202
    wait_for(lambda: applied(relay.redis, hubspot_event_id(later)))
    stored = relay.sim.stored_customer(lead["uuid"])
    assert (stored["name"], stored["company"]) == ("Acme Corp", "Acme Corp")
    assert len(relay.creates()) == 1  # linked: never created again


def test_two_workers_racing_to_create_the_same_lead_make_one_customer_and_one_link(relay: Relay) -> None:
    """The first worker's create is slow and the worker stalls (SIGSTOP): its lease runs out, the
    second worker finds no customer yet and creates one too. ChartMogul keeps an external_id
    once per data source; the loser looks again and links the winner's."""
    relay.sim.set_faults(latency_ms=2500, only="POST /v1/customers")
    event = hubspot_event(2101, 8302, "name", "Racing Ltd")
    first = relay.start_worker()
    assert send_hubspot(relay.web, [event]).status == 202
    wait_for(lambda: relay.creates())
    os.kill(first.proc.pid, signal.SIGSTOP)
    try:
        relay.start_worker()
        wait_for(lambda: len(relay.creates()) == 2, timeout_s=10)
        wait_for(lambda: applied(relay.redis, hubspot_event_id(event)), timeout_s=20)
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)
    time.sleep(1.0)  # the first worker hears its 201 now, and finds its lease gone

    [lead] = relay.leads()
    assert sorted(c["status"] for c in relay.creates()) == [201, 422]
    assert {k: v for k, v in relay.redis.hgetall(keys.LINKS).items() if v == lead["uuid"]} == {
        RECORD: lead["uuid"]
    }
    assert relay.sim.stored_customer(lead["uuid"])["name"] == "Racing Ltd"
    assert status(relay.redis, hubspot_event_id(event)) == "applied"


def test_a_worker_that_dies_after_its_create_landed_leaves_one_customer(relay: Relay) -> None:
    """ChartMogul created the customer; the worker died before hearing so (kill -9). The next
    worker looks before creating again, and finds it."""
    relay.sim.set_faults(answer_latency_ms=5000, only="POST /v1/customers")
    event = hubspot_event(2201, 8302, "name", "Survivor Inc")
    first = relay.start_worker()
    assert send_hubspot(relay.web, [event]).status == 202
    wait_for(lambda: relay.leads())  # it landed; the answer is on its way
    first.kill()

    relay.start_worker()
    wait_for(lambda: applied(relay.redis, hubspot_event_id(event)))

    [lead] = relay.leads()
    assert len(relay.creates()) == 1
    assert relay.redis.hget(keys.LINKS, RECORD) == lead["uuid"]
    assert "lead_found" in history(relay.redis, hubspot_event_id(event))


def test_a_contact_waits_for_its_company_lead_then_goes_through(relay: Relay) -> None:
    port = free_port()
    relay.start_worker("--metrics-port", str(port))
    contact = [
        hubspot_event(2301, 51, "associatedcompanyid", "9", **CONTACT),  # its company: 9
        hubspot_event(2302, 51, "firstname", "Ada", **CONTACT),
    ]
    assert send_hubspot(relay.web, contact).status == 202
    waiting = hubspot_event_id(contact[1])
    wait_for(lambda: status(relay.redis, waiting) == "dead")
    error = relay.redis.hget(keys.event(waiting), "error") or ""
    assert "hubspot:contact:51 is a contact" in error and "once hubspot:company:9 is linked" in error
    assert relay.creates() == []  # a contact is never created

    company = hubspot_event(2303, 9, "name", "Globex")
    assert send_hubspot(relay.web, [company]).status == 202

    # dead until the company's lead exists; then re-queued by itself
    wait_for(lambda: status(relay.redis, waiting) == "applied")
    assert applied(relay.redis, hubspot_event_id(company))
    [lead] = relay.leads("hubspot:company:9")
    assert (relay.sim.primary_contact(lead["uuid"]) or {})["first_name"] == "Ada"
    replays = [e for e in history(relay.redis, waiting) if e == "replayed"]
    assert replays == ["replayed"]
    scraped = get(f"http://127.0.0.1:{port}/metrics").text
    assert 'relay_dlq_replayed_total{trigger="lead_created"} 1.0' in scraped
    assert 'relay_unmatched_total{action="created"} 1.0' in scraped
    assert 'relay_unmatched_total{action="dead_letter"} 1.0' in scraped


def test_ignore_records_the_event_as_ignored_with_the_reason(
    start_web: Callable[..., str],
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    directory = mapping_dir(tmp_path, "ignore")
    web = start_web(RELAY_MAPPING_DIR=str(directory))
    start_worker(RELAY_MAPPING_DIR=str(directory))
    event = hubspot_event(2401, 777, "city", "Nowhere")
    assert send_hubspot(web, [event]).status == 202

    wait_for(lambda: status(redis_client, hubspot_event_id(event)) == "ignored")
    reason = redis_client.hget(keys.event(hubspot_event_id(event)), "reason") or ""
    assert "no ChartMogul customer matches CRM record hubspot:company:777" in reason
    assert 'unmatched = "ignore"' in reason
    assert redis_client.zcard(keys.DLQ) == 0
    assert [r for r in simulator.requests() if r["method"] == "POST"] == []


def test_relay_serve_refuses_create_without_a_data_source(relay_env: dict[str, str], tmp_path: Path) -> None:
    env = {**relay_env, "RELAY_MAPPING_DIR": str(mapping_dir(tmp_path, "create"))}

    done = relay_cli(env, "serve", "--port", str(free_port()))

    assert done.returncode == 2
    assert 'unmatched = "create" needs RELAY_CHARTMOGUL_DATA_SOURCE_UUID' in done.stderr


def test_a_sync_makes_leads_of_the_records_no_customer_matches(
    relay: Relay, relay_env: dict[str, str], tmp_path: Path
) -> None:
    """A company the CRM export holds and no webhook brought: with `unmatched = "create"`, the
    sync enqueues it whole, a worker creates its lead and links it; the next sync finds it."""
    export = tmp_path / "companies.csv"
    export.write_text(
        "Record ID,Company name,City,Country/Region,Lead Status\n"
        "8302,Acme Corp,Boston,United States,OPEN_DEAL\n"
    )
    unmatched = tmp_path / "unmatched.csv"
    env = {**relay_env, **relay.settings}

    dry = relay_cli(env, "sync", "--source", "hubspot", str(export), "--dry-run")
    ran = relay_cli(env, "sync", "--source", "hubspot", str(export), "--yes", "--unmatched", str(unmatched))
    relay.start_worker()

    assert dry.returncode == 0, dry.stderr
    assert f"{RECORD} (line 2) → a new ChartMogul lead" in dry.stdout
    assert 'Leads to create (unmatched = "create"): 1' in dry.stdout
    assert ran.returncode == 0, ran.stderr
    assert RECORD.split(":")[-1] not in unmatched.read_text()  # not left to link by hand
    wait_for(lambda: relay.leads())
    [lead] = relay.leads()
    wait_for(lambda: relay.sim.stored_customer(lead["uuid"])["status"] == "Qualified Lead")
    stored = relay.sim.stored_customer(lead["uuid"])
    assert (stored["name"], stored["company"], stored["city"], stored["country"]) == (
        "Acme Corp",
        "Acme Corp",
        "Boston",
        "US",
    )
    assert relay.redis.hget(keys.LINKS, RECORD) == lead["uuid"]

    again = relay_cli(env, "sync", "--source", "hubspot", str(export), "--dry-run", "--json")
    totals = orjson.loads(again.stdout)["totals"]
    assert (totals["matched"], totals["to_create"], totals["unchanged"]) == (1, 0, 1)
    assert len(relay.creates()) == 1
