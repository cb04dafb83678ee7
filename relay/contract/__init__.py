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

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from relay.changes import CUSTOMER_FIELDS
from relay.contract.attributes import ATTRIBUTE_KEYS, check_attributes
from relay.contract.fields import (
    EMAIL_FIELDS,
    SUBSCRIPTION_STATUSES,
    TIMESTAMP_FIELDS,
    check_contact,
    check_field,
    check_trial_after_lead,
)
from relay.contract.formats import (
    country_codes,
    format_timestamp,
    is_country_code,
    is_us_state_code,
    looks_like_email,
    normalize_website_url,
    parse_timestamp,
    us_state_codes,
    us_states,
    website_url_problem,
)
from relay.contract.violation import ContractViolation, kind, show

__all__ = [
    "ATTRIBUTE_KEYS",
    "EMAIL_FIELDS",
    "READ_ONLY_KEYS",
    "SUBSCRIPTION_STATUSES",
    "TIMESTAMP_FIELDS",
    "TOP_LEVEL_KEYS",
    "ContractViolation",
    "country_codes",
    "format_timestamp",
    "is_country_code",
    "is_us_state_code",
    "looks_like_email",
    "normalize_update",
    "normalize_website_url",
    "parse_timestamp",
    "us_state_codes",
    "us_states",
    "validate_update",
    "website_url_problem",
]

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
        return [ContractViolation("(body)", f"the body must be a JSON object, not {kind(body)}")]
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    body = normalize_update(body)
    violations: list[ContractViolation] = []
    for key, value in body.items():
        if key == "primary_contact":
            violations.extend(check_contact(value))
        elif key == "attributes":
            violations.extend(check_attributes(value))
        elif key in CUSTOMER_FIELDS:
            violations.extend(check_field(key, value, now))
        else:
            violations.append(_unknown_key(key))
    violations.extend(check_trial_after_lead(body, current))
    return violations


def _unknown_key(key: object) -> ContractViolation:
    name = key if isinstance(key, str) else show(key)
    if key in READ_ONLY_KEYS:
        return ContractViolation(name, f"{name} is read-only: ChartMogul returns it, a PATCH cannot set it")
    return ContractViolation(name, f"{show(key)} is not a field of Update a Customer")
