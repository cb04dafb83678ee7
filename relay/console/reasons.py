"""Each dead-letter reason in words: what happened and what to do, as the README's table in
"See why it failed" says (tests/console/test_reasons.py holds the two equal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from relay.store import DeadLetterReason


@dataclass(frozen=True, slots=True)
class Fix:
    happened: str
    to_do: str


FIXES: Final[dict[str, Fix]] = {
    DeadLetterReason.REJECTED: Fix(
        "ChartMogul refused the change (`http_status` 400/422/…; the message names the field)",
        "fix the cause in ChartMogul (e.g. add the owner as a user) or the mapping, then replay",
    ),
    DeadLetterReason.INVALID_CHANGE: Fix(
        "the change breaks ChartMogul's rules; caught before spending a call",
        "fix the mapping (or `relay dlq edit`), then replay",
    ),
    DeadLetterReason.CUSTOMER_NOT_FOUND: Fix(
        "no ChartMogul customer matches the uuid, external id or email",
        "create/link the customer, or purge",
    ),
    DeadLetterReason.RETRIES_EXHAUSTED: Fix(
        "429/5xx/timeouts until `RELAY_RETRY_DEADLINE_S` ran out",
        "once ChartMogul is healthy, replay",
    ),
    DeadLetterReason.NOT_APPLIED: Fix(
        "ChartMogul answered 200 but did not keep a value (`not_applied` names the field, the value "
        "sent and the value kept; e.g. an owner who is not a ChartMogul user with a CRM seat)",
        "fix the cause in ChartMogul (add the user), then replay: it is sent again like any other",
    ),
}
UNKNOWN: Final = Fix("a reason this version of the relay does not know", "look at the event's history")


def fix_for(reason: str) -> Fix:
    return FIXES.get(reason, UNKNOWN)
