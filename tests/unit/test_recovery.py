"""Recovery (workers/recovery.py): did the calls written ahead land? Judged from the customer as
GET /v1/customers/{uuid} shows it, with each normalisation ChartMogul applies on the way.

A body is what was written ahead: a plan of calls (`{"calls": {"patch": …, "tags_add": …}}`),
or a bare PATCH body (written before tags and custom attributes had their own calls)."""

from __future__ import annotations

from typing import Any

import pytest

from workers.plan import WritePlan
from workers.recovery import plan_is_applied


@pytest.mark.parametrize(
    ("body", "customer", "applied"),
    [
        # plain fields
        pytest.param({"city": "Porto"}, {"city": "Porto"}, True, id="same value"),
        pytest.param({"city": "Porto"}, {"city": "Lisbon"}, False, id="another value"),
        pytest.param({"city": "Porto"}, {}, False, id="field not shown"),
        pytest.param({}, {"city": "Porto"}, True, id="an empty body is trivially there"),
        pytest.param({"city": ""}, {"city": None}, True, id="cleared: empty string shown as null"),
        pytest.param({"city": None}, {"city": ""}, True, id="cleared: null shown as empty string"),
        pytest.param({"city": ""}, {}, True, id="cleared: not shown at all"),
        pytest.param({"city": "", "name": "Acme"}, {"name": "Acme Inc"}, False, id="every field must match"),
        # dates: the same instant, however written
        pytest.param(
            {"lead_created_at": "2024-03-01T10:00:00Z"},
            {"lead_created_at": "2024-03-01T10:00:00.000Z"},
            True,
            id="date: Z vs Z with millis",
        ),
        pytest.param(
            {"lead_created_at": "2024-03-01T12:00:00+02:00"},
            {"lead_created_at": "2024-03-01T10:00:00Z"},
            True,
            id="date: an offset is the same instant in UTC",
        ),
        pytest.param(
            {"free_trial_started_at": "2024-03-01"},
            {"free_trial_started_at": "2024-03-01 00:00:00"},
            True,
            id="date: a naive date is UTC midnight, space-separated time",
        ),
        pytest.param(
            {"free_trial_started_at": "2024-03-01"},
            {"free_trial_started_at": "2024-03-02T00:00:00Z"},
            False,
            id="date: another day",
        ),
        pytest.param({"lead_created_at": ""}, {"lead_created_at": None}, True, id="date: cleared"),
        pytest.param(
            {"lead_created_at": ""},
            {"lead_created_at": "2024-03-01T00:00:00Z"},
            False,
            id="date: cleared but still shown",
        ),
        pytest.param(
            {"lead_created_at": "not a date"},
            {"lead_created_at": "2024-03-01T00:00:00Z"},
            False,
            id="date: unparseable sent vs a real date",
        ),
        # state: ChartMogul may show it with or without the US- prefix
        pytest.param({"state": "US-CA"}, {"state": "CA"}, True, id="state: prefix dropped"),
        pytest.param({"state": "US-CA"}, {"state": "US-CA"}, True, id="state: as sent"),
        pytest.param({"state": "US-CA"}, {"state": "NY"}, False, id="state: another state"),
        pytest.param({"state": "US-CA"}, {}, False, id="state: not shown"),
        # website_url: a bare domain is shown with https://
        pytest.param(
            {"website_url": "acme.io"}, {"website_url": "https://acme.io"}, True, id="website: https added"
        ),
        pytest.param(
            {"website_url": "acme.io"}, {"website_url": "http://acme.io"}, False, id="website: not http"
        ),
        pytest.param(
            {"website_url": "https://acme.io"},
            {"website_url": "https://acme.io"},
            True,
            id="website: with scheme, as sent",
        ),
        # tag calls: added tags present, removed tags absent; other tags are someone else's
        pytest.param(
            {"calls": {"tags_add": ["b", "a"]}},
            {"attributes": {"tags": ["a", "b"], "custom": {}}},
            True,
            id="tags added: any order",
        ),
        pytest.param(
            {"calls": {"tags_add": ["a"]}},
            {"attributes": {"tags": ["a", "theirs"], "custom": {}}},
            True,
            id="tags added: another writer's tag shown too",
        ),
        pytest.param(
            {"calls": {"tags_add": ["a", "b"]}},
            {"attributes": {"tags": ["a"]}},
            False,
            id="tags added: one missing",
        ),
        pytest.param(
            {"calls": {"tags_remove": ["old"]}}, {"attributes": {"tags": ["a"]}}, True, id="tags removed"
        ),
        pytest.param(
            {"calls": {"tags_remove": ["old"]}},
            {"attributes": {"tags": ["old"]}},
            False,
            id="tag still shown",
        ),
        # custom calls: values without their source, removed keys absent
        pytest.param(
            {"calls": {"custom_set": {"Plan": {"value": "Pro", "source": "crm"}, "CAC": 5}}},
            {"attributes": {"tags": [], "custom": {"Plan": "Pro", "CAC": 5}}},
            True,
            id="custom: {value, source} shown as the value",
        ),
        pytest.param(
            {"calls": {"custom_set": {"CAC": 5}}},
            {"attributes": {"tags": [], "custom": {"CAC": 6}}},
            False,
            id="custom: another value",
        ),
        pytest.param(
            {"calls": {"custom_remove": ["CAC"]}},
            {"attributes": {"tags": [], "custom": {"CAC": 6}}},
            False,
            id="custom: one still shown that the plan removed",
        ),
        pytest.param(
            {"calls": {"patch": {"city": "Porto"}, "tags_add": ["a"]}},
            {"city": "Porto", "attributes": {"tags": []}},
            False,
            id="every call of the plan must show",
        ),
        # a bare PATCH body with `attributes` (full sets): its tags and custom values must show
        pytest.param(
            {"attributes": {"tags": ["a"], "custom": {"CAC": 5}}},
            {"attributes": {"tags": ["a", "b"], "custom": {"CAC": 5}}},
            True,
            id="bare body: tags and custom shown",
        ),
        # primary_contact: never shown by the real API, so never counted as applied
        pytest.param(
            {"primary_contact": {"title": "CTO"}}, {"city": "Porto"}, False, id="contact: not shown"
        ),
        pytest.param(
            {"primary_contact": {"title": "CTO"}},
            {"primary_contact": {"title": "CTO", "email": "a@x.io"}},
            False,
            id="contact: never judged, even if shown",
        ),
    ],
)
def test_plan_is_applied(body: dict[str, Any], customer: dict[str, Any], applied: bool) -> None:
    assert plan_is_applied(WritePlan.from_json(body), customer) is applied
