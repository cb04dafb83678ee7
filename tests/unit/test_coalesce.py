"""Coalescing (relay/coalesce.py): a customer's waiting changes → one PATCH body.

Each row is an example: the changes as the CRM sent them (in any order), what was already
applied, and what the merged change holds.
"""

from __future__ import annotations

from typing import Any

import pytest

from relay.changes import CustomerChange, CustomerRef
from relay.coalesce import CoalescedChange, coalesce

UUID = "cus_00000000-0000-0000-0000-000000000001"


def change(event_id: str, at: int, **parts: Any) -> CustomerChange:
    return CustomerChange(
        event_id=event_id, source="generic", occurred_at_ms=at, customer=CustomerRef(uuid=UUID), **parts
    )


@pytest.mark.parametrize(
    ("changes", "fields", "event_ids"),
    [
        pytest.param(
            [change("e1", 1, fields={"city": "Porto"})],
            {"city": "Porto"},
            ["e1"],
            id="one change is its own fields",
        ),
        pytest.param(
            [change("e1", 1, fields={"city": "Porto"}), change("e2", 2, fields={"city": "Lisbon"})],
            {"city": "Lisbon"},
            ["e1", "e2"],
            id="the last writer of a field wins",
        ),
        pytest.param(
            [change("e2", 2, fields={"city": "Lisbon"}), change("e1", 1, fields={"city": "Porto"})],
            {"city": "Lisbon"},
            ["e1", "e2"],
            id="order is occurred_at, not arrival",
        ),
        pytest.param(
            [change("e1", 1, fields={"city": "Porto"}), change("e2", 2, fields={"company": "Acme"})],
            {"city": "Porto", "company": "Acme"},
            ["e1", "e2"],
            id="different fields add up",
        ),
        pytest.param(
            [
                change("e1", 1, fields={"primary_contact": {"first_name": "Ana", "email": "a@x.io"}}),
                change("e2", 2, fields={"primary_contact": {"email": "ana@x.io", "title": "CTO"}}),
            ],
            {"primary_contact": {"first_name": "Ana", "email": "ana@x.io", "title": "CTO"}},
            ["e1", "e2"],
            id="primary_contact merges field by field",
        ),
        pytest.param(
            [change("e1", 1, fields={"city": ""}), change("e2", 2, fields={"name": None})],
            {"city": "", "name": None},
            ["e1", "e2"],
            id="clearing a field is a value like any other",
        ),
    ],
)
def test_fields(changes: list[CustomerChange], fields: dict[str, Any], event_ids: list[str]) -> None:
    merged = coalesce(changes)

    assert merged.fields == fields
    assert merged.event_ids == event_ids
    assert merged.stale_event_ids == []


@pytest.mark.parametrize(
    ("changes", "tag_ops", "custom_ops"),
    [
        pytest.param(
            [change("e1", 1, tags_add=["vip"]), change("e2", 2, tags_remove=["trial"])],
            [("add", "vip"), ("remove", "trial")],
            [],
            id="tag operations in occurred_at order",
        ),
        pytest.param(
            [change("e2", 2, tags_remove=["vip"]), change("e1", 1, tags_add=["vip"])],
            [("add", "vip"), ("remove", "vip")],
            [],
            id="add then remove the same tag, whatever the arrival order",
        ),
        pytest.param(
            [change("e1", 1, custom_set={"CAC": 10}), change("e2", 2, custom_remove=["CAC"])],
            [],
            [("set", "CAC", 10), ("remove", "CAC", None)],
            id="custom set then remove",
        ),
        pytest.param(
            [
                change(
                    "e1", 1, tags_add=["a"], tags_remove=["b"], custom_set={"k": "v"}, custom_remove=["old"]
                )
            ],
            [("add", "a"), ("remove", "b")],
            [("set", "k", "v"), ("remove", "old", None)],
            id="within one change: adds before removes, sets before removes",
        ),
    ],
)
def test_tag_and_custom_operations(
    changes: list[CustomerChange],
    tag_ops: list[tuple[str, str]],
    custom_ops: list[tuple[str, str, Any]],
) -> None:
    merged = coalesce(changes)

    assert merged.tag_ops == tag_ops
    assert merged.custom_ops == custom_ops
    assert merged.touches_attributes
    assert merged.fields == {}


@pytest.mark.parametrize(
    ("changes", "applied_at", "fields", "event_ids", "stale_event_ids"),
    [
        pytest.param(
            [change("e1", 100, fields={"city": "Porto"})],
            {"city": 200},
            {},
            [],
            ["e1"],
            id="older than what was applied to the field: stale",
        ),
        pytest.param(
            [change("e1", 200, fields={"city": "Porto"})],
            {"city": 200},
            {"city": "Porto"},
            ["e1"],
            [],
            id="as old as what was applied: still fresh",
        ),
        pytest.param(
            [change("e1", 100, fields={"city": "Porto", "company": "Acme"})],
            {"city": 200},
            {"company": "Acme"},
            ["e1"],
            [],
            id="staleness is per field: the fresh field of the event still goes",
        ),
        pytest.param(
            [change("e1", 100, fields={"primary_contact": {"email": "old@x.io", "title": "CEO"}})],
            {"primary_contact.email": 200},
            {"primary_contact": {"title": "CEO"}},
            ["e1"],
            [],
            id="per contact field",
        ),
        pytest.param(
            [change("e1", 100, tags_add=["vip"], custom_set={"CAC": 1})],
            {"tag:vip": 200, "custom:CAC": 200},
            {},
            [],
            ["e1"],
            id="tags and custom attributes are fields too",
        ),
        pytest.param(
            [change("e1", 100, fields={"city": "Porto"}), change("e2", 300, fields={"city": "Lisbon"})],
            {"city": 200},
            {"city": "Lisbon"},
            ["e2"],
            ["e1"],
            id="a stale event beside a fresh one",
        ),
        pytest.param(
            [change("e1", 100, fields={"city": "Porto"})],
            {"company": 500},
            {"city": "Porto"},
            ["e1"],
            [],
            id="another field's time does not matter",
        ),
    ],
)
def test_staleness(
    changes: list[CustomerChange],
    applied_at: dict[str, int],
    fields: dict[str, Any],
    event_ids: list[str],
    stale_event_ids: list[str],
) -> None:
    merged = coalesce(changes, applied_at)

    assert merged.fields == fields
    assert merged.event_ids == event_ids
    assert merged.stale_event_ids == stale_event_ids


def test_field_times_hold_the_newest_occurred_at_of_each_field_key() -> None:
    merged = coalesce(
        [
            change("e1", 300, fields={"city": "Porto", "primary_contact": {"email": "a@x.io"}}),
            change("e2", 100, fields={"city": "Braga"}, tags_add=["vip"], custom_remove=["CAC"]),
        ]
    )

    assert merged.field_times == {
        "city": 300,
        "primary_contact.email": 300,
        "tag:vip": 100,
        "custom:CAC": 100,
    }
    assert merged.fields["city"] == "Porto"


@pytest.mark.parametrize(
    ("changes", "tags_add", "tags_remove", "custom_set", "custom_remove"),
    [
        pytest.param(
            [change("e1", 1, tags_add=["vip"]), change("e2", 2, tags_remove=["vip"])],
            [],
            ["vip"],
            {},
            [],
            id="the last operation on a tag wins",
        ),
        pytest.param(
            [change("e1", 1, custom_remove=["CAC"]), change("e2", 2, custom_set={"CAC": 25})],
            [],
            [],
            {"CAC": 25},
            [],
            id="the last operation on a custom attribute wins",
        ),
        pytest.param(
            [change("e1", 1, tags_add=["a", "b"], custom_set={"X": 1}, custom_remove=["Y"])],
            ["a", "b"],
            [],
            {"X": 1},
            ["Y"],
            id="one call of each kind",
        ),
    ],
)
def test_attribute_calls(
    changes: list[CustomerChange],
    tags_add: list[str],
    tags_remove: list[str],
    custom_set: dict[str, Any],
    custom_remove: list[str],
) -> None:
    calls = coalesce(changes).attribute_calls()

    assert (calls.tags_add, calls.tags_remove) == (tags_add, tags_remove)
    assert (calls.custom_set, calls.custom_remove) == (custom_set, custom_remove)


@pytest.mark.parametrize(
    ("merged", "is_empty"),
    [
        pytest.param(CoalescedChange(), True, id="nothing"),
        pytest.param(CoalescedChange(fields={"city": ""}), False, id="a field"),
        pytest.param(CoalescedChange(tag_ops=[("add", "vip")]), False, id="a tag"),
        pytest.param(CoalescedChange(custom_ops=[("remove", "CAC", None)]), False, id="a custom attribute"),
    ],
)
def test_is_empty(merged: CoalescedChange, is_empty: bool) -> None:
    assert merged.is_empty is is_empty


@pytest.mark.parametrize(
    ("changes", "applied_at", "senders", "dropped"),
    [
        pytest.param(
            [
                change("e1", 1, fields={"city": "Porto", "zip": "4000"}),
                change("e2", 2, fields={"city": "Lisbon"}),
            ],
            {},
            {"city": "e2", "zip": "e1"},
            {},
            id="the newest writer of each field is the one whose value is sent",
        ),
        pytest.param(
            [change("e1", 5, fields={"city": "Porto"}, tags_add=["vip"])],
            {"city": 9},
            {"tag:vip": "e1"},
            {"e1": ["city"]},
            id="a field applied later than the change is dropped, and said to be",
        ),
        pytest.param(
            [change("e1", 1, tags_add=["vip"]), change("e2", 2, tags_remove=["vip"])],
            {},
            {"tag:vip": "e2"},
            {},
            id="the last operation on a tag is its sender",
        ),
    ],
)
def test_each_field_has_one_sender_and_stale_keys_are_named(
    changes: list[CustomerChange],
    applied_at: dict[str, int],
    senders: dict[str, str],
    dropped: dict[str, list[str]],
) -> None:
    merged = coalesce(changes, applied_at)

    assert merged.senders == senders
    assert merged.dropped == dropped
