"""Recovery (workers/recovery.py): did an in-flight PATCH land? Judged from the customer as
GET /v1/customers/{uuid} shows it, with each normalisation ChartMogul applies on the way."""

from __future__ import annotations

from typing import Any

import pytest

from workers.recovery import body_is_applied


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
        # attributes: tags as a set, custom values without their source
        pytest.param(
            {"attributes": {"tags": ["b", "a"], "custom": {}}},
            {"attributes": {"tags": ["a", "b"], "custom": {}}},
            True,
            id="tags: any order",
        ),
        pytest.param(
            {"attributes": {"tags": ["a"], "custom": {}}},
            {"attributes": {"tags": ["a", "b"], "custom": {}}},
            False,
            id="tags: one more shown",
        ),
        pytest.param({"attributes": {"tags": [], "custom": {}}}, {}, True, id="tags: none sent, none shown"),
        pytest.param(
            {"attributes": {"tags": [], "custom": {"Plan": {"value": "Pro", "source": "crm"}, "CAC": 5}}},
            {"attributes": {"tags": [], "custom": {"Plan": "Pro", "CAC": 5}}},
            True,
            id="custom: {value, source} shown as the value",
        ),
        pytest.param(
            {"attributes": {"tags": [], "custom": {"CAC": 5}}},
            {"attributes": {"tags": [], "custom": {"CAC": 6}}},
            False,
            id="custom: another value",
        ),
        pytest.param(
            {"attributes": {"tags": [], "custom": {}}},
            {"attributes": {"tags": [], "custom": {"CAC": 6}}},
            False,
            id="custom: one still shown that the body removed",
        ),
        pytest.param(
            {"attributes": {"tags": ["a"]}},
            {"attributes": {"tags": ["a"], "custom": {"CAC": 6}}},
            True,
            id="custom: not in the body, not compared",
        ),
        # primary_contact: never shown by the real API, so never counted as applied
        pytest.param(
            {"primary_contact": {"title": "CTO"}}, {"city": "Porto"}, False, id="contact: not shown"
        ),
        pytest.param(
            {"primary_contact": {"title": "CTO"}},
            {"primary_contact": {"title": "CTO", "email": "a@x.io"}},
            True,
            id="contact: shown and the same",
        ),
        pytest.param(
            {"primary_contact": {"title": "CTO"}},
            {"primary_contact": {"title": "CEO"}},
            False,
            id="contact: shown and different",
        ),
        pytest.param(
            {"primary_contact": {"notes": ""}},
            {"primary_contact": {}},
            True,
            id="contact: cleared field not shown",
        ),
    ],
)
def test_body_is_applied(body: dict[str, Any], customer: dict[str, Any], applied: bool) -> None:
    assert body_is_applied(body, customer) is applied
