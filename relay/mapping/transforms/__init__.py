"""Named transforms: a CRM's free text in, a value ChartMogul accepts out.

A mapping file names one per field (`transform = "country"`); `apply_transform("country",
"United States")` runs it. Every transform is `(value, TransformOptions) -> TransformResult`
and keeps three promises:

- it never raises, whatever the value (None, numbers, lists, garbage text);
- it is idempotent: run on its own output (with the same options) it returns that output;
- an unusable value is DROPPED with a note saying why (the note names the value, not the CRM
  field: the caller prefixes it), an empty value (None, "", blanks, [], {}) is SKIPPED silently,
  and only with `clear_on_empty=True` does an empty value become CLEAR (the value "").

    name         output                      accepts
    -----------  --------------------------  ----------------------------------------------------
    text         str, stripped               text, numbers
    tag          str, stripped               text, numbers
    email        str, lower-cased            `Anna@Example.com`, `mailto:anna@example.com`
    phone        str, blanks collapsed       digits with + ( ) - . / and an `ext`/`x` suffix
    country      ISO 3166 alpha-2            names, official and common names, alpha-2/-3 and
                                             numeric codes in any case, accents and punctuation
                                             optional (`U.S.A.` is `USA`); plus
                                             places._COUNTRY_ALIASES (`UK`, `Russia`, `Deutschland`, …)
    us_state     ISO 3166-2 (`US-CA`)        `California`, `ca`, `US-CA`, `us ca`, `Washington DC`
    datetime     `2024-03-01T10:00:00Z`      epochs (see below), ISO 8601 with or without offset,
                                             `2024-03-01 10:00:00`, `2024-03-01`, `20240301`
    website      `https://…`                 `example.com`, `HTTP://example.com`, `//example.com`
    url          `https://…`                 as website; with `handle_prefix`, `@handle` too
    lead_status  one of LEAD_STATUSES        keys of `table` (default HUBSPOT_LEAD_STATUSES)
    owner        email of a ChartMogul user  keys of `table` (owner id -> email), or an email
    integer      int (64-bit)                42, 42.0, "42", "+42", "1,234", "42.0"
    decimal      float (finite)              1.5, "1.5", "1,234.50", "-2e3"
    boolean      bool                        true/false, yes/no, y/n, on/off, 1/0, t/f, checked

Timestamps: the canonical output is UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ` (fractions are
cut, not rounded), which ChartMogul takes as ISO 8601. A naive time is UTC. A number (or a
string of digits) is an epoch whose unit follows from its size: below 1e11 seconds, below 1e14
milliseconds (HubSpot), below 1e17 microseconds, else nanoseconds — so milliseconds before
1973-03-03 read as seconds. Exactly 8 digits that form a date are `YYYYMMDD`. Epoch 0 is
dropped: CRMs send it for "unset". Whether the time is in the past is the contract's business.

Lead statuses: the four ChartMogul lead statuses pass through in any case and spelling of
blanks (they are fixed points, so the table cannot remap them); other values are looked up in
`table`, comparing keys case-insensitively with `_`, `-` and blanks alike (`OPEN_DEAL` ==
`open deal`). `Active`, `Past Due` and `Cancelled` are ChartMogul's own and are never sent,
even when a table maps to them.
"""

from __future__ import annotations

from typing import Any

from relay.mapping.transforms.base import Outcome, Transform, TransformOptions, TransformResult, Value
from relay.mapping.transforms.dates import datetime_
from relay.mapping.transforms.numbers import boolean, decimal, integer
from relay.mapping.transforms.pipeline import (
    HUBSPOT_LEAD_STATUSES,
    SALESFORCE_LEAD_STATUSES,
    lead_status,
    owner,
)
from relay.mapping.transforms.places import country, us_state
from relay.mapping.transforms.text import email, phone, tag, text, url, website

__all__ = [
    "HUBSPOT_LEAD_STATUSES",
    "SALESFORCE_LEAD_STATUSES",
    "TRANSFORMS",
    "TRANSFORM_NAMES",
    "Outcome",
    "Transform",
    "TransformOptions",
    "TransformResult",
    "Value",
    "apply_transform",
]

TRANSFORMS: dict[str, Transform] = {
    "text": text,
    "tag": tag,
    "email": email,
    "phone": phone,
    "country": country,
    "us_state": us_state,
    "datetime": datetime_,
    "website": website,
    "url": url,
    "lead_status": lead_status,
    "owner": owner,
    "integer": integer,
    "decimal": decimal,
    "boolean": boolean,
}

TRANSFORM_NAMES: tuple[str, ...] = tuple(TRANSFORMS)


def apply_transform(name: str, value: object, **options: Any) -> TransformResult:
    """Run the transform called `name` on `value`.

    Raises ValueError for an unknown transform name and TypeError for an unknown option: both
    are mistakes in a mapping file, to be caught when it loads, never by a CRM value.
    """
    transform = TRANSFORMS.get(name)
    if transform is None:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(TRANSFORM_NAMES)}")
    return transform(value, TransformOptions(**options))
