"""relay/mapping/transforms/: every transform on realistic CRM values, then properties over any value."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pycountry
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.changes import LEAD_STATUSES
from relay.contract import us_states, validate_update
from relay.mapping.transforms import (
    HUBSPOT_LEAD_STATUSES,
    SALESFORCE_LEAD_STATUSES,
    TRANSFORM_NAMES,
    TRANSFORMS,
    Outcome,
    TransformOptions,
    TransformResult,
    apply_transform,
)

OWNERS = {"123": "Mike@Example.com", "456": "anna@example.com"}
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def case(
    name: str, value: object, expected: object, options: dict[str, Any] | None = None, *, id: str
) -> Any:
    return pytest.param(name, value, expected, options or {}, id=f"{name}:{id}")


# --- values that are kept -------------------------------------------------------------------

KEPT = [
    # text
    case("text", "  Acme Inc. ", "Acme Inc.", id="strips"),
    case("text", "Heading\nBody\nFooter", "Heading\nBody\nFooter", id="keeps-inner-newlines"),
    case("text", 94107, "94107", id="pipedrive-number-zip"),
    case("text", 12.0, "12", id="integral-float"),
    case("text", 12.5, "12.5", id="float"),
    case("text", "Zürich", "Zürich", id="unicode"),
    # tag
    case("tag", " high-value ", "high-value", id="strips"),
    case("tag", "VIP Customer", "VIP Customer", id="used-as-given"),
    case("tag", 2024, "2024", id="number"),
    # email
    case("email", " Anna.Gardner@Example.COM ", "anna.gardner@example.com", id="lowercases-strips"),
    case("email", "mailto:anna@example.com", "anna@example.com", id="mailto"),
    case("email", "anna+crm@sub.example.co.uk", "anna+crm@sub.example.co.uk", id="plus-and-subdomains"),
    # phone
    case("phone", "+1 (555) 010-0100", "+1 (555) 010-0100", id="us"),
    case("phone", "  +49  30   1234567 ", "+49 30 1234567", id="collapses-blanks"),
    case("phone", "+1 555 0100 ext. 12", "+1 555 0100 ext. 12", id="extension"),
    case("phone", "555.010.0100 x7", "555.010.0100 x7", id="dots-and-x"),
    case("phone", 5550100, "5550100", id="number"),
    # country
    case("country", "United States", "US", id="name"),
    case("country", "united states", "US", id="lower-name"),
    case("country", "UNITED   STATES", "US", id="upper-spaced"),
    case("country", "United States of America", "US", id="official-name"),
    case("country", "USA", "US", id="alpha-3"),
    case("country", "us", "US", id="alpha-2-lower"),
    case("country", " US ", "US", id="alpha-2-padded"),
    case("country", "U.S.", "US", id="dotted"),
    case("country", "U.S.A.", "US", id="dotted-3"),
    case("country", "840", "US", id="numeric"),
    case("country", "UK", "GB", id="uk-alias"),
    case("country", "United Kingdom", "GB", id="uk-name"),
    case("country", "England", "GB", id="england"),
    case("country", "Great Britain", "GB", id="great-britain"),
    case("country", "Deutschland", "DE", id="endonym-de"),
    case("country", "Germany", "DE", id="germany"),
    case("country", "DEU", "DE", id="deu"),
    case("country", "España", "ES", id="endonym-es"),
    case("country", "Espana", "ES", id="endonym-es-no-accent"),
    case("country", "Österreich", "AT", id="endonym-at"),
    case("country", "South Korea", "KR", id="common-name"),
    case("country", "Korea, Republic of", "KR", id="iso-name"),
    case("country", "Russia", "RU", id="russia"),
    case("country", "Russian Federation", "RU", id="russia-iso"),
    case("country", "Turkey", "TR", id="turkey"),
    case("country", "Türkiye", "TR", id="turkiye"),
    case("country", "Turkiye", "TR", id="turkiye-no-accent"),
    case("country", "Czech Republic", "CZ", id="czech-republic"),
    case("country", "Vietnam", "VN", id="vietnam"),
    case("country", "Côte d'Ivoire", "CI", id="accent-apostrophe"),
    case("country", "Cote d\u2019Ivoire", "CI", id="curly-apostrophe"),
    case("country", "Ivory Coast", "CI", id="ivory-coast"),
    case("country", "St. Lucia", "LC", id="st-saint"),
    case("country", "Trinidad & Tobago", "TT", id="ampersand"),
    case("country", "The Netherlands", "NL", id="leading-the"),
    case("country", "Holland", "NL", id="holland"),
    case("country", "Guinea Bissau", "GW", id="hyphen-optional"),
    case("country", "UAE", "AE", id="uae"),
    case("country", "Hong Kong", "HK", id="hong-kong"),
    case("country", "Taiwan", "TW", id="taiwan"),
    # us_state
    case("us_state", "California", "US-CA", id="name"),
    case("us_state", "california", "US-CA", id="lower-name"),
    case("us_state", "CA", "US-CA", id="salesforce-code"),
    case("us_state", "ca", "US-CA", id="lower-code"),
    case("us_state", "US-CA", "US-CA", id="iso"),
    case("us_state", "us-ca ", "US-CA", id="iso-lower-padded"),
    case("us_state", "US CA", "US-CA", id="iso-space"),
    case("us_state", "new york", "US-NY", id="two-words"),
    case("us_state", "NEW  YORK", "US-NY", id="two-words-upper"),
    case("us_state", "District of Columbia", "US-DC", id="dc-name"),
    case("us_state", "Washington, D.C.", "US-DC", id="dc-washington"),
    case("us_state", "DC", "US-DC", id="dc-code"),
    case("us_state", "Washington", "US-WA", id="washington-state"),
    case("us_state", "Puerto Rico", "US-PR", id="territory-pr"),
    case("us_state", "GU", "US-GU", id="territory-gu"),
    case("us_state", "US Virgin Islands", "US-VI", id="territory-vi"),
    # datetime
    case("datetime", "1700000000000", "2023-11-14T22:13:20Z", id="hubspot-ms-string"),
    case("datetime", 1700000000000, "2023-11-14T22:13:20Z", id="ms-int"),
    case("datetime", 1700000000, "2023-11-14T22:13:20Z", id="seconds-int"),
    case("datetime", "1700000000", "2023-11-14T22:13:20Z", id="seconds-string"),
    case("datetime", 1700000000.75, "2023-11-14T22:13:20Z", id="seconds-float-floored"),
    case("datetime", "1700000000123", "2023-11-14T22:13:20Z", id="ms-fraction-cut"),
    case("datetime", 1700000000000000, "2023-11-14T22:13:20Z", id="microseconds"),
    case("datetime", 1700000000000000000, "2023-11-14T22:13:20Z", id="nanoseconds"),
    case("datetime", "2024-03-01 10:00:00", "2024-03-01T10:00:00Z", id="pipedrive"),
    case("datetime", "2024-03-01T10:00:00.000Z", "2024-03-01T10:00:00Z", id="salesforce"),
    case("datetime", "2024-03-01T10:00:00.000+0000", "2024-03-01T10:00:00Z", id="salesforce-soap"),
    case("datetime", "2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z", id="canonical"),
    case("datetime", "2024-03-01T10:00:00+01:00", "2024-03-01T09:00:00Z", id="offset"),
    case("datetime", "2024-03-01T10:00:00-05:00", "2024-03-01T15:00:00Z", id="negative-offset"),
    case("datetime", "2024-03-01T23:30:00-05:00", "2024-03-02T04:30:00Z", id="offset-next-day"),
    case("datetime", "2024-03-01", "2024-03-01T00:00:00Z", id="date-only"),
    case("datetime", "20240301", "2024-03-01T00:00:00Z", id="basic-date"),
    case("datetime", "2024-03-01t10:00:00z", "2024-03-01T10:00:00Z", id="lowercase-t-z"),
    case("datetime", "2024-03-01 10:00:00 UTC", "2024-03-01T10:00:00Z", id="named-utc"),
    case("datetime", "2024-03-01T10:00:00.123456789Z", "2024-03-01T10:00:00Z", id="nanosecond-fraction"),
    case("datetime", " 2023-01-01 00:00:00 ", "2023-01-01T00:00:00Z", id="padded"),
    case("datetime", "2023-06-13T15:45:13.000Z", "2023-06-13T15:45:13Z", id="chartmogul-response"),
    case("datetime", -86400, "1969-12-31T00:00:00Z", id="before-1970"),
    # website
    case("website", "example.com", "https://example.com", id="bare-domain"),
    case("website", "www.example.com/pricing", "https://www.example.com/pricing", id="path"),
    case("website", "https://example.com", "https://example.com", id="https"),
    case("website", "http://example.com", "http://example.com", id="http-kept"),
    case("website", "HTTPS://Example.com", "https://Example.com", id="scheme-case"),
    case("website", "  example.com  ", "https://example.com", id="padded"),
    case("website", "//example.com", "https://example.com", id="scheme-relative"),
    case("website", "example.com:8080", "https://example.com:8080", id="port"),
    case("website", "münchen.de", "https://münchen.de", id="idn"),
    # url
    case("url", "linkedin.com/in/anna", "https://linkedin.com/in/anna", id="bare"),
    case("url", "https://twitter.com/example", "https://twitter.com/example", id="https"),
    case(
        "url", "@anna_g", "https://twitter.com/anna_g", {"handle_prefix": "https://twitter.com/"}, id="handle"
    ),
    case("url", "@anna_g", "https://x.com/anna_g", {"handle_prefix": "https://x.com"}, id="handle-no-slash"),
    # lead_status
    case("lead_status", "NEW", "New Lead", id="hubspot-new"),
    case("lead_status", "OPEN", "Working Lead", id="hubspot-open"),
    case("lead_status", "ATTEMPTED_TO_CONTACT", "Working Lead", id="hubspot-attempted"),
    case("lead_status", "CONNECTED", "Working Lead", id="hubspot-connected"),
    case("lead_status", "IN_PROGRESS", "Working Lead", id="hubspot-in-progress"),
    case("lead_status", "OPEN_DEAL", "Qualified Lead", id="hubspot-open-deal"),
    case("lead_status", "UNQUALIFIED", "Unqualified Lead", id="hubspot-unqualified"),
    case("lead_status", "BAD_TIMING", "Unqualified Lead", id="hubspot-bad-timing"),
    case("lead_status", "open_deal", "Qualified Lead", id="key-case-insensitive"),
    case("lead_status", "Open Deal", "Qualified Lead", id="key-blanks-as-underscores"),
    case("lead_status", "Working Lead", "Working Lead", id="canonical"),
    case("lead_status", "working lead", "Working Lead", id="canonical-any-case"),
    case("lead_status", "QUALIFIED_LEAD", "Qualified Lead", id="canonical-underscored"),
    case(
        "lead_status", "Open - Not Contacted", "New Lead", {"table": SALESFORCE_LEAD_STATUSES}, id="sf-open"
    ),
    case(
        "lead_status",
        "Closed - Not Converted",
        "Unqualified Lead",
        {"table": SALESFORCE_LEAD_STATUSES},
        id="sf-closed",
    ),
    case("lead_status", "Hot", "Qualified Lead", {"table": {"hot": "qualified lead"}}, id="table-value-case"),
    case("lead_status", "New Lead", "New Lead", {"table": {"New Lead": "Working Lead"}}, id="canonical-wins"),
    # owner
    case("owner", "123", "mike@example.com", {"table": OWNERS}, id="hubspot-string-id"),
    case("owner", 123, "mike@example.com", {"table": OWNERS}, id="pipedrive-int-id"),
    case("owner", 456.0, "anna@example.com", {"table": OWNERS}, id="float-id"),
    case("owner", " 456 ", "anna@example.com", {"table": OWNERS}, id="padded-id"),
    case("owner", "123", "mike@example.com", {"table": {123: "mike@example.com"}}, id="int-table-key"),
    case("owner", "Anna@Example.com", "anna@example.com", id="email-passes"),
    case("owner", "anna@example.com", "anna@example.com", {"table": OWNERS}, id="email-with-table"),
    # integer
    case("integer", 42, 42, id="int"),
    case("integer", 42.0, 42, id="integral-float"),
    case("integer", "42", 42, id="string"),
    case("integer", " +42 ", 42, id="signed-padded"),
    case("integer", "-7", -7, id="negative"),
    case("integer", "1,234,567", 1234567, id="thousands"),
    case("integer", "42.00", 42, id="zero-fraction"),
    case("integer", 2**63 - 1, 2**63 - 1, id="int64-max"),
    # decimal
    case("decimal", 1.5, 1.5, id="float"),
    case("decimal", 25, 25.0, id="int"),
    case("decimal", "1.5", 1.5, id="string"),
    case("decimal", "1,234.50", 1234.5, id="thousands"),
    case("decimal", "-2e3", -2000.0, id="exponent"),
    case("decimal", ".5", 0.5, id="leading-dot"),
    case("decimal", "3.", 3.0, id="trailing-dot"),
    # boolean
    case("boolean", True, True, id="true"),
    case("boolean", False, False, id="false"),
    case("boolean", "true", True, id="true-text"),
    case("boolean", "False", False, id="false-text"),
    case("boolean", "YES", True, id="yes"),
    case("boolean", "no", False, id="no"),
    case("boolean", "y", True, id="y"),
    case("boolean", "1", True, id="one-text"),
    case("boolean", "0", False, id="zero-text"),
    case("boolean", 1, True, id="one"),
    case("boolean", 0, False, id="zero"),
    case("boolean", " on ", True, id="on"),
    case("boolean", "off", False, id="off"),
    case("boolean", "checked", True, id="checked"),
]


@pytest.mark.parametrize(("name", "value", "expected", "options"), KEPT)
def test_kept(name: str, value: object, expected: object, options: dict[str, Any]) -> None:
    result = apply_transform(name, value, **options)
    assert result == TransformResult(Outcome.SET, expected)  # type: ignore[arg-type]
    assert type(result.value) is type(expected)
    assert result.sends


# --- values that are dropped, with the reason -----------------------------------------------

DROPPED = [
    case("text", ["a", "b"], "a list, not text", id="list"),
    case("text", {"value": "x"}, "an object, not text", id="object"),
    case("text", True, "a boolean, not text", id="boolean"),
    case("text", math.nan, "nan is a number, not text", id="nan"),
    case("text", 10**5000, "a number too long to show is a number, not text", id="huge-int"),
    case("tag", ["vip"], "not text", id="list"),
    case("email", "anna at example.com", "not an email address", id="no-at"),
    case("email", "anna@example", "not an email address", id="no-dot"),
    case("email", "Anna <anna@example.com>", "not an email address", id="display-name"),
    case("email", "a@b@example.com", "not an email address", id="two-ats"),
    case("email", 42, "42 is a number, not text", id="number"),
    case("phone", "call me maybe", "not a phone number", id="words"),
    case("phone", "12", "not a phone number", id="too-short"),
    case("phone", "+1 555 CALL NOW", "not a phone number", id="vanity"),
    case("country", "Atlantis", "'Atlantis' is not a country name or ISO 3166 code", id="unknown"),
    case("country", "XX", "not a country", id="unassigned-code"),
    case("country", "Europe", "not a country", id="region"),
    case("country", "America", "not a country", id="ambiguous-america"),
    case("country", 840, "a number, not text", id="number"),
    case("us_state", "Ontario", "'Ontario' is not a US state name or code", id="canadian-province"),
    case("us_state", "ZZ", "not a US state", id="unknown-code"),
    case("us_state", "US-ZZ", "not a US state", id="unknown-iso"),
    case("us_state", "Calif.", "not a US state", id="abbreviation"),
    case("us_state", "CA-ON", "not a US state", id="other-country-iso"),
    case("datetime", "garbage", "not a time", id="garbage"),
    case("datetime", "03/01/2024", "not a time", id="us-slashes-ambiguous"),
    case("datetime", "2024-02-30", "not a time", id="impossible-date"),
    case("datetime", "2024-03-01T25:00:00Z", "not a time", id="impossible-hour"),
    case("datetime", "99999999999999999999999", "not a time", id="too-large"),
    case("datetime", 0, "epoch 0", id="epoch-zero"),
    case("datetime", "0", "epoch 0", id="epoch-zero-string"),
    case("datetime", 10**5000, "not a time", id="huge-int"),
    case("datetime", "1970-01-01T00:00:00Z", "epoch 0", id="epoch-zero-iso"),
    case("datetime", True, "a boolean, not a time", id="boolean"),
    case("datetime", math.inf, "not a time", id="infinity"),
    case("datetime", ["2024-03-01"], "a list, not a time", id="list"),
    case("datetime", "0001-01-01T00:00:00+01:00", "outside the range of dates", id="before-year-1-utc"),
    case("website", "not a website", "contains blanks", id="blanks"),
    case("website", "localhost", "has no domain name", id="no-dot"),
    case("website", "ftp://example.com", "must start with http:// or https://", id="ftp"),
    case("website", "mailto:sales@example.com", "must start with http:// or https://", id="mailto"),
    case("website", "javascript:alert(1)", "must start with http:// or https://", id="javascript"),
    case("website", "https://", "has no domain name", id="scheme-only"),
    case("website", "https://user:pw@example.com", "user name", id="userinfo"),
    case("website", "example.com:99999", "invalid port", id="bad-port"),
    case("website", "example.", "has no domain name", id="trailing-dot"),
    case("url", "@anna_g", "not a web address", id="handle-without-prefix"),
    case("lead_status", "Active", "ChartMogul sets from subscriptions", id="active"),
    case("lead_status", "past due", "ChartMogul sets from subscriptions", id="past-due"),
    case("lead_status", "CANCELLED", "ChartMogul sets from subscriptions", id="cancelled"),
    case("lead_status", "NURTURE", "not in the mapping's lead-status table", id="unknown"),
    case("lead_status", "NEW", "not in the mapping's lead-status table", {"table": {}}, id="empty-table"),
    case(
        "lead_status",
        "won",
        "ChartMogul sets from subscriptions",
        {"table": {"won": "Active"}},
        id="table-active",
    ),
    case("lead_status", "hot", "not one of New Lead", {"table": {"hot": "Hot Lead"}}, id="table-typo"),
    case(
        "owner",
        "999",
        "owner id 999 has no ChartMogul user in the mapping's owner table",
        {"table": OWNERS},
        id="unknown-id",
    ),
    case("owner", 999, "owner id 999 has no ChartMogul user", {"table": OWNERS}, id="unknown-int-id"),
    case("owner", "123", "owner id 123 has no ChartMogul user", id="no-table"),
    case("owner", "7", "which is not an email address", {"table": {"7": "Mike"}}, id="table-not-email"),
    case("owner", {"id": 123}, "an object, not text", {"table": OWNERS}, id="object"),
    case("integer", "4.5", "not a whole number", id="fraction"),
    case("integer", "forty-two", "not a whole number", id="words"),
    case("integer", 4.5, "not a whole number", id="float-fraction"),
    case("integer", math.nan, "not a whole number", id="nan"),
    case("integer", True, "a boolean", id="boolean"),
    case("integer", 2**63, "too large", id="beyond-int64"),
    case("integer", 10**5000, "too long to show is too large a number", id="huge-int"),
    case("integer", "1e3", "not a whole number", id="exponent"),
    case("integer", "1" * 41, "not a whole number", id="forty-one-digits"),
    case("decimal", "1.234,50", "not a finite number", id="european-format"),
    case("decimal", "12%", "not a finite number", id="percent"),
    case("decimal", "$12", "not a finite number", id="currency"),
    case("decimal", "nan", "not a finite number", id="nan-text"),
    case("decimal", "1e400", "not a finite number", id="overflow-text"),
    case("decimal", math.inf, "not a finite number", id="infinity"),
    case("decimal", 10**400, "not a finite number", id="huge-int"),
    case("decimal", "e5", "not a finite number", id="exponent-only"),
    case("decimal", False, "a boolean", id="boolean"),
    case("boolean", "maybe", "not a yes/no value", id="maybe"),
    case("boolean", 2, "not a yes/no value", id="two"),
    case("boolean", ["true"], "not a yes/no value", id="list"),
]


@pytest.mark.parametrize(("name", "value", "fragment", "options"), DROPPED)
def test_dropped(name: str, value: object, fragment: str, options: dict[str, Any]) -> None:
    result = apply_transform(name, value, **options)
    assert result.outcome is Outcome.DROP
    assert result.value is None
    assert not result.sends
    assert result.note is not None
    assert fragment in result.note


def test_drop_note_cuts_long_values_short() -> None:
    result = apply_transform("country", "x" * 500)
    assert result.note is not None
    assert len(result.note) < 120


# --- empty values: skipped, or cleared on request -------------------------------------------

EMPTIES = [
    pytest.param(None, id="none"),
    pytest.param("", id="empty"),
    pytest.param("   \t\n", id="blanks"),
    pytest.param([], id="empty-list"),
    pytest.param({}, id="empty-object"),
]


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
@pytest.mark.parametrize("value", EMPTIES)
def test_empty_is_skipped_silently(name: str, value: object) -> None:
    assert apply_transform(name, value) == TransformResult(Outcome.SKIP)


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
@pytest.mark.parametrize("value", EMPTIES)
def test_empty_is_cleared_when_asked(name: str, value: object) -> None:
    result = apply_transform(name, value, clear_on_empty=True)
    assert result == TransformResult(Outcome.CLEAR, "")
    assert result.sends


def test_email_that_is_only_mailto_counts_as_empty() -> None:
    assert apply_transform("email", "mailto:").outcome is Outcome.SKIP


# --- the registry ---------------------------------------------------------------------------


def test_registry_names() -> None:
    assert set(TRANSFORM_NAMES) == {
        "text",
        "tag",
        "email",
        "phone",
        "country",
        "us_state",
        "datetime",
        "website",
        "url",
        "lead_status",
        "owner",
        "integer",
        "decimal",
        "boolean",
    }
    assert tuple(TRANSFORMS) == TRANSFORM_NAMES


def test_unknown_transform_is_a_mapping_error() -> None:
    with pytest.raises(ValueError, match="unknown transform 'zipcode'"):
        apply_transform("zipcode", "94107")


def test_unknown_option_is_a_mapping_error() -> None:
    with pytest.raises(TypeError):
        apply_transform("text", "x", clear_on_blank=True)


def test_transforms_take_options_directly() -> None:
    assert TRANSFORMS["owner"](123, TransformOptions(table=OWNERS)) == TransformResult.set("mike@example.com")


def test_hubspot_table_covers_every_documented_status() -> None:
    documented = {"NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT"}
    documented |= {"CONNECTED", "BAD_TIMING"}
    assert set(HUBSPOT_LEAD_STATUSES) == documented
    assert set(HUBSPOT_LEAD_STATUSES.values()) == set(LEAD_STATUSES)
    assert set(SALESFORCE_LEAD_STATUSES.values()) == set(LEAD_STATUSES)


# --- exhaustive over pycountry: every name and code maps to its own country ---------------


@pytest.mark.parametrize("country", list(pycountry.countries), ids=lambda c: c.alpha_2)
def test_every_country_name_and_code_maps_to_itself(country: Any) -> None:
    names = [country.alpha_2, country.alpha_3, country.name]
    names += [getattr(country, attr) for attr in ("official_name", "common_name") if hasattr(country, attr)]
    for name in names:
        for spelling in (name, name.lower(), name.upper(), f"  {name} "):
            assert apply_transform("country", spelling) == TransformResult.set(country.alpha_2), spelling


@pytest.mark.parametrize(("code", "name"), sorted(us_states().items()))
def test_every_us_subdivision_maps_to_itself(code: str, name: str) -> None:
    for spelling in (code, code.lower(), code.removeprefix("US-"), name, name.upper(), name.lower()):
        assert apply_transform("us_state", spelling) == TransformResult.set(code), spelling


def test_us_subdivisions_include_dc_and_territories() -> None:
    assert {"US-DC", "US-PR", "US-GU", "US-VI", "US-AS", "US-MP", "US-UM"} <= set(us_states())
    assert len([code for code in us_states() if code != "US-DC"]) >= 50


# --- what the transforms produce, the contract accepts ---------------------------------------

CONTRACT_FIELD = {
    "country": "country",
    "us_state": "state",
    "datetime": "lead_created_at",
    "website": "website_url",
    "email": "email",
    "owner": "owner",
    "lead_status": "status",
    "text": "company",
    "phone": "city",
}


@pytest.mark.parametrize(
    ("name", "value", "expected", "options"), [p for p in KEPT if p.values[0] in CONTRACT_FIELD]
)
def test_contract_accepts_what_transforms_keep(
    name: str, value: object, expected: object, options: dict[str, Any]
) -> None:
    result = apply_transform(name, value, **options)
    assert validate_update({CONTRACT_FIELD[name]: result.value}, now=FAR_FUTURE) == []


def test_contract_accepts_transformed_profile_urls() -> None:
    linked_in = apply_transform("url", "linkedin.com/in/anna").value
    twitter = apply_transform("url", "@anna", handle_prefix="https://twitter.com/").value
    body = {"primary_contact": {"linked_in": linked_in, "twitter": twitter}}
    assert validate_update(body) == []


# --- properties over any value --------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(4300, 4400).map(lambda digits: 10**digits)  # too long for str()
    | st.floats()
    | st.text()
    | st.from_regex(r"\A[+-]?\d{1,22}(\.\d{1,4})?\Z")
    | st.sampled_from(["US", "usa", "Deutschland", "CA", "us-ny", "NEW", "Active", "123", "example.com"])
    | st.datetimes(timezones=st.none() | st.timezones()).map(lambda moment: moment.isoformat(sep=" "))
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
)
OPTIONS = st.builds(
    TransformOptions,
    clear_on_empty=st.booleans(),
    table=st.none() | st.just(OWNERS) | st.just(SALESFORCE_LEAD_STATUSES) | st.just({"hot": "Active"}),
    handle_prefix=st.none() | st.just("https://twitter.com/"),
)
FAST = settings(max_examples=200, deadline=None)


def _well_formed(result: TransformResult) -> None:
    assert isinstance(result, TransformResult)
    if result.outcome is Outcome.SET:
        assert result.value is not None and result.value != ""
        assert result.note is None
    elif result.outcome is Outcome.CLEAR:
        assert result.value == ""
    elif result.outcome is Outcome.DROP:
        assert isinstance(result.note, str) and result.note
        assert result.value is None
    else:
        assert result == TransformResult(Outcome.SKIP)


@pytest.mark.parametrize("name", TRANSFORM_NAMES)
@FAST
@given(value=ANY_VALUE, options=OPTIONS)
def test_never_raises_and_is_idempotent(name: str, value: object, options: TransformOptions) -> None:
    transform = TRANSFORMS[name]
    first = transform(value, options)
    _well_formed(first)
    if first.sends:
        again = transform(first.value, options)
        assert again == first
        assert type(again.value) is type(first.value)


def _respell(name: str, data: st.DataObject) -> str:
    """`name` as a CRM user might type it: any case, padded."""
    spelled = "".join(ch.upper() if data.draw(st.booleans()) else ch.lower() for ch in name)
    return data.draw(st.sampled_from(["", " ", "  "])) + spelled + data.draw(st.sampled_from(["", " "]))


@FAST
@given(data=st.data())
def test_country_names_in_any_case(data: st.DataObject) -> None:
    country = data.draw(st.sampled_from(list(pycountry.countries)))
    name = data.draw(st.sampled_from([country.name, country.alpha_2, country.alpha_3]))
    assert apply_transform("country", _respell(name, data)) == TransformResult.set(country.alpha_2)


@FAST
@given(data=st.data())
def test_us_states_in_any_case(data: st.DataObject) -> None:
    code, name = data.draw(st.sampled_from(sorted(us_states().items())))
    spelled = _respell(data.draw(st.sampled_from([code, name, code[3:]])), data)
    assert apply_transform("us_state", spelled) == TransformResult.set(code)


@FAST
@given(
    moment=st.datetimes(
        min_value=datetime(1973, 3, 4), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ).map(lambda moment: moment.replace(microsecond=0))
)
def test_epochs_in_seconds_and_milliseconds_agree_with_iso(moment: datetime) -> None:
    expected = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    seconds = int(moment.timestamp())
    for value in (seconds, str(seconds), seconds * 1000, str(seconds * 1000), moment.isoformat()):
        assert apply_transform("datetime", value) == TransformResult.set(expected), value
