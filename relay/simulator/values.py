"""Checks and conversions for single values: timestamps, emails, US states, countries, URLs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache

import pycountry

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_US_STATE = re.compile(r"^US-([A-Z]{2})$")


def parse_timestamp(text: str, *, lenient: bool = False) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime; naive times are UTC. None when unparsable.

    `lenient` also takes Ruby's `Time#to_s` style, `2016-01-01 14:30:00 UTC`, which the real API
    was recorded accepting (the Ruby client sends it).
    """
    if lenient and text.endswith(" UTC"):
        text = text.removesuffix(" UTC") + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """ChartMogul's response style: `2023-01-01T00:00:00.000Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def is_email(text: str) -> bool:
    return _EMAIL.match(text) is not None


@cache
def us_state_codes() -> frozenset[str]:
    """The two-letter part of every ISO 3166-2 US code: states, DC and outlying areas."""
    return frozenset(sub.code[3:] for sub in pycountry.subdivisions if sub.code.startswith("US-"))


def us_state(code: str) -> str | None:
    """`US-CA` -> `CA`; None unless it is a real ISO 3166-2 US code in that exact form."""
    match = _US_STATE.match(code)
    if match is None or match.group(1) not in us_state_codes():
        return None
    return match.group(1)


def us_state_lenient(code: str) -> str | None:
    """`US-CA` or a bare `CA` -> `CA` (recorded: a bare `NY` was accepted); None otherwise."""
    if len(code) == 2 and code in us_state_codes():
        return code
    return us_state(code)


@cache
def country_name(code: str) -> str:
    """`US` -> `United States`, as ChartMogul's `address.country` shows it; unknown codes as given."""
    country = pycountry.countries.get(alpha_2=code)
    return str(country.name) if country is not None else code


@cache
def us_state_name(code: str) -> str:
    """`CA` -> `California`, as ChartMogul's `address.state` shows it; unknown codes as given."""
    subdivision = pycountry.subdivisions.get(code=f"US-{code}")  # type: ignore[no-untyped-call]
    return str(subdivision.name) if subdivision is not None else code


def is_country(code: str) -> bool:
    """ISO 3166 alpha-2, upper case (`US`, `DE`)."""
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


def website(url: str) -> str | None:
    """A bare domain gets `https://`; http(s) URLs pass; other schemes and blanks inside are refused."""
    if any(ch.isspace() for ch in url):
        return None
    lowered = url.lower()
    if lowered.startswith(("https://", "http://")):
        return url
    if "://" in url:
        return None
    return "https://" + url
