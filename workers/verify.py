"""Did ChartMogul keep what was sent? The one place a write is compared with what ChartMogul shows.

Used twice: after every write call, on the call's own answer (a 200 does not mean the value
took: an owner without a CRM seat is answered 200 and left unchanged), and by crash recovery,
on a fresh GET, to decide whether a write sent before a worker died has landed.

The comparison goes through ChartMogul's own normalisation, as its recorded answers show it:
a state `US-CA` is answered `CA`; timestamps (plain fields and Timestamp custom attributes) as
`2023-01-01T00:00:00.000Z`; a bare domain gains `https://`; emails and owners compare without
case; country codes as sent; `""` and null are both "empty".

`primary_contact` is never checked: ChartMogul shows no contact in a customer answer (contacts
are a separate API), so there is nothing to compare with.

Field keys name what was sent: `city`, `tag:vip`, `custom:CAC` (as coalescing names them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_TIMESTAMP_FIELDS = ("lead_created_at", "free_trial_started_at")
_CASELESS_FIELDS = ("email", "owner")


@dataclass(frozen=True, slots=True)
class NotApplied:
    """A field ChartMogul answered without the value sent."""

    field: str  # a field key: "owner", "tag:vip", "custom:CAC"
    sent: Any
    kept: Any

    def __str__(self) -> str:
        return f"{self.field}: sent {_shown(self.sent)}, ChartMogul kept {_shown(self.kept)}"

    @property
    def label(self) -> str:
        """The metric label: the field, or `tags`/`custom` (tag names and keys are unbounded)."""
        kind, colon, _ = self.field.partition(":")
        if not colon:
            return self.field
        return "tags" if kind == "tag" else "custom"


def _shown(value: Any) -> str:
    return "nothing" if value in (None, "") else repr(value)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.removesuffix(" UTC") + ("+00:00" if value.endswith(" UTC") else "")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def plain(value: Any) -> Any:
    """Custom attribute values may be sent as {"value": …, "source": …}; ChartMogul shows the value."""
    if isinstance(value, Mapping) and "value" in value:
        return value["value"]
    return value


def _empty(value: Any) -> bool:
    return value in ("", None)


def same(name: str, sent: Any, shown: Any) -> bool:
    """Whether ChartMogul showing `shown` for field `name` means it kept `sent`."""
    if _empty(sent) or _empty(shown):
        return _empty(sent) and _empty(shown)
    if name in _TIMESTAMP_FIELDS:
        return _instant(sent) is not None and _instant(sent) == _instant(shown)
    if name == "state" and isinstance(sent, str):
        return sent.removeprefix("US-") == str(shown).removeprefix("US-")
    if name == "website_url" and isinstance(sent, str) and "://" not in sent:
        return bool(f"https://{sent}" == shown)
    if name in _CASELESS_FIELDS and isinstance(sent, str) and isinstance(shown, str):
        return sent.lower() == shown.lower()
    return bool(sent == shown)


def same_custom(sent: Any, shown: Any) -> bool:
    """A custom attribute's value: equal, or the same instant (Timestamp attributes come back
    as `…T…000Z` whatever form was sent)."""
    sent = plain(sent)
    if sent == shown:
        return True
    instant = _instant(sent)
    return instant is not None and instant == _instant(shown)


def patch_not_applied(body: Mapping[str, Any], customer: Mapping[str, Any]) -> list[NotApplied]:
    """The plain fields of a PATCH body that `customer` (its answer, or a GET) does not show."""
    return [
        NotApplied(name, sent, customer.get(name))
        for name, sent in body.items()
        if name not in ("attributes", "primary_contact") and not same(name, sent, customer.get(name))
    ]


def tags_not_added(tags: Iterable[str], shown: Iterable[str]) -> list[NotApplied]:
    present = set(shown)
    return [NotApplied(f"tag:{tag}", "added", "absent") for tag in tags if tag not in present]


def tags_not_removed(tags: Iterable[str], shown: Iterable[str]) -> list[NotApplied]:
    present = set(shown)
    return [NotApplied(f"tag:{tag}", "removed", "present") for tag in tags if tag in present]


def custom_not_set(custom: Mapping[str, Any], shown: Mapping[str, Any]) -> list[NotApplied]:
    return [
        NotApplied(f"custom:{key}", plain(value), shown.get(key))
        for key, value in custom.items()
        if key not in shown or not same_custom(value, shown[key])
    ]


def custom_not_removed(keys: Iterable[str], shown: Mapping[str, Any]) -> list[NotApplied]:
    return [NotApplied(f"custom:{key}", "removed", shown[key]) for key in keys if key in shown]
