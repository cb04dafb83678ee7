"""Webhook sources: one module per CRM, each with the same shape: verify → parse → changes.

A source turns one HTTP request into canonical `CustomerChange`s (relay/changes.py). It never
touches Redis; the web app makes the changes durable and answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from relay.changes import CustomerChange
from relay.exceptions import InvalidEvent, MalformedPayload, WebhookError
from relay.settings import Settings


@dataclass(frozen=True, slots=True)
class IncomingWebhook:
    method: str
    url: str  # as the CRM addressed it (public base URL applied behind a proxy)
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


class WebhookSource:
    """Base class; subclasses set `name` and implement `verify` and `parse`."""

    name: str = ""

    def verify(self, webhook: IncomingWebhook) -> None:
        """Raise InvalidSignature unless the request comes from the CRM."""
        raise NotImplementedError

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        """Raise MalformedPayload / InvalidEvent / UnresolvableCustomer for bad input."""
        raise NotImplementedError

    def remap(self, raw: str) -> ParsedEvent:
        """Map one stored event (its `raw`) again through the current mapping, for replay."""
        raise NotImplementedError

    def accepted_response(self, events: Sequence[ParsedEvent], duplicates: int) -> Response | None:
        """The answer once the events are durable; None for the default JSON answer."""
        return None

    def error_response(self, error: WebhookError) -> Response | None:
        """The answer to a refused request; None for the default JSON error."""
        return None


def parse_json(raw: str | bytes, *, what: str = "body") -> Any:
    """JSON from a CRM: a 400 naming the problem when it is not JSON at all."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"{what} is not valid JSON: {exc}") from None


def parse_json_object(raw: str | bytes, *, what: str = "body") -> dict[str, Any]:
    """A JSON object from a CRM: 400 when it is not JSON, 422 when it is not an object."""
    doc = parse_json(raw, what=what)
    if not isinstance(doc, dict):
        raise InvalidEvent(f"{what} must be a JSON object")
    return doc


def enabled_sources(settings: Settings) -> dict[str, WebhookSource]:
    """The sources whose secrets are configured; the others answer 404."""
    from relay.sources.close import CloseSource
    from relay.sources.generic import GenericSource
    from relay.sources.hubspot import HubSpotSource
    from relay.sources.pipedrive import PipedriveSource
    from relay.sources.salesforce import SalesforceSource

    sources: dict[str, WebhookSource] = {}
    if settings.generic_secret is not None:
        sources["generic"] = GenericSource(settings.generic_secret)
    # CRM sources also load their mapping here: a broken mapping file stops start-up (MappingError).
    if settings.hubspot_client_secret is not None:
        sources["hubspot"] = HubSpotSource.from_settings(settings)
    if settings.pipedrive_basic_auth is not None:
        sources["pipedrive"] = PipedriveSource.from_settings(settings)
    if settings.salesforce_org_id is not None:
        sources["salesforce"] = SalesforceSource.from_settings(settings)
    if settings.close_signature_key is not None:
        sources["close"] = CloseSource.from_settings(settings)
    return sources


KNOWN_SOURCES: tuple[str, ...] = ("generic", "hubspot", "pipedrive", "salesforce", "close")
