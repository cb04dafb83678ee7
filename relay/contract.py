"""The "Update a Customer" contract, checked before a ChartMogul API call is spent.

`validate_update(body)` lists every way a PATCH /v1/customers/{uuid} body breaks the contract
(empty list: send it). `normalize_update(body)` applies the one fix ChartMogul applies itself.
Both are pure: no I/O, and they never raise on any body, however malformed.

What is checked (every rule reports the field as a dotted path: `primary_contact.email`,
`attributes.tags[2]`, `attributes.custom.CAC`):

    field                          rule
    -----------------------------  -----------------------------------------------------------
    (any top-level key)            one of CUSTOMER_FIELDS, `primary_contact`, `attributes`
    text fields                    a string; "" (or null) clears the field
    status                         exactly one of LEAD_STATUSES; never empty
    state                          `US-XX`, a real ISO 3166-2 US code (states, DC, territories)
    country                        a real ISO 3166 alpha-2 code, upper case
    lead_created_at,               ISO 8601 calendar date, optionally with a time and an offset
      free_trial_started_at        (naive means UTC), not after `now`
    free_trial_started_at          not before lead_created_at, the other one taken from `current`
                                   when only one of the two is in the body
    website_url                    http(s), a host with a dot, after `normalize_update`
    email, primary_contact.email,  look like an email address (whether `owner` is a ChartMogul
      owner                        user with a CRM seat, only ChartMogul knows)
    primary_contact                an object of CONTACT_FIELDS, each a string
    attributes                     an object with both `tags` and `custom` (see below)
    attributes.tags                an array of non-empty strings
    attributes.custom              an object; each value a JSON scalar or {"value": scalar,
                                   "source": string}; numbers finite and within 64 bits

`attributes` must carry both `tags` and `custom`: ChartMogul replaces the whole set of tags and
of custom attributes with what the body holds, so a body with only `tags` would delete every
custom attribute (and the other way round). Send the merged current values, or `[]`/`{}` to
clear on purpose.

Decisions:
- `normalize_update` fixes only what ChartMogul would fix itself: a bare domain in
  `website_url` gets `https://` (documented behaviour), and its scheme is lower-cased
  (`HTTPS://` and `https://` are the same URL, RFC 3986). Everything else — `CA` for a state,
  `usa` for a country — is a violation: guessing belongs to the mapping transforms
  (relay/mapping/transforms/), which know where a value came from.
- `""` is the way to clear a field; JSON null is accepted too (ChartMogul applies both as empty).
- "In the past" has no tolerance: a time after `now` is a violation. A caller that wants slack
  for clock skew passes a later `now`.
- The timestamp shape is deliberately narrower than Python's `fromisoformat`: week dates
  (`2024-W09-5`) and the basic format (`20240301`) are ISO 8601 but not what ChartMogul
  documents, so they are refused rather than risked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pycountry

from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS, LEAD_STATUSES

# Statuses ChartMogul derives from subscriptions; a client can never write them.
SUBSCRIPTION_STATUSES: tuple[str, ...] = ("Active", "Past Due", "Cancelled")

TIMESTAMP_FIELDS: tuple[str, ...] = ("lead_created_at", "free_trial_started_at")
EMAIL_FIELDS: tuple[str, ...] = ("email", "owner")
ATTRIBUTE_KEYS: tuple[str, ...] = ("tags", "custom")
TOP_LEVEL_KEYS: tuple[str, ...] = (*CUSTOMER_FIELDS, "primary_contact", "attributes")

# Keys of ChartMogul's customer *response* that a PATCH cannot write; named in violations.
READ_ONLY_KEYS: frozenset[str] = frozenset(
    (
        "id",
        "uuid",
        "data_source_uuid",
        "data_source_uuids",
        "external_id",
        "external_ids",
        "customer-since",
        "address",
        "mrr",
        "arr",
        "billing-system-url",
        "chartmogul-url",
        "billing-system-type",
        "currency",
        "currency-sign",
    )
)

_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1  # what JSON encoders (orjson) can write
_SHOWN_CHARS = 80

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


@dataclass(frozen=True, slots=True)
class ContractViolation:
    """One broken rule: where (a dotted path into the body) and what, in words a person follows."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


# --- single-value checks, shared with relay/mapping/transforms/ -----------------------------


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


# --- the body -------------------------------------------------------------------------------


def normalize_update(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `body` with the fixes ChartMogul would make itself (see the module docstring).

    Only `website_url` changes: a bare domain gets `https://`, the scheme is lower-cased.
    Nested objects are shared with `body`, not copied.
    """
    normalized = dict(body)
    website = normalized.get("website_url")
    if isinstance(website, str):
        normalized["website_url"] = normalize_website_url(website)
    return normalized


def validate_update(
    body: Mapping[str, Any],
    *,
    current: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> list[ContractViolation]:
    """Every way `body` breaks the Update a Customer contract; an empty list means it is sendable.

    `current` is the customer as ChartMogul returns it; it supplies the other date when the body
    changes only one of lead_created_at / free_trial_started_at. `now` (default: the clock;
    naive = UTC) is what "in the past" is measured against. Never raises.
    """
    if not isinstance(body, Mapping):
        return [ContractViolation("(body)", f"the body must be a JSON object, not {_kind(body)}")]
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    body = normalize_update(body)
    violations: list[ContractViolation] = []
    for key, value in body.items():
        if key == "primary_contact":
            violations.extend(_check_contact(value))
        elif key == "attributes":
            violations.extend(_check_attributes(value))
        elif key in CUSTOMER_FIELDS:
            violations.extend(_check_field(key, value, now))
        else:
            violations.append(_unknown_key(key))
    violations.extend(_check_trial_after_lead(body, current))
    return violations


def _unknown_key(key: object) -> ContractViolation:
    name = key if isinstance(key, str) else _show(key)
    if key in READ_ONLY_KEYS:
        return ContractViolation(name, f"{name} is read-only: ChartMogul returns it, a PATCH cannot set it")
    return ContractViolation(name, f"{_show(key)} is not a field of Update a Customer")


def _check_field(key: str, value: Any, now: datetime) -> list[ContractViolation]:
    if key == "status":
        return _check_status(value)
    if value is None or value == "":
        return []  # clears the field
    if not isinstance(value, str):
        return [ContractViolation(key, f'{key} must be a string (send "" to clear it), not {_kind(value)}')]
    problem: str | None = None
    if key in TIMESTAMP_FIELDS:
        problem = _timestamp_problem(key, value, now)
    elif key in EMAIL_FIELDS:
        if not looks_like_email(value):
            problem = f"{key} {_show(value)} is not an email address"
    elif key == "state":
        problem = _state_problem(value)
    elif key == "country":
        problem = _country_problem(value)
    elif key == "website_url":
        reason = website_url_problem(value)
        if reason is not None:
            problem = f"website_url {_show(value)} {reason}"
    return [] if problem is None else [ContractViolation(key, problem)]


def _check_status(value: Any) -> list[ContractViolation]:
    allowed = ", ".join(LEAD_STATUSES)
    if value in LEAD_STATUSES:
        return []
    if value is None or value == "":
        message = f"status cannot be cleared; send one of {allowed}"
    elif not isinstance(value, str):
        message = f"status must be one of {allowed}, not {_kind(value)}"
    elif value.strip().casefold() in {s.casefold() for s in SUBSCRIPTION_STATUSES}:
        message = (
            f"status {_show(value)} is set by ChartMogul from the customer's subscriptions "
            f"and cannot be written; send one of {allowed}"
        )
    else:
        close = [s for s in LEAD_STATUSES if s.casefold() == value.strip().casefold()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"status {_show(value)} is not a lead status{hint}; send one of {allowed}"
    return [ContractViolation("status", message)]


def _timestamp_problem(key: str, value: str, now: datetime) -> str | None:
    moment = parse_timestamp(value)
    if moment is None:
        return f"{key} {_show(value)} is not an ISO 8601 time such as 2024-03-01T10:00:00Z"
    if moment > now:
        return f"{key} {value} is in the future (now is {format_timestamp(now)}); it must be in the past"
    return None


def _state_problem(value: str) -> str | None:
    if is_us_state_code(value):
        return None
    guess = "US-" + value.strip().upper()
    hint = f" (did you mean {guess!r}?)" if is_us_state_code(guess) else ""
    return f"state {_show(value)} is not an ISO 3166-2 US state code such as 'US-CA'{hint}"


def _country_problem(value: str) -> str | None:
    if is_country_code(value):
        return None
    guess = value.strip().upper()
    if len(guess) == 3:
        country = pycountry.countries.get(alpha_3=guess)
        guess = country.alpha_2 if country is not None else ""
    hint = f" (did you mean {guess!r}?)" if is_country_code(guess) else ""
    return f"country {_show(value)} is not an ISO 3166 alpha-2 country code such as 'US'{hint}"


def _check_contact(value: Any) -> list[ContractViolation]:
    if not isinstance(value, Mapping):
        return [_not_an_object("primary_contact", value)]
    violations: list[ContractViolation] = []
    for key, given in value.items():
        path = f"primary_contact.{key}"
        if key not in CONTACT_FIELDS:
            violations.append(
                ContractViolation(
                    path, f"{_show(key)} is not a primary_contact field ({', '.join(CONTACT_FIELDS)})"
                )
            )
        elif given is None or given == "":
            continue
        elif not isinstance(given, str):
            violations.append(
                ContractViolation(path, f'{path} must be a string (send "" to clear it), not {_kind(given)}')
            )
        elif key == "email" and not looks_like_email(given):
            violations.append(ContractViolation(path, f"{path} {_show(given)} is not an email address"))
    return violations


def _check_attributes(value: Any) -> list[ContractViolation]:
    if not isinstance(value, Mapping):
        return [_not_an_object("attributes", value)]
    violations: list[ContractViolation] = []
    for key in value:
        if key not in ATTRIBUTE_KEYS:
            violations.append(
                ContractViolation(
                    f"attributes.{key}", f"attributes.{key} cannot be written; only tags and custom can"
                )
            )
    for key, other in (("tags", "custom"), ("custom", "tags")):
        if key not in value and other in value:
            empty = "[]" if key == "tags" else "{}"
            violations.append(
                ContractViolation(
                    f"attributes.{key}",
                    f"attributes.{key} is missing: ChartMogul would delete every one the customer has; "
                    f"send the current ones merged with the change ({empty} to clear them on purpose)",
                )
            )
    if "tags" in value:
        violations.extend(_check_tags(value["tags"]))
    if "custom" in value:
        violations.extend(_check_custom(value["custom"]))
    return violations


def _check_tags(tags: Any) -> list[ContractViolation]:
    if not isinstance(tags, list | tuple):
        return [ContractViolation("attributes.tags", f"attributes.tags must be an array, not {_kind(tags)}")]
    violations: list[ContractViolation] = []
    for index, tag in enumerate(tags):
        path = f"attributes.tags[{index}]"
        if not isinstance(tag, str):
            violations.append(ContractViolation(path, f"a tag must be a string, not {_kind(tag)}"))
        elif not tag.strip():
            violations.append(ContractViolation(path, "a tag cannot be empty"))
    return violations


def _check_custom(custom: Any) -> list[ContractViolation]:
    if not isinstance(custom, Mapping):
        return [_not_an_object("attributes.custom", custom)]
    violations: list[ContractViolation] = []
    for name, given in custom.items():
        path = f"attributes.custom.{name}"
        if not isinstance(name, str) or not name.strip():
            message = f"custom attribute name {_show(name)} must be a non-empty string"
            violations.append(ContractViolation(path, message))
            continue
        if isinstance(given, Mapping):
            keys = set(given)
            if "value" not in keys or not keys <= {"value", "source"}:
                message = f'{path} must be a plain value or {{"value": …, "source": …}}, not {_show(given)}'
                violations.append(ContractViolation(path, message))
                continue
            source = given.get("source")
            if "source" in keys and not isinstance(source, str):
                message = f"{path} source must be a string, not {_kind(source)}"
                violations.append(ContractViolation(path, message))
            given = given["value"]
        problem = _scalar_problem(given)
        if problem is not None:
            violations.append(ContractViolation(path, f"{path} {problem}"))
    return violations


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int):
        return None if _INT64_MIN <= value <= _UINT64_MAX else "is too large a number for JSON"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"is not a finite number ({value!r})"
    return f"must be a string, number, boolean or null, not {_kind(value)}"


def _check_trial_after_lead(
    body: Mapping[str, Any], current: Mapping[str, Any] | None
) -> list[ContractViolation]:
    """free_trial_started_at >= lead_created_at, checked when the body changes either one."""
    lead_sent, trial_sent = "lead_created_at" in body, "free_trial_started_at" in body
    if not (lead_sent or trial_sent):
        return []
    known: Mapping[Any, Any] = current if isinstance(current, Mapping) else {}
    lead = body["lead_created_at"] if lead_sent else known.get("lead_created_at")
    trial = body["free_trial_started_at"] if trial_sent else known.get("free_trial_started_at")
    if not (isinstance(lead, str) and isinstance(trial, str)):
        return []
    lead_at, trial_at = parse_timestamp(lead), parse_timestamp(trial)
    if lead_at is None or trial_at is None or trial_at >= lead_at:
        return []
    if lead_sent and trial_sent:
        return [
            ContractViolation(
                "free_trial_started_at", f"free_trial_started_at {trial} is before lead_created_at {lead}"
            )
        ]
    if trial_sent:
        return [
            ContractViolation(
                "free_trial_started_at",
                f"free_trial_started_at {trial} is before the customer's current lead_created_at {lead}",
            )
        ]
    return [
        ContractViolation(
            "lead_created_at",
            f"lead_created_at {lead} is after the customer's current free_trial_started_at {trial}",
        )
    ]


def _not_an_object(path: str, value: object) -> ContractViolation:
    return ContractViolation(path, f"{path} must be an object, not {_kind(value)}")


def _kind(value: object) -> str:
    """How a JSON value's type reads in a message: 'a number', 'an array', 'null'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _show(value: object) -> str:
    """A value quoted for a message, cut short when long."""
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits refuses to become text
        return "a number too long to show"
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
