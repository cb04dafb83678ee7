"""`relay links suggest`: an export matched to the simulator's customers, rule by rule; nothing
written to the link table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import redis as redis_sync

from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from relay.sync.suggest import company_key, domain
from tests.cli import relay_cli


def test_normalised_keys() -> None:
    assert domain("https://www.Acme.example/about?x=1") == "acme.example"
    assert domain("acme.example") == "acme.example"
    assert domain("not a site") is None
    assert company_key("Globex GmbH") == company_key("globex") == "globex"
    assert company_key("Initech, Inc.") == "initech"
    assert company_key("Acme Co. Ltd") == "acme"
    assert company_key("Inc") == "inc"  # a name that is only a suffix stays a name


def test_each_rule_ambiguity_and_unmatched(
    relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path
) -> None:
    by_uuid = simulator.add_customer({"name": "Alpha", "company": "Alpha"})["uuid"]
    by_external = simulator.add_customer({"name": "Beta", "external_id": "crm-2"})["uuid"]
    by_email = simulator.add_customer({"name": "Gamma", "email": "ops@gamma.example"})["uuid"]
    by_domain = simulator.add_customer({"name": "Delta", "website_url": "https://www.delta.example/"})["uuid"]
    by_name = simulator.add_customer({"name": "E", "company": "Epsilon GmbH"})["uuid"]
    twin_a = simulator.add_customer({"name": "T1", "company": "Twin Co"})["uuid"]
    twin_b = simulator.add_customer({"name": "T2", "company": "Twin Ltd"})["uuid"]
    export = tmp_path / "companies.csv"
    export.write_text(
        "Record ID,Company name,Company Domain Name,Email,External ID,ChartMogul customer uuid\n"
        f"1,Whatever,,,,{by_uuid}\n"
        "2,Beta Corp,,,crm-2,\n"
        "3,Gamma,,OPS@gamma.example,,\n"
        "4,Delta,Delta.example,,,\n"
        '5,"epsilon, inc.",,,,\n'
        "6,Twin,,,,\n"
        "7,Nobody,,,,\n"
        ",No id,,,,\n"
    )
    out = tmp_path / "links.csv"

    result = relay_cli(relay_env, "links", "suggest", "--source", "hubspot", str(export), "--out", str(out))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Records: 7; matched 5" in lines
    for rule in ("uuid", "external_id", "email", "domain", "name"):
        assert f"  by {rule}: 1" in lines
    assert "Ambiguous: 1" in lines
    assert "Unmatched: 1 (7)" in lines
    # Each record with both names and the rule; the ambiguous ones first, to choose from.
    assert lines[:9] == [
        "Ambiguous (choose one, or leave out):",
        f'  6 (line 7) "Twin" → {twin_a} "Twin Co" | {twin_b} "Twin Ltd"  [name twin]',
        "Matched:",
        f'  1 (line 2) "Whatever" → {by_uuid} "Alpha"  [uuid {by_uuid}]',
        f'  2 (line 3) "Beta Corp" → {by_external} "Beta"  [external_id crm-2]',
        f'  3 (line 4) "Gamma" → {by_email} "Gamma"  [email ops@gamma.example]',
        f'  4 (line 5) "Delta" → {by_domain} "Delta"  [domain delta.example]',
        f'  5 (line 6) "epsilon, inc." → {by_name} "Epsilon GmbH"  [name epsilon]',
        "Unmatched:",
    ]
    assert lines[9] == '  7 (line 8) "Nobody"'
    as_json = json.loads(
        relay_cli(relay_env, "links", "suggest", "--source", "hubspot", str(export), "--json").stdout
    )
    assert [s["verdict"] for s in as_json["suggestions"]] == ["ambiguous", *["matched"] * 5, "unmatched"]
    assert as_json["suggestions"][0]["candidates"] == [
        {"uuid": twin_a, "name": "Twin Co"},
        {"uuid": twin_b, "name": "Twin Ltd"},
    ]
    assert "Skipped line 9: has no id (hs_object_id)" in result.stderr
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [(r["crm_id"], r["customer_uuid"], r["rule"]) for r in rows] == [
        ("1", by_uuid, "uuid"),
        ("2", by_external, "external_id"),
        ("3", by_email, "email"),
        ("4", by_domain, "domain"),
        ("5", by_name, "name"),
    ]
    client = redis_sync.Redis.from_url(relay_env["RELAY_REDIS_URL"])
    assert client.hlen(keys.LINKS) == 0  # nothing linked until `relay links import`
    client.close()

    imported = relay_cli(relay_env, "links", "import", str(out))
    assert imported.returncode == 0, imported.stderr
    assert "Imported 5 links" in imported.stdout


def test_json_output(relay_env: dict[str, str], simulator: SimulatorHandle, tmp_path: Path) -> None:
    uuid = simulator.add_customer({"name": "Org", "company": "Org", "website_url": "https://org.example"})[
        "uuid"
    ]
    export = tmp_path / "orgs.jsonl"
    export.write_text(json.dumps({"id": 7, "name": "Other", "website": "http://org.example"}) + "\n")

    result = relay_cli(relay_env, "links", "suggest", "--source", "pipedrive", str(export), "--json")

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["matched_by_rule"]["domain"] == 1
    assert (doc["matched"], doc["ambiguous"], doc["unmatched"]) == (1, 0, 0)
    # Matched by domain though the names differ: both are shown, to review before importing.
    assert doc["suggestions"] == [
        {
            "crm_id": "7",
            "where": "line 1",
            "crm_name": "Other",
            "verdict": "matched",
            "rule": "domain",
            "value": "org.example",
            "customer_uuid": uuid,
            "customer_name": "Org",
            "candidates": [{"uuid": uuid, "name": "Org"}],
        }
    ]
