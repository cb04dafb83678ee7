"""Planning (workers/plan.py): waiting changes and what ChartMogul holds → the PATCH to send.

Pure functions, so the tables are the examples: no Redis, no HTTP.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from relay.coalesce import CoalescedChange
from workers.plan import guessed_type, idempotency_key, needs_customer, new_custom_attributes, plan_patch


@pytest.mark.parametrize(
    ("merged", "needed"),
    [
        pytest.param(CoalescedChange(fields={"city": "Porto"}), False, id="plain fields: no"),
        pytest.param(CoalescedChange(tag_ops=[("add", "vip")]), True, id="a tag: the current tags"),
        pytest.param(
            CoalescedChange(custom_ops=[("set", "CAC", 1)]), True, id="a custom attribute: the current set"
        ),
        pytest.param(
            CoalescedChange(fields={"lead_created_at": "2024-01-01"}),
            True,
            id="lead date alone: the current trial date",
        ),
        pytest.param(
            CoalescedChange(fields={"free_trial_started_at": "2024-01-01"}),
            True,
            id="trial date alone: the current lead date",
        ),
        pytest.param(
            CoalescedChange(fields={"lead_created_at": "2024-01-01", "free_trial_started_at": "2024-01-02"}),
            False,
            id="both dates: the body checks itself",
        ),
        pytest.param(CoalescedChange(), False, id="nothing"),
    ],
)
def test_needs_customer(merged: CoalescedChange, needed: bool) -> None:
    assert needs_customer(merged) is needed


@pytest.mark.parametrize(
    ("merged", "current", "body", "violations"),
    [
        pytest.param(
            CoalescedChange(event_ids=["e1"], fields={"city": "Porto"}),
            None,
            {"city": "Porto"},
            [],
            id="a plain field as it is",
        ),
        pytest.param(
            CoalescedChange(event_ids=["e1"], fields={"website_url": "acme.io"}),
            None,
            {"website_url": "https://acme.io"},
            [],
            id="a bare domain normalised as ChartMogul would",
        ),
        pytest.param(
            CoalescedChange(event_ids=["e1"], tag_ops=[("add", "vip")]),
            {"attributes": {"tags": ["trial"], "custom": {"CAC": 1}}},
            {"attributes": {"tags": ["trial", "vip"], "custom": {"CAC": 1}}},
            [],
            id="attributes merged into the current set",
        ),
        pytest.param(
            CoalescedChange(event_ids=["e1"], fields={"status": "Active"}),
            None,
            {"status": "Active"},
            ["status: status 'Active' is set by ChartMogul"],
            id="a status only ChartMogul sets",
        ),
        pytest.param(
            CoalescedChange(event_ids=["e1"], fields={"country": "usa", "city": "Austin"}),
            None,
            {"country": "usa", "city": "Austin"},
            ["country: "],
            id="a country that is no ISO code",
        ),
        pytest.param(
            CoalescedChange(event_ids=["e1"], fields={"free_trial_started_at": "2024-01-01"}),
            {"lead_created_at": "2024-02-01T00:00:00Z"},
            {"free_trial_started_at": "2024-01-01"},
            ["free_trial_started_at: free_trial_started_at 2024-01-01 is before the customer's current"],
            id="a trial before the lead ChartMogul holds",
        ),
        pytest.param(
            CoalescedChange(event_ids=["e1"], fields={"free_trial_started_at": "2024-03-01"}),
            {"lead_created_at": "2024-02-01T00:00:00Z"},
            {"free_trial_started_at": "2024-03-01"},
            [],
            id="a trial after the lead ChartMogul holds",
        ),
    ],
)
def test_plan_patch(
    merged: CoalescedChange, current: dict[str, Any] | None, body: dict[str, Any], violations: list[str]
) -> None:
    plan = plan_patch(merged, current)

    assert plan.body == body
    assert len(plan.violations) == len(violations)
    for found, expected in zip(plan.violations, violations, strict=True):
        assert found.startswith(expected), found
    assert plan.idempotency_key == "e1"


def test_plan_patch_refuses_attribute_changes_without_the_customer() -> None:
    with pytest.raises(ValueError, match="current attributes"):
        plan_patch(CoalescedChange(event_ids=["e1"], tag_ops=[("add", "vip")]), None)


def digest(*event_ids: str) -> str:
    return "coalesced-" + hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("event_ids", "key"),
    [
        pytest.param(["evt_1"], "evt_1", id="one event: its own id"),
        pytest.param(["evt_1", "evt_2"], digest("evt_1", "evt_2"), id="several: a digest of the set"),
        pytest.param(["evt_2", "evt_1"], digest("evt_1", "evt_2"), id="the order does not matter"),
    ],
)
def test_idempotency_key(event_ids: list[str], key: str) -> None:
    assert idempotency_key(event_ids) == key


def test_idempotency_keys_of_different_sets_differ() -> None:
    keys = {idempotency_key(ids) for ids in (["a", "b"], ["a", "c"], ["a", "b", "c"], ["ab"])}

    assert len(keys) == 4
    assert all(len(k) == len("coalesced-") + 32 for k in keys if k != "ab")


@pytest.mark.parametrize(
    ("body", "current", "new"),
    [
        pytest.param({"attributes": {"custom": {"CAC": 1}}}, None, {}, id="no customer read: none known new"),
        pytest.param(
            {"attributes": {"tags": [], "custom": {"CAC": 1, "Seats": 3}}},
            {"attributes": {"custom": {"CAC": 0}}},
            {"Seats": 3},
            id="only the keys the customer lacks",
        ),
        pytest.param(
            {"attributes": {"tags": [], "custom": {"CAC": 1}}},
            {"attributes": {"custom": {"CAC": 0}}},
            {},
            id="all known",
        ),
        pytest.param({"city": "Porto"}, {"attributes": {"custom": {}}}, {}, id="no attributes in the body"),
        pytest.param(
            {"attributes": {"custom": {"Plan": {"value": "Pro", "source": "crm"}}}},
            {},
            {"Plan": {"value": "Pro", "source": "crm"}},
            id="a customer without attributes",
        ),
    ],
)
def test_new_custom_attributes(
    body: dict[str, Any], current: dict[str, Any] | None, new: dict[str, Any]
) -> None:
    assert new_custom_attributes(body, current) == new


@pytest.mark.parametrize(
    ("value", "type_"),
    [
        (True, "Boolean"),
        (False, "Boolean"),
        (3, "Integer"),
        (0, "Integer"),
        (2.5, "Decimal"),
        ("Pro", "String"),
        ("3", "String"),
        (None, "String"),
        ({"value": 7, "source": "crm"}, "Integer"),
        ({"value": True}, "Boolean"),
        ({"source": "crm"}, "String"),
    ],
)
def test_guessed_type(value: Any, type_: str) -> None:
    assert guessed_type(value) == type_
