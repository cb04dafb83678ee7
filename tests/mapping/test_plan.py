"""A per-property plan (relay/mapping/plan.py) answers exactly what map_record answers for a
one-property record, for every property of the shipped mappings and values of every kind."""

from __future__ import annotations

from typing import Any

import pytest

from relay.mapping.apply import map_record
from relay.mapping.config import load_mapping
from relay.mapping.plan import PropertyPlans

VALUES: list[Any] = [
    "Boston",
    "",
    "  ",
    None,
    0,
    42,
    3.5,
    True,
    False,
    "2026-11-20T10:00:00Z",
    "1732100000000",
    "someone@example.com",
    "not an email",
    "https://example.com/x",
    "IN_PROGRESS",
    "cus_00000000-0000-4000-8000-000000000001",
    "x" * 3000,
    {"locality": "Oslo", "country": "NO"},
    [1, 2],
]


def properties(plans: PropertyPlans, object_type: str) -> list[str]:
    mapping = plans.mapping
    names = [rule.property for rule in mapping.rules(object_type)]
    names += [name.split(".")[0] for name in names if "." in name]  # a parent of a nested path
    if mapping.link_property:
        names.append(mapping.link_property)
    return [*dict.fromkeys(names), "not_in_the_mapping", "not.in.it"]


@pytest.mark.parametrize("source", ["hubspot", "pipedrive", "close", "salesforce"])
def test_a_plan_maps_a_property_as_map_record_does(source: str) -> None:
    mapping = load_mapping(source, None)
    plans = PropertyPlans(mapping)
    checked = 0
    for object_type in mapping.objects:
        for name in properties(plans, object_type):
            for value in VALUES:
                expected = map_record(mapping, object_type, {name: value})
                assert plans.map_property(object_type, name, value) == expected, (object_type, name, value)
                checked += 1
    assert checked > 100


def test_a_plan_holds_only_the_rules_that_read_its_property() -> None:
    mapping = load_mapping("hubspot", None)
    plans = PropertyPlans(mapping)

    city = plans.plan("company", "city")
    link = plans.plan("company", mapping.link_property or "")
    unknown = plans.plan("company", "favourite_colour")

    assert [rule.target for rule in city.rules] == ["city"] and not city.link and not city.unmapped
    assert link.rules == () and link.link and not link.unmapped
    assert unknown.rules == () and not unknown.link and unknown.unmapped
    assert plans.plan("company", "city") is city  # compiled once
