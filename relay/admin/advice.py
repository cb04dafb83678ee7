"""What to do about a dead letter, by its reason: the README's table ("See why it failed"), as
`relay dlq show` prints it and the admin API returns it (`next_step`), with the command where
one exists. tests/test_readme.py holds the README's table equal to this one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.store import DeadLetterReason


@dataclass(frozen=True, slots=True)
class NextStep:
    happened: str
    to_do: str
    command: str | None = None  # "{event_id}" stands for the dead letter's id

    def public(self, event_id: str) -> dict[str, Any]:
        command = self.command.format(event_id=event_id) if self.command else None
        return {"what_happened": self.happened, "what_to_do": self.to_do, "command": command}


NEXT_STEPS: dict[str, NextStep] = {
    DeadLetterReason.REJECTED: NextStep(
        "ChartMogul refused the change (`http_status` 400/422/…; the message names the field)",
        "fix the cause in ChartMogul (e.g. add the owner as a user) or the mapping, then replay",
        "relay dlq replay {event_id} --dry-run",
    ),
    DeadLetterReason.INVALID_CHANGE: NextStep(
        "the change breaks ChartMogul's rules; caught before spending a call",
        "fix the mapping and replay, or edit the change (`relay dlq edit`) and replay it as edited",
        "relay dlq edit {event_id} --set fields.<field>=<value>",
    ),
    DeadLetterReason.CUSTOMER_NOT_FOUND: NextStep(
        "no ChartMogul customer matches the uuid, external id or email (nor, for a contact, its company)",
        "link the record (`relay links import`): it is re-queued by itself, as when a look-up by its "
        "external id or email finds the customer, or (a contact) its company is linked; or set "
        "`unmatched` to `create` in its mapping file (leads) and replay; or purge",
        "relay dlq replay {event_id} --dry-run",
    ),
    DeadLetterReason.RETRIES_EXHAUSTED: NextStep(
        "429/5xx/timeouts until `RELAY_RETRY_DEADLINE_S` ran out",
        "nothing: it is re-queued by itself once the circuit is closed and deliveries have succeeded "
        "for `RELAY_AUTO_REPLAY_HEALTHY_S`; or replay it once ChartMogul is healthy",
        "relay dlq replay {event_id}",
    ),
    DeadLetterReason.NOT_APPLIED: NextStep(
        "ChartMogul answered 200 but did not keep a value (`not_applied` names the field, the value "
        "sent and the value kept; e.g. an owner who is not a ChartMogul user with a CRM seat)",
        "fix the cause in ChartMogul (add the user), then replay: it is sent again like any other; an "
        "owner's is re-queued by itself once a change setting that owner takes",
        "relay dlq replay {event_id} --dry-run",
    ),
    DeadLetterReason.INVALID_EVENT: NextStep(
        "the CRM sent an event the relay cannot read (on arrival; `error` says what, `relay events show` "
        "has the payload)",
        "if the CRM sent it wrong, purge it; if the relay should read it, fix the mapping or upgrade, "
        "then replay (it is re-mapped)",
        "relay events show {event_id}",
    ),
    DeadLetterReason.LINK_CONFLICT: NextStep(
        "a merge joined CRM records linked to two different customers (`error` names both)",
        "link the surviving record to the right customer (`relay links import`), delete the other link "
        "(`relay links delete`), then replay",
        "relay dlq replay {event_id} --dry-run",
    ),
}
UNKNOWN = NextStep("dead-lettered for a reason this relay does not know", "see the error; replay or purge")


def step_for(reason: str | None) -> NextStep:
    return NEXT_STEPS.get(reason or "", UNKNOWN)


def next_step(reason: str | None, event_id: str) -> dict[str, Any]:
    return step_for(reason).public(event_id)
