"""Issue 21 end to end: sources declared by a file, through a real `relay serve` process, a real
`relay worker` and the ChartMogul simulator, to the customer.

    the examples     each shipped example's sample body reaches its customer (links imported
                     with `relay links import`, a Make person through its company)
    replay           `relay dlq replay` maps a dead letter through the file as it is now, and an
                     unreadable event is delivered once the file reads it
    look-ups, stale  a link property holding an email finds the customer; an older change is stale
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from relay.settings import source_secret_env
from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from tests.cli import relay_cli
from tests.servers import ServeProcess, WorkerProcess, wait_for
from tests.sources.senders import DECLARED_SECRETS, declared_env, example_body, send_declared
from tests.sources.test_end_to_end import settled
from tests.webhooks import iso, post

NOW = time.time()
OWNER = "anna.owner@acme.example"


@pytest.fixture
def declared(relay_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The relay's environment, serving every shipped example from a mapping directory."""
    mapping_dir = tmp_path / "mapping"
    mapping_dir.mkdir()
    env = {**relay_env, **declared_env(mapping_dir, *DECLARED_SECRETS)}
    # An operator's copy of the Freshsales file: the shipped one plus an owner table.
    freshsales = mapping_dir / "freshsales.toml"
    freshsales.write_text(
        freshsales.read_text().replace("[owners]\n", f'[owners]\n"70000004567" = "{OWNER}"\n')
    )
    return env


@pytest.fixture
def relay(
    declared: dict[str, str], tmp_path: Path, start_worker: Callable[..., WorkerProcess]
) -> Iterator[ServeProcess]:
    """`relay serve` and `relay worker` on the test's Redis and simulator."""
    server = ServeProcess(declared, tmp_path / "web.log")
    start_worker()
    yield server
    server.stop()


def customer(simulator: SimulatorHandle, company: str, **fields: Any) -> dict[str, Any]:
    return simulator.add_customer(
        {"company": company, "attributes": {"tags": ["existing"], "custom": {}, "stripe": {}}, **fields}
    )


def shown(simulator: SimulatorHandle, uuid: str) -> dict[str, Any]:
    stored = simulator.stored_customer(uuid)
    contact = {k: v for k, v in (simulator.primary_contact(uuid) or {}).items() if v}
    return {
        **{name: stored[name] for name in ("company", "city", "zip", "state", "country", "website_url")},
        "owner": stored["owner"],
        "status": stored["status"],
        "tags": sorted(stored["attributes"]["tags"]),
        "custom": stored["attributes"]["custom"],
        "primary_contact": contact,
    }


def arrives(simulator: SimulatorHandle, client: redis.Redis, uuid: str, **expected: Any) -> None:
    """Wait until the customer shows `expected` (fails early, with the reason, on a dead letter)."""

    def current() -> dict[str, Any]:
        return {k: v for k, v in shown(simulator, uuid).items() if k in expected}

    settled(simulator, client, uuid, expected, current)


ACME = {"city": "Boston", "zip": "02110", "state": "MA", "country": "US"}  # as ChartMogul shows it


def test_every_example_reaches_its_customer(
    relay: ServeProcess,
    declared: dict[str, str],
    simulator: SimulatorHandle,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    simulator.add_custom_attribute("employees", "Integer")
    simulator.add_user(OWNER)
    uuids = {name: customer(simulator, f"Old {name}")["uuid"] for name in DECLARED_SECRETS}
    links = tmp_path / "links.csv"
    links.write_text(
        "source,crm_id,customer_uuid\n"
        f"salesforce-flow,0015e00000AbCdEAAV,{uuids['salesforce-flow']}\n"
        f"zoho,4876876000000345001,{uuids['zoho']}\n"
        f"freshsales,70000123456,{uuids['freshsales']}\n"
        f"pipedrive-automations,42,{uuids['pipedrive-automations']}\n"
        f"zapier,company:61234567,{uuids['zapier']}\n"
        f"make,companies:b3c1e9a2-4f6d-4c8b-9e2a-7d5f1c3b8a60,{uuids['make']}\n"
    )
    imported = relay_cli(declared, "links", "import", str(links))
    assert imported.returncode == 0, imported.stderr

    answers = {name: send_declared(relay.base_url, name, example_body(name)) for name in DECLARED_SECRETS}

    assert {name: a.status for name, a in answers.items()} == dict.fromkeys(DECLARED_SECRETS, 202)
    employees = {"employees": 250}
    arrives(
        simulator, redis_client, uuids["salesforce-flow"],
        company="Acme Corp", website_url="https://www.acme.example", **ACME,
        tags=["existing", "industry:Technology"], custom=employees,
    )  # fmt: skip
    arrives(
        simulator, redis_client, uuids["zoho"],
        company="Acme Corp", status="Qualified Lead", **ACME,
        tags=["existing", "industry:Technology"], custom=employees,
    )  # fmt: skip
    arrives(
        simulator, redis_client, uuids["freshsales"],
        company="Acme Corp", website_url="https://www.acme.example", **ACME, custom=employees, owner=OWNER,
    )  # fmt: skip
    arrives(
        simulator, redis_client, uuids["pipedrive-automations"],
        company="Acme Corp", **ACME, tags=["existing", "pipedrive:Customer"], custom=employees,
    )  # fmt: skip
    arrives(
        simulator, redis_client, uuids["zapier"],
        company="Acme Corp", website_url="https://acme.example", **ACME, tags=["enterprise", "existing"],
    )  # fmt: skip
    # The person has no link of their own: they reach their company's customer (its parent).
    arrives(
        simulator, redis_client, uuids["make"],
        company="Acme Corp", city="Boston", country="US", custom=employees,
        primary_contact={
            "first_name": "Anna", "last_name": "Smith", "email": "anna.smith@acme.example", "title": "CFO",
        },
    )  # fmt: skip
    started = [line for line in relay.log_lines() if line.get("event") == "web_started"]
    assert started and started[0]["sources_declared"] == sorted(DECLARED_SECRETS)


def replay(env: dict[str, str]) -> None:
    done = relay_cli(env, "dlq", "replay", "--reason", "customer_not_found", "--yes")
    assert done.returncode == 0, done.stderr


def test_replay_maps_a_dead_letter_through_the_file_as_it_is_now(
    relay: ServeProcess, declared: dict[str, str], simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    uuid = customer(simulator, "Old Zoho")["uuid"]
    sent = send_declared(relay.base_url, "zoho", example_body("zoho"))
    event_id = sent.body["event_id"]
    wait_for(lambda: redis_client.hget(keys.event(event_id), "reason") == "customer_not_found")

    # The operator links the account and adds a rule; the replayed event goes through the new file.
    mapping = Path(declared["RELAY_MAPPING_DIR"]) / "zoho.toml"
    text = mapping.read_text().replace(
        '"account.name" = { field = "company" }',
        '"account.name" = { field = "company" }\n"account.account_type" = { tag_from_value = true }',
    )
    mapping.write_text(text.replace('"account.account_type" = { field = "status" }\n', ""))
    redis_client.hset(keys.LINKS, "zoho:accounts:4876876000000345001", uuid)
    replay(declared)

    arrives(
        simulator,
        redis_client,
        uuid,
        company="Acme Corp",
        tags=["Customer", "existing", "industry:Technology"],
    )
    assert simulator.stored_customer(uuid)["status"] != "Qualified Lead"  # the rule taken out


def test_an_unreadable_event_is_delivered_once_the_file_reads_it(
    relay: ServeProcess, declared: dict[str, str], simulator: SimulatorHandle, redis_client: redis.Redis
) -> None:
    simulator.add_custom_attribute("employees", "Integer")
    uuid = customer(simulator, "Old Make")["uuid"]
    redis_client.hset(keys.LINKS, "make:companies:b3c1e9a2-4f6d-4c8b-9e2a-7d5f1c3b8a60", uuid)
    company, person = example_body("make")
    company["modified_at"] = company.pop("updated_at")  # a module of the scenario says it so

    answer = send_declared(relay.base_url, "make", [company, person])

    assert answer.body["dead_lettered"] == 1, answer.text
    listed = relay_cli(declared, "dlq", "list", "--reason", "invalid_event")
    assert "make:invalid-" in listed.stdout and "nothing at 'updated_at'" in listed.stdout
    mapping = Path(declared["RELAY_MAPPING_DIR"]) / "make.toml"
    text = mapping.read_text().replace('event_id = ["record_id", "updated_at"]', 'event_id = "record_id"')
    mapping.write_text(text.replace('occurred_at = "updated_at"', 'occurred_at = "modified_at"'))
    replayed = relay_cli(declared, "dlq", "replay", "--reason", "invalid_event", "--yes")
    assert replayed.returncode == 0 and "1 replayed" in replayed.stdout, replayed.stdout + replayed.stderr

    arrives(simulator, redis_client, uuid, company="Acme Corp", primary_contact={
        "first_name": "Anna", "last_name": "Smith", "email": "anna.smith@acme.example", "title": "CFO",
    })  # fmt: skip


LOOKUP = """
link_property = "email"
link_holds = "email"

[source]
auth = "header"
secret_header = "X-Relay-Token"
event_id = "id"
occurred_at = "changed_at"
record_id = "account_id"
object = "account"

[objects.account]
city = { field = "city" }
"""


def test_a_link_property_finds_the_customer_and_an_older_change_is_stale(
    relay_env: dict[str, str],
    tmp_path: Path,
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    redis_client: redis.Redis,
) -> None:
    (tmp_path / "acme-crm.toml").write_text(LOOKUP)
    secret = "acme-crm-token-7c2e9b4f1a"
    env = {**relay_env, "RELAY_MAPPING_DIR": str(tmp_path), source_secret_env("acme-crm"): secret}
    server = ServeProcess(env, tmp_path / "web.log")
    try:
        start_worker()
        uuid = customer(simulator, "Acme Corp", email="billing@acme.example")["uuid"]
        url = f"{server.base_url}/webhooks/acme-crm"

        def send(event_id: str, city: str, at: float) -> str:
            body = {"id": event_id, "account_id": "A-1", "email": "billing@acme.example", "city": city}
            changed_at = iso(datetime.fromtimestamp(at, UTC))
            answer = post(url, orjson.dumps({**body, "changed_at": changed_at}), {"X-Relay-Token": secret})
            assert answer.status == 202, answer.text
            return str(answer.body["event_id"])

        newer = send("ev-2", "Boston", NOW - 60)
        arrives(simulator, redis_client, uuid, city="Boston")
        older = send("ev-1", "Albany", NOW - 3600)
        wait_for(lambda: redis_client.hget(keys.event(older), "status") == "stale")
    finally:
        server.stop()
    assert redis_client.hget(keys.event(newer), "status") == "applied"
    assert simulator.stored_customer(uuid)["city"] == "Boston"
