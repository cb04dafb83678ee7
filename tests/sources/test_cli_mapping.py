"""`relay map check` and `relay map explain`, run as an operator runs them."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from tests.cli import Ran, relay_cli
from tests.sources.senders import FIXTURES


@pytest.fixture(autouse=True)
def in_fixtures_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    # Away from the checkout, so no `.env` there configures the command.
    monkeypatch.chdir(FIXTURES)


def relay(*args: str, mapping_dir: Path | None = None) -> Ran:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RELAY_")}
    env["RELAY_LOG_FORMAT"] = "console"
    if mapping_dir is not None:
        env["RELAY_MAPPING_DIR"] = str(mapping_dir)
    return relay_cli(env, *args)


def test_check_passes_for_the_shipped_mappings() -> None:
    result = relay("map", "check")

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok ") == 4


def test_check_fails_naming_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "close.toml").write_text('[lead_statuses]\nPotential = "Hot"\n')

    result = relay("map", "check", mapping_dir=tmp_path)

    assert result.returncode == 1
    assert f"FAIL {tmp_path / 'close.toml'}" in result.stdout
    assert "lead_statuses.Potential: 'Hot' is not a lead status" in result.stderr
    assert "close.toml replaces the shipped default" in result.stdout


def test_explain_shows_change_patch_body_operations_and_notes() -> None:
    result = relay(
        "map", "explain", "--source", "salesforce", str(FIXTURES / "salesforce_account_contact.xml")
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "event salesforce:04l5e000001AbCdAAK" in out
    assert "crm_record salesforce:account:0015e00000AbCdEAAV" in out
    assert '"website_url": "https://www.acme.example"' in out
    assert "tags       +industry:Technology" in out
    assert "employees=250 (Integer)" in out
    assert "owner id 0055e000003AbCdAAK has no ChartMogul user" in out
    assert "contract   ok" in out


def test_explain_json_has_one_object_per_event() -> None:
    result = relay("map", "explain", "--source", "hubspot", "--json", str(FIXTURES / "hubspot_batch.json"))

    assert result.returncode == 0, result.stderr
    reports = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["event_id"].partition(".")[0] for r in reports] == [
        f"hubspot:18047193{n}" for n in range(71, 76)
    ]
    assert reports[0]["patch_body"] == {"city": "Boston"}
    assert reports[0]["contract_violations"] == []
    assert reports[4]["status"] == "ignored"


def test_explain_shows_contract_violations(tmp_path: Path) -> None:
    (tmp_path / "hubspot.toml").write_text(
        '[objects.company]\ncity = { field = "state", transform = "text" }\n'
    )
    body = tmp_path / "events.json"
    body.write_bytes(
        orjson.dumps(
            [
                {
                    "eventId": 1,
                    "occurredAt": 1732100000000,
                    "objectId": 5,
                    "subscriptionType": "company.propertyChange",
                    "propertyName": "city",
                    "propertyValue": "Boston",
                }
            ]
        )
    )

    result = relay("map", "explain", "--source", "hubspot", str(body), mapping_dir=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "VIOLATION  state: state 'Boston' is not an ISO 3166-2 US state code" in result.stdout


def test_explain_says_why_a_body_would_be_refused(tmp_path: Path) -> None:
    body = tmp_path / "bomb.xml"
    body.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>')

    result = relay("map", "explain", "--source", "salesforce", str(body))

    assert result.returncode == 1
    assert "would refuse this body (400)" in result.stderr
    assert "Traceback" not in result.stderr


def test_explain_reads_a_workflow_body_event_by_event_naming_the_contact_s_company() -> None:
    result = relay("map", "explain", "--source", "hubspot", str(FIXTURES / "hubspot_workflow_contact.json"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("event hubspot:wf-contact-51-") == 4
    assert "parent     hubspot:contact:51 -> hubspot:company:1246965" in result.stdout
    assert '"title": "CFO"' in result.stdout


def test_explain_shows_a_dead_letter_for_an_event_it_cannot_read(tmp_path: Path) -> None:
    body = tmp_path / "batch.json"
    body.write_bytes(orjson.dumps([{"eventId": 1, "subscriptionType": "company.propertyChange"}]))

    result = relay("map", "explain", "--source", "hubspot", "--json", str(body))

    assert result.returncode == 0, result.stderr
    [report] = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert report["status"] == "dead_letter"
    assert report["invalid"].startswith("event [0] of its batch: occurredAt")
