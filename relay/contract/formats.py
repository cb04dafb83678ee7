"""ChartMogul's value formats, one value at a time: what an email address, a timestamp, a US
state, a country code and a website URL must look like, and the one fix ChartMogul makes itself
(a website without its scheme). Shared by the contract's rules and the mapping transforms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache

import pycountry

_TIMESTAMP_SHAPE = re.compile(
    r"\d{4}-\d{2}-\d{2}"  # calendar date
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"  # optional time, optional seconds and fraction
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?",  # optional offset
    re.ASCII,
)
_US_STATE_SHAPE = re.compile(r"US-[A-Z]{2}", re.ASCII)
_EMAIL_SPECIALS = r"\s@<>()\[\],;:\"\\"
_EMAIL = re.compile(rf"[^{_EMAIL_SPECIALS}]+@[^{_EMAIL_SPECIALS}.]+(?:\.[^{_EMAIL_SPECIALS}.]+)+")
_MAX_EMAIL_CHARS = 254
_SCHEME_SLASHES = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
# "mailto:x", "javascript:…" — a scheme without "//"; not "example.com:8080" (port digits follow).
_OPAQUE_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?!\d)")
_HOST = re.compile(r"[\w\-]+(?:\.[\w\-]+)+")


def looks_like_email(text: str) -> bool:
    """`local@domain.tld`, printable, no blanks or address punctuation; not proof it exists."""
    return len(text) <= _MAX_EMAIL_CHARS and text.isprintable() and _EMAIL.fullmatch(text) is not None


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 time in a shape ChartMogul documents, as an aware UTC datetime (naive = UTC).

    Accepts `2023-01-01`, `2023-01-01 00:00:00`, `2023-01-01T00:00:00.000Z`,
    `2024-03-01T10:00:00+01:00` (or `+0100`, `+01`). None for anything else, including times
    that cannot be expressed in UTC (year 1 with a positive offset).
    """
    if _TIMESTAMP_SHAPE.fullmatch(text) is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace(",", "."))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_timestamp(moment: datetime) -> str:
    """The relay's canonical form: UTC, whole seconds, `2024-03-01T10:00:00Z` (naive = UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


@cache
def us_states() -> Mapping[str, str]:
    """ISO 3166-2 code -> name of every US subdivision pycountry knows: 50 states, DC and the
    outlying areas (`US-PR` Puerto Rico, `US-GU` Guam, …)."""
    return {sub.code: sub.name for sub in pycountry.subdivisions if sub.country_code == "US"}


@cache
def us_state_codes() -> frozenset[str]:
    return frozenset(us_states())


def is_us_state_code(text: str) -> bool:
    return _US_STATE_SHAPE.fullmatch(text) is not None and text in us_state_codes()


@cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166 alpha-2 code pycountry knows."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


def is_country_code(text: str) -> bool:
    return text in country_codes()


def normalize_website_url(url: str) -> str:
    """What ChartMogul stores for `url`: `https://` before a bare domain, the scheme lower-cased.

    Other text is returned unchanged (`website_url_problem` then says what is wrong with it).
    """
    if not url:
        return url
    match = _SCHEME_SLASHES.match(url)
    if match is not None:
        scheme = match.group(1)
        return scheme.lower() + url[len(scheme) :]
    if _OPAQUE_SCHEME.match(url) is not None or url.startswith("/"):
        return url
    return "https://" + url


def website_url_problem(url: str) -> str | None:
    """Why a (normalised) URL is not a website address ChartMogul takes, or None when it is."""
    if any(ch.isspace() for ch in url):
        return "contains blanks"
    if not url.isprintable():
        return "contains control characters"
    match = _SCHEME_SLASHES.match(url)
    if match is None or match.group(1) not in ("http", "https"):
        return "must start with http:// or https://"
    rest = url[len(match.group(0)) :]
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in netloc:
        return "carries a user name before the host"
    host, colon, port = netloc.rpartition(":")
    if not colon or "]" in port:  # no port, or an IPv6 literal (which has no domain name either)
        host, port = netloc, ""
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return f"has an invalid port {port!r}"
    if _HOST.fullmatch(host) is None:
        return "has no domain name (like example.com)"
    return None
