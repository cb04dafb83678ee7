"""Webhook sources: one module or package per CRM, each with the same shape: verify → parse →
changes, and everything else the relay knows about that CRM (how its records are named and
exported, its merges, its records' parents: `CrmRecords`).

A source turns one HTTP request into canonical `CustomerChange`s (relay/changes.py). It never
touches Redis; the web app makes the changes durable and answers. Which sources exist is
declared once, in relay/crms.py; what they share is in relay/sources/base.py.
"""

from __future__ import annotations

from importlib import import_module

from relay.crms import BY_NAME, CRMS, KNOWN_SOURCES
from relay.mapping.config import SourceMapping
from relay.settings import Settings
from relay.sources.base import CrmSource, WebhookSource, parse_json, parse_json_object
from relay.sources.records import CrmRecords

__all__ = [
    "KNOWN_SOURCES",
    "CrmRecords",
    "CrmSource",
    "WebhookSource",
    "enabled_sources",
    "mapped_source",
    "parse_json",
    "parse_json_object",
    "records",
    "source_class",
]


def source_class(name: str) -> type[WebhookSource]:
    """The WebhookSource class relay/crms.py names for source `name`."""
    module, _, attribute = BY_NAME[name].source_class.partition(":")
    cls = getattr(import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, WebhookSource) and cls.name == name):
        raise TypeError(f"{BY_NAME[name].source_class} is not the WebhookSource of {name!r}")
    return cls


def enabled_sources(settings: Settings) -> dict[str, WebhookSource]:
    """The sources whose secrets are configured; the others answer 404."""
    return {
        crm.name: source_class(crm.name).from_settings(settings)
        for crm in CRMS
        if settings.source_secret(crm.name) is not None
    }


def mapped_source(name: str, mapping: SourceMapping) -> CrmSource:
    """A CRM source with no secret: it parses and maps, and would refuse every signature."""
    cls = source_class(name)
    if not issubclass(cls, CrmSource):
        raise TypeError(f"source {name!r} has no mapping file")
    return cls(mapping)


def records(name: str) -> CrmRecords:
    """How CRM `name` (one with a mapping file) names its records and exports them."""
    cls = source_class(name)
    if not issubclass(cls, CrmSource):
        raise TypeError(f"source {name!r} has no records of a CRM")
    return cls.records
