"""What a webhook is to the relay: the request as it came in, and the events parsed from it.

Sources produce `ParsedEvent`s and mapping builds them, so they live below both (sources →
mapping → changes/events): neither has to import the other to name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from relay.changes import CustomerChange


@dataclass(frozen=True, slots=True)
class IncomingWebhook:
    method: str
    url: str  # as the CRM addressed it (public base URL applied); "" unless the source signs_url
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


# The default `parents` argument of the functions that build events: none.
NO_PARENTS: Mapping[str, str] = MappingProxyType({})


@dataclass(slots=True)
class ParsedEvent:
    """One event of a webhook, and how it is recorded: queued for delivery, `ignored_reason`
    (recorded only), or `invalid` (a dead letter `invalid_event` from the start: the CRM sent
    something the relay cannot read, and its raw payload is kept for an operator).

    Not frozen: one is built per event on every accept path, and a frozen dataclass sets each
    field through object.__setattr__ (~0.8 µs of an event's ~17 µs of parsing). Nothing
    changes one once built."""

    change: CustomerChange
    raw: str  # this event's own CRM payload, kept for replay through the current mapping
    # Set when the event is recorded but changes nothing (e.g. a HubSpot deletion not mapped).
    ignored_reason: str | None = None
    # CRM record → ChartMogul uuid links the event itself proves (e.g. a uuid property).
    links: dict[str, str] = field(default_factory=dict)
    # Set when the event cannot be read: why (it is dead-lettered as `invalid_event` on arrival).
    invalid: str | None = None
    # CRM record → the CRM record of its parent (a contact's company; "" when it has none now):
    # a record without a link of its own reaches its parent's customer. None: it proves none.
    parents: Mapping[str, str] | None = None
