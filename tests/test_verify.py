"""What counts as "ChartMogul kept the value sent" (workers/verify.py), and what recovery counts
as landed (workers/recovery.py): ChartMogul's own normalisation, as its recorded answers show it."""

from __future__ import annotations

from typing import Any

import pytest

from workers.plan import WritePlan
from workers.recovery import plan_is_applied
from workers.verify import NotApplied, custom_not_set, patch_not_applied, same, tags_not_added


@pytest.mark.parametrize(
    ("name", "sent", "shown"),
    [
        ("state", "US-CA", "CA"),
        ("website_url", "acme.com", "https://acme.com"),
        ("website_url", "https://acme.com", "https://acme.com"),
        ("lead_created_at", "2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05.000Z"),
        ("lead_created_at", "2016-01-01 14:30:00 UTC", "2016-01-01T14:30:00.000Z"),
        ("owner", "Ann@Acme.com", "ann@acme.com"),
        ("country", "DE", "DE"),
        ("city", "", None),
    ],
)
def test_normalised_values_are_kept(name: str, sent: Any, shown: Any) -> None:
    assert same(name, sent, shown)


@pytest.mark.parametrize(
    ("name", "sent", "shown"),
    [
        ("owner", "nobody@example.com", None),
        ("state", "US-NY", None),  # recorded 2023: a state next to a non-US country became null
        ("country", "de", "DE"),  # country codes compare as sent
        ("lead_created_at", "2024-01-02T03:04:05+00:00", "2024-01-02T03:04:06.000Z"),
        ("city", "Oslo", ""),
        ("city", "", "Oslo"),
    ],
)
def test_values_not_kept(name: str, sent: Any, shown: Any) -> None:
    assert not same(name, sent, shown)


def test_not_applied_names_the_field_the_value_sent_and_the_value_kept() -> None:
    missed = patch_not_applied(
        {"owner": "nobody@example.com", "city": "Oslo", "primary_contact": {"title": "CFO"}},
        {"owner": "old@acme.com", "city": "Oslo"},
    )

    assert missed == [NotApplied("owner", "nobody@example.com", "old@acme.com")]  # contact not checked
    assert str(missed[0]) == "owner: sent 'nobody@example.com', ChartMogul kept 'old@acme.com'"
    assert missed[0].label == "owner"
    assert tags_not_added(["vip", "x"], ["vip"])[0].label == "tags"
    assert (
        custom_not_set({"renewal": "2025-01-31 00:00:00 UTC"}, {"renewal": "2025-01-31T00:00:00.000Z"}) == []
    )
    assert custom_not_set({"CAC": {"value": 25, "source": "crm"}}, {"CAC": 24})[0].label == "custom"


def test_recovery_counts_a_plan_landed_only_when_every_call_shows() -> None:
    plan = WritePlan(
        patch={"city": "Oslo"},
        tags_add=["vip"],
        tags_remove=["old"],
        custom_set={"CAC": 25},
        custom_remove=["x"],
    )
    landed = {"city": "Oslo", "attributes": {"tags": ["own", "vip"], "custom": {"CAC": 25}}}

    assert plan_is_applied(plan, landed)
    assert not plan_is_applied(
        plan, {**landed, "attributes": {"tags": ["vip", "old"], "custom": {"CAC": 25}}}
    )
    assert not plan_is_applied(
        plan, {**landed, "attributes": {"tags": ["vip"], "custom": {"CAC": 25, "x": 1}}}
    )
    assert not plan_is_applied(WritePlan(patch={"primary_contact": {"title": "CFO"}}), landed)
    # a PATCH body written ahead before the attribute endpoints: its tag set must all show
    legacy = WritePlan.from_json({"city": "Oslo", "attributes": {"tags": ["vip", "gone"], "custom": {}}})
    assert (legacy.patch, legacy.tags_add) == ({"city": "Oslo"}, ["vip", "gone"])
    assert not plan_is_applied(legacy, landed)
