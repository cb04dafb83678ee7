"""relay/contract/: the Update a Customer contract, rule by rule, then properties over any body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS, LEAD_STATUSES
from relay.contract import (
    TOP_LEVEL_KEYS,
    ContractViolation,
    format_timestamp,
    is_country_code,
    is_us_state_code,
    looks_like_email,
    normalize_update,
    normalize_website_url,
    parse_timestamp,
    us_state_codes,
    validate_update,
    website_url_problem,
)

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)

# The seed page's example body, with real addresses where the page shows "[email protected]".
SEED_BODY: dict[str, Any] = {
    "lead_created_at": "2023-01-01 00:00:00",
    "free_trial_started_at": "2023-06-13 15:45:13",
    "city": "San Francisco",
    "country": "US",
    "state": "US-CA",
    "owner": "ben@example.com",
    "attributes": {
        "tags": ["high-value"],
        "custom": {"CAC": 25, "channel": {"value": "Twitter", "source": "integration2"}},
    },
    "primary_contact": {
        "first_name": "Anna",
        "last_name": "Gardner",
        "email": "anna@example.com",
        "title": "CFO",
        "phone": "+123456789",
        "linked_in": "https://linkedin.com/example",
        "twitter": "https://twitter.com/example",
        "notes": "Heading\nBody\nFooter",
    },
    "website_url": "https://example.com",
}

# The customer as GET /v1/customers/{uuid} returns it (the seed page's response).
CURRENT: dict[str, Any] = {
    "uuid": "cus_ab223d54-75b4-431b-adb2-eb6b9e234571",
    "lead_created_at": "2023-01-01T00:00:00.000Z",
    "free_trial_started_at": "2023-06-13T15:45:13.000Z",
    "state": "CA",
    "country": "US",
    "status": "Active",
}


def check(body: Mapping[str, Any], **kwargs: Any) -> list[ContractViolation]:
    kwargs.setdefault("now", NOW)
    return validate_update(body, **kwargs)


# --- bodies that pass -----------------------------------------------------------------------

VALID = [
    pytest.param(SEED_BODY, id="seed-example"),
    pytest.param({}, id="empty-body"),
    pytest.param({"company": "Example Company", "zip": "99801", "city": "Juneau"}, id="plain-text"),
    pytest.param({"name": "Ben", "email": "ben@example.com"}, id="deprecated-name-email"),
    pytest.param({"status": "New Lead"}, id="status-new"),
    pytest.param({"status": "Unqualified Lead"}, id="status-unqualified"),
    pytest.param({"state": "US-NY"}, id="state"),
    pytest.param({"state": "US-DC"}, id="state-dc"),
    pytest.param({"state": "US-PR"}, id="state-territory"),
    pytest.param({"country": "DE"}, id="country"),
    pytest.param({"lead_created_at": "2024-03-01T10:00:00Z"}, id="lead-z"),
    pytest.param({"lead_created_at": "2024-03-01T10:00:00.000Z"}, id="lead-ms-z"),
    pytest.param({"lead_created_at": "2024-03-01T10:00:00+01:00"}, id="lead-offset"),
    pytest.param({"lead_created_at": "2024-03-01T10:00:00.000+0000"}, id="lead-salesforce"),
    pytest.param({"lead_created_at": "2024-03-01 10:00:00"}, id="lead-naive-space"),
    pytest.param({"lead_created_at": "2024-03-01"}, id="lead-date-only"),
    pytest.param({"lead_created_at": "2026-05-01T12:00:00Z"}, id="lead-exactly-now"),
    pytest.param({"lead_created_at": "2026-05-01T13:59:00+02:00"}, id="lead-offset-just-past"),
    pytest.param(
        {"lead_created_at": "2024-03-01T10:00:00Z", "free_trial_started_at": "2024-03-01T10:00:00Z"},
        id="trial-same-as-lead",
    ),
    pytest.param(
        {"lead_created_at": "2024-03-01T10:00:00Z", "free_trial_started_at": "2024-03-01T11:00:00+01:00"},
        id="trial-same-instant-other-offset",
    ),
    pytest.param({"website_url": "http://example.com"}, id="website-http"),
    pytest.param({"website_url": "example.com"}, id="website-bare-domain"),
    pytest.param({"website_url": "HTTPS://example.com/x?y=1#z"}, id="website-scheme-case"),
    pytest.param({"website_url": "https://example.com:8443"}, id="website-port"),
    pytest.param({"owner": "mike@example.com"}, id="owner"),
    pytest.param({"primary_contact": {"notes": "line one\nline two"}}, id="contact-notes"),
    pytest.param({"primary_contact": {}}, id="contact-empty"),
    pytest.param({"attributes": {"tags": [], "custom": {}}}, id="attributes-cleared"),
    pytest.param(
        {"attributes": {"tags": ["vip", "webinar"], "custom": {"Marketing_channel": "Facebook", "n": 2}}},
        id="attributes-merged",
    ),
    pytest.param(
        {"attributes": {"tags": [], "custom": {"a": None, "b": True, "c": 1.5, "d": {"value": 3}}}},
        id="custom-scalars",
    ),
    pytest.param({"attributes": {"tags": (), "custom": {}}}, id="tags-tuple"),
]


@pytest.mark.parametrize("body", VALID)
def test_valid_bodies_pass(body: dict[str, Any]) -> None:
    assert check(body) == []


@pytest.mark.parametrize("field", [f for f in CUSTOMER_FIELDS if f != "status"])
@pytest.mark.parametrize("empty", ["", None], ids=["empty-string", "null"])
def test_every_field_but_status_can_be_cleared(field: str, empty: str | None) -> None:
    assert check({field: empty}) == []


@pytest.mark.parametrize("field", CONTACT_FIELDS)
def test_every_contact_field_can_be_cleared(field: str) -> None:
    assert check({"primary_contact": {field: ""}}) == []


# --- one broken rule at a time --------------------------------------------------------------


def broken(body: Any, field: str, fragment: str, *, id: str) -> Any:
    return pytest.param(body, field, fragment, id=id)


BROKEN = [
    # the body and its keys
    broken(["company", "x"], "(body)", "must be a JSON object, not an array", id="body-array"),
    broken({"foo": "bar"}, "foo", "'foo' is not a field of Update a Customer", id="unknown-key"),
    broken({"Company": "x"}, "Company", "not a field", id="key-case"),
    broken({"mrr": 3000}, "mrr", "mrr is read-only", id="read-only-mrr"),
    broken({"address": {"city": "x"}}, "address", "read-only", id="read-only-address"),
    broken({"customer-since": "2023-01-01"}, "customer-since", "read-only", id="read-only-hyphenated"),
    broken({"uuid": "cus_1"}, "uuid", "read-only", id="read-only-uuid"),
    broken({1: "x"}, "1", "1 is not a field", id="non-string-key"),
    broken({10**5000: "x"}, "a number too long to show", "not a field", id="huge-int-key"),
    # text fields
    broken(
        {"company": 42},
        "company",
        'company must be a string (send "" to clear it), not a number',
        id="number",
    ),
    broken({"city": ["SF"]}, "city", "not an array", id="array"),
    broken({"zip": {"code": "1"}}, "zip", "not an object", id="object"),
    broken({"name": True}, "name", "not a boolean", id="boolean"),
    # status
    broken(
        {"status": "Active"},
        "status",
        "'Active' is set by ChartMogul from the customer's subscriptions",
        id="active",
    ),
    broken({"status": "Past Due"}, "status", "cannot be written", id="past-due"),
    broken({"status": "cancelled"}, "status", "cannot be written", id="cancelled-lower"),
    broken({"status": "new lead"}, "status", "did you mean 'New Lead'?", id="wrong-case"),
    broken({"status": "NEW"}, "status", "'NEW' is not a lead status; send one of New Lead", id="crm-value"),
    broken({"status": ""}, "status", "status cannot be cleared", id="empty"),
    broken({"status": None}, "status", "status cannot be cleared", id="null"),
    broken({"status": 1}, "status", "not a number", id="number"),
    # state
    broken(
        {"state": "CA"}, "state", "'CA' is not an ISO 3166-2 US state code such as 'US-CA'", id="bare-code"
    ),
    broken({"state": "ca"}, "state", "did you mean 'US-CA'?", id="bare-code-lower"),
    broken({"state": "us-ca"}, "state", "not an ISO 3166-2 US state code", id="iso-lower"),
    broken({"state": "California"}, "state", "not an ISO 3166-2", id="name"),
    broken({"state": "US-ZZ"}, "state", "not an ISO 3166-2", id="unknown-code"),
    broken({"state": "CA-ON"}, "state", "not an ISO 3166-2", id="canadian"),
    broken({"state": " US-CA"}, "state", "not an ISO 3166-2", id="padded"),
    # country
    broken(
        {"country": "USA"},
        "country",
        "'USA' is not an ISO 3166 alpha-2 country code such as 'US'",
        id="alpha-3",
    ),
    broken({"country": "USA"}, "country", "did you mean 'US'?", id="alpha-3-hint"),
    broken({"country": "us"}, "country", "did you mean 'US'?", id="lower"),
    broken({"country": "United States"}, "country", "not an ISO 3166 alpha-2", id="name"),
    broken({"country": "UK"}, "country", "not an ISO 3166 alpha-2", id="uk"),
    broken({"country": "XX"}, "country", "not an ISO 3166 alpha-2", id="unassigned"),
    # timestamps
    broken(
        {"lead_created_at": "yesterday"},
        "lead_created_at",
        "'yesterday' is not an ISO 8601 time such as 2024-03-01T10:00:00Z",
        id="words",
    ),
    broken({"lead_created_at": "1700000000000"}, "lead_created_at", "not an ISO 8601", id="epoch-ms"),
    broken({"lead_created_at": "03/01/2024"}, "lead_created_at", "not an ISO 8601", id="us-slashes"),
    broken({"lead_created_at": "2024-02-30"}, "lead_created_at", "not an ISO 8601", id="impossible-date"),
    broken({"lead_created_at": "2024-W09-5"}, "lead_created_at", "not an ISO 8601", id="week-date"),
    broken({"lead_created_at": "20240301"}, "lead_created_at", "not an ISO 8601", id="basic-format"),
    broken({"lead_created_at": 1700000000}, "lead_created_at", "must be a string", id="number"),
    broken(
        {"lead_created_at": "2026-05-01T12:00:01Z"},
        "lead_created_at",
        "lead_created_at 2026-05-01T12:00:01Z is in the future (now is 2026-05-01T12:00:00Z)",
        id="future-by-a-second",
    ),
    broken(
        {"free_trial_started_at": "2030-01-01"},
        "free_trial_started_at",
        "is in the future",
        id="trial-future",
    ),
    broken(
        {"lead_created_at": "2026-05-01T11:30:00-01:00"},
        "lead_created_at",
        "is in the future",
        id="future-through-offset",
    ),
    # website
    broken(
        {"website_url": "ftp://example.com"}, "website_url", "must start with http:// or https://", id="ftp"
    ),
    broken({"website_url": "mailto:a@example.com"}, "website_url", "must start with http://", id="mailto"),
    broken({"website_url": "example com"}, "website_url", "contains blanks", id="blank"),
    broken({"website_url": " https://example.com"}, "website_url", "contains blanks", id="padded"),
    broken({"website_url": "localhost"}, "website_url", "has no domain name", id="no-dot"),
    broken({"website_url": "https://"}, "website_url", "has no domain name", id="scheme-only"),
    broken({"website_url": "https://a:b@example.com"}, "website_url", "user name", id="userinfo"),
    broken({"website_url": "https://example.com:http"}, "website_url", "invalid port", id="bad-port"),
    broken({"website_url": "https://exa\x00mple.com"}, "website_url", "control characters", id="control"),
    # emails
    broken({"email": "ben"}, "email", "'ben' is not an email address", id="email"),
    broken({"email": "Ben <ben@example.com>"}, "email", "not an email", id="email-display-name"),
    broken({"owner": "Mike"}, "owner", "owner 'Mike' is not an email address", id="owner-name"),
    broken({"owner": "123"}, "owner", "not an email", id="owner-crm-id"),
    # primary_contact
    broken(
        {"primary_contact": "Anna"}, "primary_contact", "must be an object, not a string", id="contact-string"
    ),
    broken(
        {"primary_contact": {"email": "anna"}}, "primary_contact.email", "not an email", id="contact-email"
    ),
    broken(
        {"primary_contact": {"mobile": "+1"}},
        "primary_contact.mobile",
        "'mobile' is not a primary_contact field",
        id="contact-unknown-key",
    ),
    broken(
        {"primary_contact": {"phone": 5550100}},
        "primary_contact.phone",
        "must be a string",
        id="contact-number",
    ),
    # attributes
    broken(
        {"attributes": ["vip"]}, "attributes", "attributes must be an object, not an array", id="attrs-array"
    ),
    broken(
        {"attributes": {"tags": [], "custom": {}, "stripe": {}}},
        "attributes.stripe",
        "cannot be written; only tags and custom can",
        id="attrs-stripe",
    ),
    broken(
        {"attributes": {"tags": ["vip"]}},
        "attributes.custom",
        "attributes.custom is missing: ChartMogul would delete every one",
        id="attrs-without-custom",
    ),
    broken(
        {"attributes": {"custom": {"a": 1}}},
        "attributes.tags",
        "attributes.tags is missing",
        id="attrs-no-tags",
    ),
    broken(
        {"attributes": {"tags": "vip", "custom": {}}}, "attributes.tags", "must be an array", id="tags-string"
    ),
    broken(
        {"attributes": {"tags": ["vip", 3], "custom": {}}},
        "attributes.tags[1]",
        "a tag must be a string, not a number",
        id="tag-number",
    ),
    broken(
        {"attributes": {"tags": [" "], "custom": {}}}, "attributes.tags[0]", "cannot be empty", id="tag-blank"
    ),
    broken(
        {"attributes": {"tags": [], "custom": []}},
        "attributes.custom",
        "must be an object",
        id="custom-array",
    ),
    broken(
        {"attributes": {"tags": [], "custom": {"CAC": [1, 2]}}},
        "attributes.custom.CAC",
        "must be a string, number, boolean or null, not an array",
        id="custom-array-value",
    ),
    broken(
        {"attributes": {"tags": [], "custom": {"channel": {"value": "x", "origin": "y"}}}},
        "attributes.custom.channel",
        'must be a plain value or {"value": …, "source": …}',
        id="custom-extra-key",
    ),
    broken(
        {"attributes": {"tags": [], "custom": {"channel": {"source": "y"}}}},
        "attributes.custom.channel",
        "must be a plain value",
        id="custom-no-value",
    ),
    broken(
        {"attributes": {"tags": [], "custom": {"channel": {"value": "x", "source": 2}}}},
        "attributes.custom.channel",
        "source must be a string, not a number",
        id="custom-source-number",
    ),
    broken(
        {"attributes": {"tags": [], "custom": {"channel": {"value": {"nested": 1}}}}},
        "attributes.custom.channel",
        "not an object",
        id="custom-nested-value",
    ),
    broken(
        {"attributes": {"tags": [], "custom": {"n": float("nan")}}},
        "attributes.custom.n",
        "is not a finite number",
        id="custom-nan",
    ),
    broken(
        {"attributes": {"tags": [], "custom": {"n": 2**70}}},
        "attributes.custom.n",
        "too large a number",
        id="custom-huge-int",
    ),
    broken(
        {"attributes": {"tags": [], "custom": {"": 1}}},
        "attributes.custom.",
        "non-empty string",
        id="custom-empty-name",
    ),
]


@pytest.mark.parametrize(("body", "field", "fragment"), BROKEN)
def test_broken_rule_is_reported(body: Any, field: str, fragment: str) -> None:
    violations = check(body)
    assert [v.field for v in violations] == [field], violations
    assert fragment in violations[0].message, violations[0].message


def test_every_violation_is_reported_not_just_the_first() -> None:
    body = {"status": "Active", "state": "CA", "country": "USA", "foo": 1, "primary_contact": {"email": "x"}}
    assert {v.field for v in check(body)} == {"status", "state", "country", "foo", "primary_contact.email"}


def test_violation_reads_as_one_line() -> None:
    violation = ContractViolation("state", "state 'CA' is not …")
    assert str(violation) == "state: state 'CA' is not …"


# --- free trial not before lead ------------------------------------------------------------

TRIAL_ORDER = [
    pytest.param(
        {"lead_created_at": "2026-03-01T00:00:00Z", "free_trial_started_at": "2026-01-01T00:00:00Z"},
        None,
        "free_trial_started_at",
        "free_trial_started_at 2026-01-01T00:00:00Z is before lead_created_at 2026-03-01T00:00:00Z",
        id="both-in-body",
    ),
    pytest.param(
        {"lead_created_at": "2024-03-01 10:00:00", "free_trial_started_at": "2024-03-01T10:00:00+00:01"},
        None,
        "free_trial_started_at",
        "is before lead_created_at 2024-03-01 10:00:00",
        id="both-in-body-offset-a-minute-earlier",
    ),
    pytest.param(
        {"free_trial_started_at": "2022-12-31T23:59:59Z"},
        CURRENT,
        "free_trial_started_at",
        "free_trial_started_at 2022-12-31T23:59:59Z is before the customer's current lead_created_at "
        "2023-01-01T00:00:00.000Z",
        id="trial-against-current-lead",
    ),
    pytest.param(
        {"lead_created_at": "2023-07-01"},
        CURRENT,
        "lead_created_at",
        "lead_created_at 2023-07-01 is after the customer's current free_trial_started_at "
        "2023-06-13T15:45:13.000Z",
        id="lead-against-current-trial",
    ),
]


@pytest.mark.parametrize(("body", "current", "field", "message"), TRIAL_ORDER)
def test_trial_before_lead_is_reported(
    body: dict[str, Any], current: dict[str, Any] | None, field: str, message: str
) -> None:
    violations = check(body, current=current)
    assert [v.field for v in violations] == [field]
    assert message in violations[0].message


TRIAL_ORDER_FINE = [
    pytest.param({"free_trial_started_at": "2023-01-01T00:00:00Z"}, CURRENT, id="trial-equals-current-lead"),
    pytest.param({"lead_created_at": "2023-06-13T15:45:13Z"}, CURRENT, id="lead-equals-current-trial"),
    pytest.param({"free_trial_started_at": "2000-01-01"}, None, id="no-current"),
    pytest.param({"free_trial_started_at": "2000-01-01"}, {"lead_created_at": None}, id="current-lead-null"),
    pytest.param(
        {"free_trial_started_at": "2000-01-01"}, {"lead_created_at": "garbage"}, id="current-garbage"
    ),
    pytest.param(
        {"free_trial_started_at": "2000-01-01", "lead_created_at": ""}, CURRENT, id="lead-cleared-in-body"
    ),
    pytest.param(
        {"lead_created_at": "2023-07-01", "free_trial_started_at": "2023-08-01"},
        CURRENT,
        id="both-moved-together",
    ),
    pytest.param({"company": "x"}, {**CURRENT, "free_trial_started_at": "2000-01-01"}, id="neither-sent"),
]


@pytest.mark.parametrize(("body", "current"), TRIAL_ORDER_FINE)
def test_trial_order_fine(body: dict[str, Any], current: dict[str, Any] | None) -> None:
    assert check(body, current=current) == []


def test_bad_date_is_reported_once_not_again_as_order() -> None:
    violations = check({"lead_created_at": "soon", "free_trial_started_at": "2020-01-01"})
    assert [v.field for v in violations] == ["lead_created_at"]


def test_now_defaults_to_the_clock_and_naive_now_is_utc() -> None:
    a_minute_ahead = format_timestamp(datetime.now(UTC) + timedelta(minutes=1))
    assert [v.field for v in validate_update({"lead_created_at": a_minute_ahead})] == ["lead_created_at"]
    assert validate_update({"lead_created_at": "2026-05-01T12:00:00Z"}, now=datetime(2026, 5, 1, 12)) == []


# --- normalize_update -----------------------------------------------------------------------

NORMALIZED = [
    pytest.param({"website_url": "example.com"}, {"website_url": "https://example.com"}, id="bare-domain"),
    pytest.param(
        {"website_url": "HTTP://example.com"}, {"website_url": "http://example.com"}, id="scheme-case"
    ),
    pytest.param({"website_url": "https://example.com"}, {"website_url": "https://example.com"}, id="kept"),
    pytest.param({"website_url": ""}, {"website_url": ""}, id="clear-kept"),
    pytest.param({"website_url": "ftp://x.com"}, {"website_url": "ftp://x.com"}, id="other-scheme-untouched"),
    pytest.param({"website_url": 3}, {"website_url": 3}, id="not-a-string-untouched"),
    pytest.param({"state": "CA", "country": "usa"}, {"state": "CA", "country": "usa"}, id="rest-untouched"),
]


@pytest.mark.parametrize(("body", "expected"), NORMALIZED)
def test_normalize_update(body: dict[str, Any], expected: dict[str, Any]) -> None:
    copy = dict(body)
    assert normalize_update(body) == expected
    assert body == copy  # the input is not changed


# --- the single-value checks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2023-01-01 00:00:00", datetime(2023, 1, 1, tzinfo=UTC), id="api-page-example"),
        pytest.param("2023-01-01T00:00:00.000Z", datetime(2023, 1, 1, tzinfo=UTC), id="response-style"),
        pytest.param("2023-01-01", datetime(2023, 1, 1, tzinfo=UTC), id="date"),
        pytest.param("2023-01-01T10:00", datetime(2023, 1, 1, 10, tzinfo=UTC), id="no-seconds"),
        pytest.param(
            "2023-01-01T10:00:00,5Z", datetime(2023, 1, 1, 10, 0, 0, 500000, tzinfo=UTC), id="comma"
        ),
        pytest.param("2023-01-01T10:00:00+0530", datetime(2023, 1, 1, 4, 30, tzinfo=UTC), id="basic-offset"),
        pytest.param("2023-01-01T10:00:00-05", datetime(2023, 1, 1, 15, tzinfo=UTC), id="hour-offset"),
        pytest.param("0001-01-01T00:00:00+01:00", None, id="before-year-one-in-utc"),
        pytest.param("2023-13-01", None, id="month-13"),
        pytest.param("\uff12\uff10\uff12\uff13-01-01", None, id="fullwidth-digits"),
        pytest.param("2023-01-01T10:00:00 +01:00", None, id="blank-before-offset"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


def test_format_timestamp() -> None:
    assert format_timestamp(datetime(2024, 3, 1, 10, 0, 0, 999999)) == "2024-03-01T10:00:00Z"
    assert (
        format_timestamp(datetime(2024, 3, 1, 10, tzinfo=timezone(timedelta(hours=2))))
        == "2024-03-01T08:00:00Z"
    )
    assert format_timestamp(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anna@example.com", True),
        ("anna.gardner+crm@mail.example.co.uk", True),
        ("ÄNNA@bücher.de", True),
        ("anna@example", False),
        ("anna@@example.com", False),
        ("anna@example..com", False),
        ("anna@.example.com", False),
        ("anna @example.com", False),
        ("anna@example.com\n", False),
        ("<anna@example.com>", False),
        ("anna@exa\x00mple.com", False),
        ("a" * 250 + "@x.com", False),
        ("", False),
    ],
)
def test_looks_like_email(text: str, expected: bool) -> None:
    assert looks_like_email(text) is expected


def test_state_and_country_codes() -> None:
    assert is_us_state_code("US-CA") and is_us_state_code("US-DC") and is_us_state_code("US-PR")
    assert not is_us_state_code("CA") and not is_us_state_code("US-XX") and not is_us_state_code("us-ca")
    assert len(us_state_codes()) >= 51
    assert is_country_code("US") and is_country_code("DE") and is_country_code("GB")
    assert not is_country_code("UK") and not is_country_code("us") and not is_country_code("USA")


@pytest.mark.parametrize(
    ("url", "normalized", "problem"),
    [
        ("example.com", "https://example.com", None),
        ("https://example.com", "https://example.com", None),
        ("HtTp://example.com", "http://example.com", None),
        ("example.com:8080/a", "https://example.com:8080/a", None),
        ("https://example.com:", "https://example.com:", None),
        ("", "", "must start with http:// or https://"),
        ("/pricing", "/pricing", "must start with http:// or https://"),
        ("mailto:x@example.com", "mailto:x@example.com", "must start with http:// or https://"),
        ("ws://example.com", "ws://example.com", "must start with http:// or https://"),
        ("https://[::1]", "https://[::1]", "has no domain name"),
        ("https://example.com:70000", "https://example.com:70000", "invalid port"),
    ],
)
def test_website_url(url: str, normalized: str, problem: str | None) -> None:
    assert normalize_website_url(url) == normalized
    found = website_url_problem(normalized)
    assert found == problem if problem is None else (found is not None and problem in found)


# --- properties -----------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(4300, 4400).map(lambda digits: 10**digits)
    | st.floats()
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KNOWN_KEYS = st.sampled_from([*TOP_LEVEL_KEYS, *CONTACT_FIELDS, "tags", "custom", "value", "source", "mrr"])
BODY = st.dictionaries(KNOWN_KEYS | st.text(max_size=8), JSON, max_size=8)
NESTED_BODY = st.fixed_dictionaries(
    {},
    optional={
        "primary_contact": st.dictionaries(KNOWN_KEYS | st.text(max_size=4), JSON, max_size=4) | JSON,
        "attributes": st.dictionaries(st.sampled_from(["tags", "custom", "stripe"]), JSON, max_size=3) | JSON,
        "lead_created_at": JSON | st.datetimes().map(str),
        "free_trial_started_at": JSON | st.datetimes().map(str),
        "status": JSON | st.sampled_from(LEAD_STATUSES),
        "website_url": JSON,
    },
)
FAST = settings(max_examples=200, deadline=None)


@FAST
@given(body=BODY | NESTED_BODY, current=st.none() | JSON | NESTED_BODY, now=st.none() | st.datetimes())
def test_validate_never_raises(body: dict[Any, Any], current: Any, now: datetime | None) -> None:
    violations = validate_update(body, current=current, now=now)
    assert isinstance(violations, list)
    for violation in violations:
        assert isinstance(violation, ContractViolation)
        assert isinstance(violation.field, str) and violation.message
        assert any(
            violation.field == key or violation.field.startswith((f"{key}.", f"{key}[")) for key in body
        )


@FAST
@given(body=JSON)
def test_validate_never_raises_on_any_json(body: Any) -> None:
    violations = validate_update(body, now=NOW)
    if not isinstance(body, Mapping):
        assert [v.field for v in violations] == ["(body)"]


@FAST
@given(body=BODY)
def test_normalize_is_idempotent(body: dict[Any, Any]) -> None:
    once = normalize_update(body)
    assert normalize_update(once) == once


PAST = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2026, 4, 30), timezones=st.just(UTC))
TEXT = st.text(max_size=20)
VALID_BODY = st.fixed_dictionaries(
    {},
    optional={
        "name": TEXT,
        "company": TEXT,
        "city": TEXT,
        "zip": TEXT,
        "email": st.emails(),
        "owner": st.emails(),
        "status": st.sampled_from(LEAD_STATUSES),
        "state": st.sampled_from(sorted(us_state_codes())),
        "country": st.sampled_from(["US", "DE", "GB", "FR", "JP", "BR"]),
        "lead_created_at": PAST.map(format_timestamp),
        "website_url": st.sampled_from(["example.com", "https://example.com/x", "http://www.example.co.uk"]),
        "primary_contact": st.fixed_dictionaries(
            {}, optional={"first_name": TEXT, "notes": TEXT, "email": st.emails() | st.just("")}
        ),
        "attributes": st.fixed_dictionaries(
            {
                "tags": st.lists(TEXT.filter(str.strip)),
                "custom": st.dictionaries(
                    TEXT.filter(str.strip),
                    st.none()
                    | st.booleans()
                    | st.integers(-(2**63), 2**63)
                    | st.floats(allow_nan=False, allow_infinity=False)
                    | TEXT,
                ),
            }
        ),
    },
)


@FAST
@given(body=VALID_BODY)
def test_valid_parts_make_a_valid_body(body: dict[str, Any]) -> None:
    assert check(body) == []
