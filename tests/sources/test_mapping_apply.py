"""map_record: every kind of rule, table-driven, through real mapping files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relay.mapping.apply import map_record, mapped_event
from relay.mapping.config import SourceMapping, load_mapping

MAPPING = """
link_property = "cm_uuid"

[lead_statuses]
OPEN = "Working Lead"

[owners]
"101" = "Anna@Example.com"

[objects.company]
name = { field = "company" }
domain = { field = "website_url", transform = "website" }
city = { field = "city", clear_on_empty = true }
state = { field = "state" }
country = { field = "country" }
hs_lead_status = { field = "status" }
owner = { field = "owner" }
createdate = { field = "lead_created_at" }
industry = { tag_from_value = true, tag_prefix = "industry:" }
vip = { tag = "vip", clear_on_empty = true }
seats = { custom = "seats", type = "Integer", clear_on_empty = true }
mrr_goal = { custom = "mrr_goal", type = "Decimal" }
renewal = { custom = "renewal", type = "Timestamp" }
beta = { custom = "beta", type = "Boolean" }
plan = [{ custom = "plan", type = "String" }, { tag_from_value = true }]
"address.locality" = { field = "city" }
"emails.0.value" = { field = "primary_contact.email" }

[objects.contact]
full_name = [
  { field = "primary_contact.first_name", name_part = "first" },
  { field = "primary_contact.last_name", name_part = "last" },
]
twitter = { field = "primary_contact.twitter" }
linkedin = { field = "primary_contact.linked_in" }
phone = { field = "primary_contact.phone" }
"""

CUS = "cus_ab223d54-75b4-431b-adb2-eb6b9e234571"


@pytest.fixture(scope="module")
def mapping(tmp_path_factory: pytest.TempPathFactory) -> SourceMapping:
    directory: Path = tmp_path_factory.mktemp("mapping")
    (directory / "hubspot.toml").write_text(MAPPING)
    return load_mapping("hubspot", directory)


CASES = [
    # (object type, record, expected: fields / tags_add / tags_remove / custom_set / custom_remove / note)
    ("company", {"name": " Acme Corp "}, {"fields": {"company": "Acme Corp"}}),
    ("company", {"domain": "acme.example"}, {"fields": {"website_url": "https://acme.example"}}),
    ("company", {"city": ""}, {"fields": {"city": ""}}),  # clear_on_empty
    ("company", {"name": ""}, {}),  # empty, no clear_on_empty: nothing
    ("company", {"state": "new york"}, {"fields": {"state": "US-NY"}}),
    ("company", {"state": "Bavaria"}, {"note": "state: 'Bavaria' is not a US state"}),
    ("company", {"country": "U.S.A."}, {"fields": {"country": "US"}}),
    ("company", {"hs_lead_status": "open"}, {"fields": {"status": "Working Lead"}}),
    ("company", {"hs_lead_status": "OPEN_DEAL"}, {"note": "not in the mapping's lead-status table"}),
    ("company", {"hs_lead_status": "Active"}, {"note": "ChartMogul sets from subscriptions"}),
    ("company", {"owner": 101}, {"fields": {"owner": "anna@example.com"}}),
    ("company", {"owner": "202"}, {"note": "owner id 202 has no ChartMogul user"}),
    ("company", {"createdate": 1732100000000}, {"fields": {"lead_created_at": "2024-11-20T10:53:20Z"}}),
    ("company", {"industry": "SaaS"}, {"tags_add": ["industry:SaaS"]}),
    ("company", {"vip": "true"}, {"tags_add": ["vip"]}),
    ("company", {"vip": "false"}, {"tags_remove": ["vip"]}),
    ("company", {"vip": None}, {"tags_remove": ["vip"]}),
    ("company", {"vip": "maybe"}, {"note": "vip: 'maybe' is not a yes/no value"}),
    ("company", {"seats": "1,250"}, {"custom_set": {"seats": 1250}}),
    ("company", {"seats": ""}, {"custom_remove": ["seats"]}),
    ("company", {"seats": "lots"}, {"note": "seats: 'lots' is not a whole number"}),
    ("company", {"mrr_goal": "1,234.50"}, {"custom_set": {"mrr_goal": 1234.5}}),
    ("company", {"renewal": "2026-01-01"}, {"custom_set": {"renewal": "2026-01-01T00:00:00Z"}}),
    ("company", {"beta": "yes"}, {"custom_set": {"beta": True}}),
    ("company", {"plan": "Gold"}, {"custom_set": {"plan": "Gold"}, "tags_add": ["Gold"]}),
    ("company", {"address": {"locality": "Oslo"}}, {"fields": {"city": "Oslo"}}),
    (
        "company",
        {"emails": [{"value": "B@x.example"}]},
        {"fields": {"primary_contact": {"email": "b@x.example"}}},
    ),
    ("company", {"emails": []}, {}),
    ("company", {"colour": "red"}, {"note": "not mapped (company): colour"}),
    (
        "contact",
        {"full_name": "Anna  Maria Smith"},
        {"fields": {"primary_contact": {"first_name": "Anna", "last_name": "Maria Smith"}}},
    ),
    ("contact", {"full_name": "Cher"}, {"fields": {"primary_contact": {"first_name": "Cher"}}}),
    (
        "contact",
        {"twitter": "@relay"},
        {"fields": {"primary_contact": {"twitter": "https://twitter.com/relay"}}},
    ),
    (
        "contact",
        {"linkedin": "linkedin.com/in/anna"},
        {"fields": {"primary_contact": {"linked_in": "https://linkedin.com/in/anna"}}},
    ),
    ("contact", {"phone": "call me"}, {"note": "phone: 'call me' is not a phone number"}),
]


@pytest.mark.parametrize(("object_type", "record", "expected"), CASES)
def test_rules(
    mapping: SourceMapping, object_type: str, record: dict[str, Any], expected: dict[str, Any]
) -> None:
    mapped = map_record(mapping, object_type, record)

    assert mapped.fields == expected.get("fields", {})
    assert mapped.tags_add == expected.get("tags_add", [])
    assert mapped.tags_remove == expected.get("tags_remove", [])
    assert mapped.custom_set == expected.get("custom_set", {})
    assert mapped.custom_remove == expected.get("custom_remove", [])
    if "note" in expected:
        assert any(expected["note"] in note for note in mapped.notes), mapped.notes
    else:
        assert mapped.notes == []


def test_only_changed_properties_are_mapped(mapping: SourceMapping) -> None:
    record = {"name": "Acme", "city": "Boston", "address": {"locality": "Boston", "route": "Main St"}}

    mapped = map_record(mapping, "company", record, changed=["address.locality", "address.route"])

    assert mapped.fields == {"city": "Boston"}
    assert mapped.notes == ["not mapped (company): address.route"]


def test_tag_from_value_replaces_the_previous_tag(mapping: SourceMapping) -> None:
    changed = map_record(mapping, "company", {"industry": "SaaS"}, previous={"industry": "Retail"})
    cleared = map_record(mapping, "company", {"industry": ""}, previous={"industry": "Retail"})
    same = map_record(mapping, "company", {"industry": "SaaS"}, previous={"industry": "SaaS"})

    assert (changed.tags_add, changed.tags_remove) == (["industry:SaaS"], ["industry:Retail"])
    assert (cleared.tags_add, cleared.tags_remove) == ([], ["industry:Retail"])
    assert (same.tags_add, same.tags_remove) == (["industry:SaaS"], [])


def test_bookkeeping_keys_are_not_reported(mapping: SourceMapping) -> None:
    mapped = map_record(mapping, "company", {"id": 5, "name": "Acme"}, not_properties={"id"})

    assert mapped.notes == []


@pytest.mark.parametrize(
    ("value", "links", "reason"),
    [
        (CUS, {"hubspot:company:1": CUS}, f"links hubspot:company:1 to {CUS}"),
        ("cus_not valid", {}, "not a ChartMogul customer uuid"),
        ("", {}, "nothing to change"),
    ],
)
def test_link_property(mapping: SourceMapping, value: str, links: dict[str, str], reason: str) -> None:
    mapped = map_record(mapping, "company", {"cm_uuid": value})

    event = mapped_event(
        mapping, mapped, event_id="e1", occurred_at_ms=1, crm_record="hubspot:company:1", raw="{}"
    )

    assert event.links == links
    assert event.ignored_reason is not None and reason in event.ignored_reason
    assert event.change.customer.crm_record == "hubspot:company:1"


@pytest.mark.parametrize(
    ("holds", "value", "ref"),
    [("external_id", " 42 ", {"external_id": "42"}), ("email", "A@B.example", {"email": "a@b.example"})],
)
def test_link_by_external_id_or_email_names_the_customer(
    tmp_path: Path, holds: str, value: str, ref: dict[str, str]
) -> None:
    (tmp_path / "close.toml").write_text(
        f'link_property = "ref"\nlink_holds = "{holds}"\n[objects.lead]\nname = {{ field = "company" }}\n'
    )
    mapping = load_mapping("close", tmp_path)

    mapped = map_record(mapping, "lead", {"ref": value, "name": "Acme"})
    event = mapped_event(
        mapping, mapped, event_id="e1", occurred_at_ms=1, crm_record="close:lead:lead_1", raw="{}"
    )

    assert event.links == {}
    assert event.change.customer.crm_record == "close:lead:lead_1"
    assert {k: getattr(event.change.customer, k) for k in ref} == ref
    assert event.change.fields == {"company": "Acme"}
