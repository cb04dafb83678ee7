"""Webhook sources: one module per CRM, each with the same shape: verify → parse → changes.

A source turns one HTTP request into canonical `CustomerChange`s (relay/changes.py). It never
touches Redis; the web app makes the changes durable and answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from relay.changes import CustomerChange
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


class WebhookSource:
    """Base class; subclasses set `name` and implement `verify` and `parse`."""

    name: str = ""

    def verify(self, webhook: IncomingWebhook) -> None:
        """Raise InvalidSignature unless the request comes from the CRM."""
        raise NotImplementedError

    def parse(self, webhook: IncomingWebhook) -> list[ParsedEvent]:
        """Raise MalformedPayload / InvalidEvent / UnresolvableCustomer for bad input."""
        raise NotImplementedError


def enabled_sources(settings: Settings) -> dict[str, WebhookSource]:
    """The sources whose secrets are configured; the others answer 404."""
    from relay.sources.generic import GenericSource

    sources: dict[str, WebhookSource] = {}
    if settings.generic_secret is not None:
        sources["generic"] = GenericSource(settings.generic_secret)
    return sources


KNOWN_SOURCES: tuple[str, ...] = ("generic", "hubspot", "pipedrive", "salesforce", "close")
