"""Planning (workers/plan.py): waiting changes and what ChartMogul holds → the calls to send.

Pure functions, so the tables are the examples: no Redis, no HTTP.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from relay.coalesce import CoalescedChange
from workers.plan import WriteKind, guessed_type, idempotency_key, needs_customer, plan_writes


@pytest.mark.parametrize(
    ("merged", "needed"),
    [
        pytest.param(CoalescedChange(fields={"city": "Porto"}), False, id="plain fields: no"),
        pytest.param(CoalescedChange(tag_ops=[("add", "vip")]), False, id="a tag: no (attribute endpoints)"),
        pytest.param(CoalescedChange(custom_ops=[("set", "CAC", 1)]), False, id="a custom attribute: no"),
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
def test_plan_writes(
    merged: CoalescedChange, current: dict[str, Any] | None, body: dict[str, Any], violations: list[str]
) -> None:
    plan = plan_writes(merged, current)

    assert plan.patch == body
    assert len(plan.violations) == len(violations)
    for found, expected in zip(plan.violations, violations, strict=True):
        assert found.startswith(expected), found
    assert plan.idempotency_key == "e1"


def test_tags_and_custom_become_one_call_of_each_kind_the_last_operation_winning() -> None:
    merged = CoalescedChange(
        event_ids=["e1", "e2"],
        fields={"city": "Porto"},
        tag_ops=[("add", "vip"), ("add", "trial"), ("remove", "trial"), ("remove", "old")],
        custom_ops=[("set", "CAC", 1), ("remove", "Seats", None), ("set", "CAC", 2), ("set", "Seats", 3)],
    )

    plan = plan_writes(merged)

    assert plan.calls() == {
        WriteKind.PATCH: {"city": "Porto"},
        WriteKind.TAGS_ADD: ["vip"],
        WriteKind.TAGS_REMOVE: ["trial", "old"],
        WriteKind.CUSTOM_SET: {"CAC": 2, "Seats": 3},
    }
    assert plan.violations == []
    assert plan.without({WriteKind.PATCH, WriteKind.TAGS_ADD}).calls() == {
        WriteKind.TAGS_REMOVE: ["trial", "old"],
        WriteKind.CUSTOM_SET: {"CAC": 2, "Seats": 3},
    }


def test_tags_and_custom_values_are_checked_against_the_contract() -> None:
    plan = plan_writes(CoalescedChange(event_ids=["e1"], tag_ops=[("add", "")]))

    assert [v.split(":")[0] for v in plan.violations] == ["attributes.tags[0]"]


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
