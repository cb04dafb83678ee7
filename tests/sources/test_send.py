"""`relay send`: a file posted to a running relay, signed as each source's sender signs it with
this machine's configured secret; the relay's own verification is what accepts it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import redis

from relay.settings import source_secret_env
from relay.store import keys
from tests.cli import relay_cli
from tests.servers import free_port
from tests.sources.senders import FIXTURES, declared_env, example_body
from tests.webhooks import iso

UUID = "cus_00000000-0000-4000-8000-0000000000c1"


def generic_event(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_bytes(
        orjson.dumps(
            {"id": "evt_sent", "occurred_at": iso(), "customer": {"uuid": UUID}, "set": {"city": "Oslo"}}
        )
    )
    return path


@pytest.mark.parametrize(
    ("source", "file", "status", "event_id"),
    [
        ("hubspot", "hubspot_batch.json", 202, "hubspot:"),
        ("pipedrive", "pipedrive_organization_change.json", 202, "pipedrive:"),
        ("salesforce", "salesforce_lead.xml", 200, "salesforce:"),
        ("close", "close_lead_updated.json", 202, "close:"),
    ],
)
def test_each_crm_file_is_signed_as_its_sender_signs_it_and_accepted(
    relay_env: dict[str, str],
    start_web: Callable[..., str],
    redis_client: redis.Redis,
    source: str,
    file: str,
    status: int,
    event_id: str,
) -> None:
    web = start_web()

    sent = relay_cli(relay_env, "send", "--source", source, str(FIXTURES / file), "--url", web)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith(f"{status} ")
    assert any(str(e).startswith(event_id) for e in redis_client.zrange(keys.EVENTS, 0, -1))


def test_a_generic_event_is_signed_with_standard_webhooks(
    relay_env: dict[str, str], start_web: Callable[..., str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    web = start_web()

    sent = relay_cli(relay_env, "send", "--source", "generic", str(generic_event(tmp_path)), "--url", web)

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines() == ["202 Accepted", '{"status":"accepted","event_id":"evt_sent"}']
    assert redis_client.hget(keys.event("evt_sent"), "status") == "queued"


def test_hubspot_behind_a_proxy_signs_the_public_url(
    relay_env: dict[str, str], start_web: Callable[..., str]
) -> None:
    public = {"RELAY_PUBLIC_BASE_URL": "https://relay.example.com"}
    web = start_web(**public)
    file = str(FIXTURES / "hubspot_batch.json")

    assert (
        relay_cli({**relay_env, **public}, "send", "--source", "hubspot", file, "--url", web).returncode == 0
    )
    # Signed for the address it was posted to instead, the relay (which rebuilds the public one) refuses it.
    refused = relay_cli(relay_env, "send", "--source", "hubspot", file, "--url", web)
    assert refused.returncode == 1 and refused.stdout.startswith("401 ")


def test_salesforce_carries_this_org_id_and_path_token(
    relay_env: dict[str, str], start_web: Callable[..., str], tmp_path: Path
) -> None:
    token = {"RELAY_SALESFORCE_PATH_TOKEN": "tok-5f2a9c1e7b3d4a6f"}
    web = start_web(**token)
    other_org = tmp_path / "message.xml"
    other_org.write_bytes(
        (FIXTURES / "salesforce_lead.xml").read_bytes().replace(b"00D5e000000AbCdEAK", b"00D000000000001AAA")
    )

    sent = relay_cli({**relay_env, **token}, "send", "--source", "salesforce", str(other_org), "--url", web)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "<Ack>true</Ack>" in sent.stdout
    assert "OrganizationId set to this machine's RELAY_SALESFORCE_ORG_ID" in sent.stderr


def test_a_refusal_is_printed_with_its_status_and_exit_1(
    relay_env: dict[str, str], start_web: Callable[..., str], tmp_path: Path
) -> None:
    web = start_web()
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "evt_x", "customer": {}}')

    sent = relay_cli(relay_env, "send", "--source", "generic", str(broken), "--url", web)

    assert sent.returncode == 1
    assert sent.stdout.startswith("422 ") and "error" in sent.stdout


def test_a_source_without_its_secret_and_an_absent_relay_are_one_line(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    event = str(generic_event(tmp_path))
    unset = relay_cli({**relay_env, "RELAY_GENERIC_SECRET": None}, "send", "--source", "generic", event)
    nowhere = relay_cli(
        relay_env, "send", "--source", "generic", event, "--url", f"http://127.0.0.1:{free_port()}"
    )

    assert unset.returncode == 2
    assert unset.stderr.strip() == (
        "Error: RELAY_GENERIC_SECRET is not set: "
        "relay send signs with this machine's Standard Webhooks secret"
    )
    assert nowhere.returncode == 1
    assert "cannot reach the relay at http://127.0.0.1:" in nowhere.stderr and "(--url)" in nowhere.stderr


@pytest.mark.parametrize("name", ["salesforce-flow", "zoho", "freshsales", "make"])
def test_a_declared_source_is_signed_as_its_file_says(
    relay_env: dict[str, str],
    start_web: Callable[..., str],
    redis_client: redis.Redis,
    tmp_path: Path,
    name: str,
) -> None:
    env = {**relay_env, **declared_env(tmp_path, name)}
    web = start_web(**env)
    body = tmp_path / "body.json"
    body.write_bytes(orjson.dumps(example_body(name)))

    sent = relay_cli(env, "send", "--source", name, str(body), "--url", web)

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("202 ")
    assert any(str(e).startswith(f"{name}:") for e in redis_client.zrange(keys.EVENTS, 0, -1))


def test_a_declared_source_without_its_secret_here_says_which_variable_to_set(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**relay_env, **declared_env(tmp_path, "zoho")}
    del env[source_secret_env("zoho")]
    body = tmp_path / "body.json"
    body.write_bytes(orjson.dumps(example_body("zoho")))

    sent = relay_cli(env, "send", "--source", "zoho", str(body), "--url", "http://127.0.0.1:9")
    unknown = relay_cli(env, "send", "--source", "nocrm", str(body))

    assert sent.returncode == 2
    assert "RELAY_SOURCE_ZOHO_SECRET is not set" in sent.stderr and "Traceback" not in sent.stderr
    assert unknown.returncode == 2 and "'nocrm' is not one of" in unknown.stderr
