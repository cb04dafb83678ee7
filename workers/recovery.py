"""Did a PATCH land? Deciding it from the customer as ChartMogul now shows it.

Used when a worker died between sending a PATCH and recording the outcome: the next worker
reads the customer, and if every field of the in-flight body is already there, it records
the events as applied instead of sending them a second time.

"Already there" can only be judged from what `GET /v1/customers/{uuid}` shows, and the real API
never shows `primary_contact` in a customer (recorded by ChartMogul's own clients; contacts are
a separate API). So a body carrying `primary_contact` never counts as applied: the next worker
sends the same PATCH again. That is harmless: a PATCH sets plain fields to the values given
(name, city, the contact's title, ...), so applying it twice leaves the customer exactly as
applying it once would; tags and custom attributes travel as the whole merged set, not as
increments. The cost is one extra call, only after a crash, only for such bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    """Custom attribute values may be sent as {"value": …, "source": …}; ChartMogul shows the value."""
    if isinstance(value, Mapping) and "value" in value:
        return value["value"]
    return value


def _same(name: str, sent: Any, shown: Any) -> bool:
    if name in ("lead_created_at", "free_trial_started_at"):
        return _instant(sent) == _instant(shown) if sent else not shown
    if name == "state" and isinstance(sent, str):
        return bool(sent.removeprefix("US-") == str(shown or "").removeprefix("US-"))
    if name == "website_url" and isinstance(sent, str) and sent and "://" not in sent:
        return bool(f"https://{sent}" == shown)
    return bool(sent == shown or (sent in ("", None) and shown in ("", None)))


def body_is_applied(body: Mapping[str, Any], customer: Mapping[str, Any]) -> bool:
    """True when `customer` (GET /v1/customers/{uuid}) already shows every field of `body`."""
    for name, sent in body.items():
        if name == "attributes":
            shown = customer.get("attributes") or {}
            if "tags" in sent and sorted(sent["tags"]) != sorted(shown.get("tags") or []):
                return False
            if "custom" in sent:
                sent_custom = {k: _plain(v) for k, v in sent["custom"].items()}
                if sent_custom != dict(shown.get("custom") or {}):
                    return False
        elif name == "primary_contact":
            contact = customer.get("primary_contact")
            if not isinstance(contact, Mapping):
                return False  # never shown by the real API: cannot tell, so send again (harmless)
            if any(not _same(k, v, contact.get(k)) for k, v in sent.items()):
                return False
        elif not _same(name, sent, customer.get(name)):
            return False
    return True
