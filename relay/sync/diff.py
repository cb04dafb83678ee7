"""A snapshot against what ChartMogul holds: only the differences, compared the way ChartMogul
normalises (`US-CA` is kept as `CA`, times as `…T…000Z`, a bare domain gains `https://`, emails
and tags in any case)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relay.mapping.apply import Mapped
from relay.sync.account import COMPARED_FIELDS, Current

_TIMES = frozenset({"lead_created_at", "free_trial_started_at"})
_UPPER = frozenset({"state", "country"})
_LOWER = frozenset({"email", "owner"})


@dataclass(frozen=True, slots=True)
class FieldChange:
    name: str  # a field, "tags" or "custom.<key>"
    current: Any
    new: Any


@dataclass(slots=True)
class Difference:
    fields: dict[str, Any]
    tags_add: list[str]
    custom_set: dict[str, Any]
    custom_types: dict[str, str]
    shown: list[FieldChange]

    @property
    def is_empty(self) -> bool:
        return not (self.fields or self.tags_add or self.custom_set)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def same_field(name: str, current: Any, new: Any) -> bool:
    if current is None or current == "":
        return new is None or new == ""
    if name in _TIMES:
        a, b = _time(current), _time(new)
        return a is not None and a == b
    text_a, text_b = str(current).strip(), str(new).strip()
    if name == "website_url":
        text_a, text_b = (_site(t) for t in (text_a, text_b))
    elif name in _UPPER:
        text_a, text_b = text_a.upper(), text_b.upper().removeprefix("US-")
    elif name in _LOWER:
        text_a, text_b = text_a.lower(), text_b.lower()
    return text_a == text_b


def _site(url: str) -> str:
    url = url.lower().rstrip("/")
    for scheme in ("https://", "http://"):
        url = url.removeprefix(scheme)
    return url


def same_custom(current: Any, new: Any) -> bool:
    if isinstance(new, bool) or isinstance(current, bool):
        return current is new or str(current).lower() == str(new).lower()
    if isinstance(new, int | float) and isinstance(current, int | float | str):
        try:
            return float(current) == float(new)
        except ValueError:
            return False
    a, b = _time(current), _time(new)
    if a is not None and b is not None:
        return a == b
    return str(current) == str(new)


def difference(mapped: Mapped, current: Current) -> Difference:
    """What `mapped` (a whole record) would change on `current`. Tags are only ever added, and
    primary_contact is left out: ChartMogul never answers it, so it cannot be compared."""
    diff = Difference({}, [], {}, {}, [])
    for name, new in mapped.fields.items():
        if name not in COMPARED_FIELDS:
            continue
        now = current.fields.get(name)
        if not same_field(name, now, new):
            diff.fields[name] = new
            diff.shown.append(FieldChange(name, now, new))
    have = {tag.lower() for tag in current.tags}
    missing = [tag for tag in mapped.tags_add if tag.lower() not in have]
    if missing:
        diff.tags_add = missing
        diff.shown.append(FieldChange("tags", list(current.tags), [*current.tags, *missing]))
    for key, new in mapped.custom_set.items():
        now = current.custom.get(key)
        if now is None or not same_custom(now, new):
            diff.custom_set[key] = new
            if key in mapped.custom_types:
                diff.custom_types[key] = mapped.custom_types[key]
            diff.shown.append(FieldChange(f"custom.{key}", now, new))
    return diff
