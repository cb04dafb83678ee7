"""Reading CRM records: values by property path, which paths changed, and event times.

A property path names a value inside a CRM record the way mapping files do:

    name                  record["name"]
    address.locality      record["address"]["locality"]      (Pipedrive organization)
    emails.0.value        record["emails"][0]["value"]       (a list index)
    custom.cf_8x2         record["custom.cf_8x2"]            (a key holding dots wins: Close)

A key that holds dots is tried before the path is split, so Close's `custom.cf_…` keys and
nested objects both work.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final


class _Missing:
    """The record has no value at the path (unlike None: the CRM sent an empty value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_EPOCH_SECONDS_BELOW = 1e11  # larger numbers are milliseconds (1e11 s is the year 5138)
_EPOCH_MILLISECONDS_BELOW = 1e14


def lookup(record: object, path: str) -> Any:
    """The value at `path` in `record`, or MISSING."""
    if isinstance(record, Mapping):
        if path in record:
            return record[path]
        head, dot, rest = path.partition(".")
        while dot:
            if head in record:
                found = lookup(record[head], rest)
                if found is not MISSING:
                    return found
            more, dot, rest = rest.partition(".")
            head = f"{head}.{more}"
        return MISSING
    if isinstance(record, list):
        head, _, rest = path.partition(".")
        if not (head.isascii() and head.isdigit()) or int(head) >= len(record):
            return MISSING
        return record[int(head)] if not rest else lookup(record[int(head)], rest)
    return MISSING


def leaf_paths(record: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every path to a non-object value (lists are values): what a `previous` object changed."""
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, f"{path}.")
        else:
            yield path


def covers(a: str, b: str) -> bool:
    """True when one path is the other or lies inside it (`address` covers `address.locality`)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def touched(path: str, changed: Collection[str]) -> bool:
    return any(covers(path, c) for c in changed)


def epoch_ms(value: object) -> int | None:
    """Milliseconds since the epoch for a CRM time: ISO 8601 (naive = UTC) or an epoch number
    in seconds or milliseconds (told apart by size); None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = float(text)
        except ValueError:
            return _iso_ms(text)
        value = number
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            return None
        if value < _EPOCH_SECONDS_BELOW:
            return int(value * 1000)
        if value < _EPOCH_MILLISECONDS_BELOW:
            return int(value)
        return None
    return None


def _iso_ms(text: str) -> int | None:
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
