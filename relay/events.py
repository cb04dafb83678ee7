"""What a webhook is to the relay: the request as it came in, and the events parsed from it.

Sources produce `ParsedEvent`s and mapping builds them, so they live below both (sources →
mapping → changes/events): neither has to import the other to name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from relay.changes import CustomerChange


@dataclass(frozen=True, slots=True)
class IncomingWebhook:
    method: str
    url: str  # as the CRM addressed it (public base URL applied); "" unless the source signs_url
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    change: CustomerChange
    raw: str  # this event's own CRM payload, kept for replay through the current mapping
    # Set when the event is recorded but changes nothing (e.g. a HubSpot deletion not mapped).
    ignored_reason: str | None = None
    # CRM record → ChartMogul uuid links the event itself proves (e.g. a uuid property).
    links: dict[str, str] = field(default_factory=dict)
