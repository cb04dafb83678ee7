"""Mapping files: shipped defaults load, overrides replace them, mistakes name file and key."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from relay.changes import CustomerChange, CustomerRef
from relay.mapping.apply import map_record, mapped_event
from relay.mapping.config import (
    DEFAULTS_DIR,
    MAPPED_SOURCES,
    MappingError,
    SourceMapping,
    check_mappings,
    load_mapping,
    mapping_path,
)
from relay.sources.generic import GENERIC_EVENT, to_change
from workers.writes import declared_type


@pytest.mark.parametrize("source", MAPPED_SOURCES)
def test_shipped_defaults_load(source: str) -> None:
    mapping = load_mapping(source)

    assert mapping.path == str(DEFAULTS_DIR / f"{source}.toml")
    assert all(mapping.objects.values())
    targets = {rule.target for rules in mapping.objects.values() for rule in rules}
    assert {"company", "city", "country", "primary_contact.email"} <= targets
    assert mapping.link_holds == "uuid" and mapping.link_property


def test_defaults_cover_the_natural_fields() -> None:
    hubspot = {rule.property: rule.target for rule in load_mapping("hubspot").rules("company")}

    assert hubspot["name"] == "company"
    assert hubspot["domain"] == hubspot["website"] == "website_url"
    assert hubspot["createdate"] == "lead_created_at"
    assert hubspot["hubspot_owner_id"] == "owner"
    assert hubspot["hs_lead_status"] == "status"
    assert "free_trial_started_at" in hubspot.values()


def test_check_reports_every_shipped_file_valid() -> None:
    results = check_mappings()

    assert set(results) == {str(DEFAULTS_DIR / f"{s}.toml") for s in MAPPED_SOURCES}
    assert all(problems == [] for problems in results.values())


def test_a_file_in_the_mapping_dir_replaces_the_default(tmp_path: Path) -> None:
    (tmp_path / "hubspot.toml").write_text('[objects.company]\nname = { field = "company" }\n')

    mapping = load_mapping("hubspot", tmp_path)

    assert mapping_path("hubspot", tmp_path) == tmp_path / "hubspot.toml"
    assert mapping.path == str(tmp_path / "hubspot.toml")
    assert [rule.property for rule in mapping.rules("company")] == ["name"]
    assert mapping.rules("contact") == ()
    assert mapping.link_property is None
    assert load_mapping("close", tmp_path).path == str(DEFAULTS_DIR / "close.toml")  # no override: default


BROKEN = [
    pytest.param(
        '[objects.company]\nname = { field = "compnay" }',
        "objects.company.name.field",
        "not a ChartMogul field",
    ),
    pytest.param(
        '[objects.company]\nx = { field = "primary_contact.nickname" }',
        "objects.company.x.field",
        "not a ChartMogul",
    ),
    pytest.param(
        '[objects.company]\nname = { field = "company", transform = "uppercase" }',
        "objects.company.name.transform",
        "unknown transform 'uppercase'",
    ),
    pytest.param('[lead_statuses]\nOPEN = "Active"', "lead_statuses.OPEN", "'Active' is not a lead status"),
    pytest.param('[lead_statuses]\nOPEN = "working lead"', "lead_statuses.OPEN", "not a lead status"),
    pytest.param('[owners]\n"123" = "anna"', "owners.123", "not the email address"),
    pytest.param('[objects.deal]\namount = { field = "company" }', "objects.deal", "no object type 'deal'"),
    pytest.param(
        '[objects.company]\nemployees = { custom = "employees" }',
        "objects.company.employees.type",
        "needs a type",
    ),
    pytest.param(
        '[objects.company]\nemployees = { custom = "employees", type = "Number" }',
        "objects.company.employees.type",
        "String, Integer, Decimal, Timestamp, Boolean",
    ),
    pytest.param("[objects.company]\nname = { }", "objects.company.name", "exactly one of"),
    pytest.param(
        '[objects.company]\nname = { field = "company", tag = "x" }', "objects.company.name", "exactly one of"
    ),
    pytest.param(
        '[objects.company]\nname = { field = "company", colour = "red" }',
        "objects.company.name.colour",
        "unknown key",
    ),
    pytest.param(
        '[objects.company]\nhs_lead_status = { field = "status", clear_on_empty = true }',
        "objects.company.hs_lead_status.clear_on_empty",
        "cannot be cleared",
    ),
    pytest.param(
        '[objects.company]\nis_public = { tag = "public", transform = "text" }',
        "objects.company.is_public.transform",
        "yes/no",
    ),
    pytest.param(
        '[objects.company]\nn = { tag_from_value = true, transform = "integer" }',
        "objects.company.n.transform",
        "cannot be a tag",
    ),
    pytest.param(
        '[objects.company]\na = { custom = "k", type = "String" }\nb = { custom = "k", type = "Integer" }',
        "objects.company.b.type",
        "declared String",
    ),
    pytest.param('link_holds = "phone"', "link_holds", "uuid, external_id, email"),
    pytest.param('unmatched = "drop"', "unmatched", "'dead_letter', 'create', 'ignore'"),
    pytest.param('link_data_source_uuid = "abc"', "link_data_source_uuid", "ds_"),
    pytest.param('colour = "red"', "colour", "unknown key"),
    pytest.param("[objects.company]\nname = 5", "objects.company.name", "must be a table"),
    pytest.param("name = [", "", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "message"), BROKEN)
def test_mistakes_are_errors_naming_file_and_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = tmp_path / "hubspot.toml"
    path.write_text(text + "\n")

    with pytest.raises(MappingError) as refused:
        load_mapping("hubspot", tmp_path)

    [problem] = refused.value.problems
    assert problem.startswith(f"{path}: {key}")
    assert message in problem


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "pipedrive.toml").write_text(
        '[lead_statuses]\nA = "Active"\n[objects.organization]\nname = { field = "nope" }\n'
        'x = { custom = "k" }\n'
    )

    results = check_mappings(tmp_path)

    problems = results[str(tmp_path / "pipedrive.toml")]
    assert len(problems) == 3
    assert all(str(tmp_path / "pipedrive.toml") in p for p in problems)


def test_check_names_stray_files_and_a_missing_dir(tmp_path: Path) -> None:
    (tmp_path / "hubspt.toml").write_text("")

    stray = check_mappings(tmp_path)
    missing = check_mappings(tmp_path / "nowhere")

    assert "never read" in stray[str(tmp_path / "hubspt.toml")][0]
    assert "not a directory" in missing[str(tmp_path / "nowhere")][0]


def declared_types(mapping: SourceMapping, object_type: str, record: dict[str, Any]) -> dict[str, str]:
    """The custom attribute types the change mapped from `record` carries."""
    mapped = map_record(mapping, object_type, record)
    event = mapped_event(mapping, mapped, event_id="e1", occurred_at_ms=1, crm_record="crm:x:1", raw="{}")
    return event.change.custom_types


def test_changes_carry_the_custom_attribute_types_of_the_current_file(tmp_path: Path) -> None:
    hubspot = declared_types(
        load_mapping("hubspot"), "company", {"numberofemployees": 12, "annualrevenue": "5.5"}
    )
    assert hubspot["employees"] == "Integer"
    assert hubspot["annual_revenue"] == "Decimal"
    assert hubspot.get("unknown") is None
    generic = GENERIC_EVENT.validate_python(
        {
            "id": "e1",
            "occurred_at": "2026-01-01T00:00:00Z",
            "customer": {"uuid": "cus_1"},
            "custom": {"set": {"employees": 3}},
        }
    )
    assert to_change(generic).custom_types == {}
    salesforce = declared_types(
        load_mapping("salesforce"), "Account", {"NumberOfEmployees": "5", "AnnualRevenue": "1"}
    )
    assert salesforce == {"employees": "Integer", "annual_revenue": "Decimal"}

    override = tmp_path / "hubspot.toml"
    override.write_text('[objects.company]\nnumberofemployees = { custom = "employees", type = "String" }\n')
    assert declared_types(load_mapping("hubspot", tmp_path), "company", {"numberofemployees": 12}) == {
        "employees": "String"
    }

    override.write_text('[objects.company]\nnumberofemployees = { custom = "employees", type = "Decimal" }\n')
    later = time.time() + 5
    os.utime(override, (later, later))  # a new modification time: the file is read again
    typed = declared_types(load_mapping("hubspot", tmp_path), "company", {"numberofemployees": 12})
    assert typed == {"employees": "Decimal"}


def test_types_survive_storage_and_a_change_stored_without_them_falls_back_to_the_value(
    tmp_path: Path,
) -> None:
    typed = CustomerChange(
        event_id="e1",
        source="hubspot",
        occurred_at_ms=1,
        customer=CustomerRef(crm_record="hubspot:company:1"),
        custom_set={"employees": 12},
        custom_types={"employees": "String"},
    )
    assert CustomerChange.from_json(typed.to_json()).custom_types == {"employees": "String"}
    assert declared_type([typed], "employees", 12) == "String"

    stored = orjson.loads(typed.to_json())
    del stored["custom_types"]  # as changes were stored before the type travelled with them
    older = CustomerChange.from_json(orjson.dumps(stored))
    assert older.custom_types == {}
    assert declared_type([older], "employees", 12) == "Integer"

    # A broken file declares nothing: it is refused when it loads, before any change is mapped.
    (tmp_path / "hubspot.toml").write_text('[objects.company]\nx = { custom = "employees" }\n')
    with pytest.raises(MappingError):
        load_mapping("hubspot", tmp_path)


@pytest.mark.parametrize(
    ("policy", "company", "contact"),
    [
        ("dead_letter", "", ""),
        ("ignore", "ignore", "ignore"),
        ("create", "create", "await_parent"),  # a contact is never created: its company is
    ],
)
def test_unmatched_says_what_a_change_does_when_no_customer_matches(
    tmp_path: Path, policy: str, company: str, contact: str
) -> None:
    shipped = (DEFAULTS_DIR / "hubspot.toml").read_text()
    (tmp_path / "hubspot.toml").write_text(f'unmatched = "{policy}"\n' + shipped)
    mapping = load_mapping("hubspot", tmp_path)

    def carried(object_type: str, record: str) -> str:
        mapped = map_record(mapping, object_type, {"city": "Boston", "firstname": "Ada"})
        event = mapped_event(
            mapping,
            mapped,
            event_id="e",
            occurred_at_ms=1,
            crm_record=record,
            raw="{}",
            object_type=object_type,
        )
        return event.change.unmatched

    assert mapping.unmatched == policy
    assert mapping.lead_objects == ("company",)
    assert carried("company", "hubspot:company:1") == company
    assert carried("contact", "hubspot:contact:1") == contact


def test_the_default_is_a_dead_letter_and_a_change_stores_its_policy(tmp_path: Path) -> None:
    assert load_mapping("pipedrive").unmatched == "dead_letter"
    change = CustomerChange(
        "e", "hubspot", 1, CustomerRef(crm_record="hubspot:company:1"), unmatched="create"
    )

    assert CustomerChange.from_json(change.to_json()).unmatched == "create"
