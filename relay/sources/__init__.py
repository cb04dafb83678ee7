"""Webhook sources: one module or package per CRM, each with the same shape: verify → parse →
changes, and everything else the relay knows about that CRM (how its records are named and
exported, its merges, its records' parents: `CrmRecords`).

A source turns one HTTP request into canonical `CustomerChange`s (relay/changes.py). It never
touches Redis; the web app makes the changes durable and answers. Which sources are built in
is declared once, in relay/crms.py; others are declared by a file in RELAY_MAPPING_DIR
(relay/sources/declared/); what they share is in relay/sources/base.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from relay.crms import BY_NAME, CRMS, KNOWN_SOURCES, MAPPED_SOURCES
from relay.mapping.config import MappingError, SourceMapping, load_mapping
from relay.settings import Settings, source_secret_env
from relay.sources import declared
from relay.sources.base import CrmSource, WebhookSource, parse_json, parse_json_object
from relay.sources.generic import GenericSource
from relay.sources.records import CrmRecords

__all__ = [
    "KNOWN_SOURCES",
    "CrmRecords",
    "CrmSource",
    "SourceCatalog",
    "WebhookSource",
    "crm_names",
    "enabled_sources",
    "mapped_crm",
    "mapped_source",
    "parse_json",
    "parse_json_object",
    "records",
    "source_catalog",
    "source_class",
]


def source_class(name: str) -> type[WebhookSource]:
    """The WebhookSource class relay/crms.py names for source `name`."""
    module, _, attribute = BY_NAME[name].source_class.partition(":")
    cls = getattr(import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, WebhookSource) and cls.name == name):
        raise TypeError(f"{BY_NAME[name].source_class} is not the WebhookSource of {name!r}")
    return cls


@dataclass(frozen=True)
class SourceCatalog:
    """The sources the relay serves, and the names it knows."""

    enabled: dict[str, WebhookSource]  # those whose secrets are configured; others answer 404
    known: tuple[str, ...]  # built-in and declared: what a secret would enable
    declared: tuple[str, ...]  # declared by a file in RELAY_MAPPING_DIR
    # Declaring files that cannot be used (their sources are not served), with their problems.
    problems: dict[str, list[str]]


def source_catalog(settings: Settings) -> SourceCatalog:
    """Every source, built in or declared; a broken mapping file of a source whose secret is
    set stops start-up here (MappingError), not at the first webhook."""
    enabled: dict[str, WebhookSource] = {
        crm.name: source_class(crm.name).from_settings(settings)
        for crm in CRMS
        if settings.source_secret(crm.name) is not None
    }
    scanned = declared.scan(settings.mapping_dir)
    for path, problems in scanned.problems.items():
        if settings.declared_secret(Path(path).stem) is not None:
            raise MappingError([*problems, f"{source_secret_env(Path(path).stem)} is set for it"])
    for name, declaration in scanned.declarations.items():
        if settings.declared_secret(name) is None:
            continue
        why = declared.secret_problem(declaration, settings)
        if why is not None:
            raise MappingError([f"{declaration.path}: {why}"])
        enabled[name] = declaration.source(settings)
    _check_lead_data_source(enabled.values(), settings)
    names = tuple(scanned.declarations)
    generic = enabled.get("generic")
    if isinstance(generic, GenericSource):  # its ids may not read as a declared source's
        generic.refuse_ids_of(names)
    return SourceCatalog(enabled, (*KNOWN_SOURCES, *names), names, scanned.problems)


def _check_lead_data_source(sources: Iterable[WebhookSource], settings: Settings) -> None:
    """A mapping that creates leads needs the data source to create them under: refused at
    start-up, not found out at the first unmatched record."""
    if settings.chartmogul_data_source_uuid:
        return
    creating = [
        s.mapping.path for s in sources if isinstance(s, CrmSource) and s.mapping.unmatched == "create"
    ]
    if creating:
        raise MappingError(
            [
                f'{path}: unmatched = "create" needs RELAY_CHARTMOGUL_DATA_SOURCE_UUID, the ChartMogul '
                "data source leads are created under (GET /v1/data_sources lists them)"
                for path in creating
            ]
        )


def enabled_sources(settings: Settings) -> dict[str, WebhookSource]:
    """The sources whose secrets are configured; the others answer 404."""
    return source_catalog(settings).enabled


def crm_names(mapping_dir: str | os.PathLike[str] | None) -> tuple[str, ...]:
    """The CRMs with a mapping: the built-in ones, and those `mapping_dir` declares."""
    return (*MAPPED_SOURCES, *declared.scan(mapping_dir).declarations)


def mapped_crm(name: str, mapping_dir: str | os.PathLike[str] | None) -> CrmSource:
    """CRM `name` (built in or declared) with its current mapping and no secret: it parses and
    maps, and would refuse every signature. MappingError when its file is broken or absent."""
    if name in MAPPED_SOURCES:
        return mapped_source(name, load_mapping(name, mapping_dir))
    path = Path(mapping_dir or ".") / f"{name}.toml"
    if not mapping_dir or path not in declared.declaring_files(mapping_dir):
        raise MappingError(
            [
                f"source {name!r} is neither a built-in CRM ({', '.join(MAPPED_SOURCES)}) nor declared "
                "by a file with a [source] table in RELAY_MAPPING_DIR"
            ]
        )
    return declared.load_declaration(path).source()


def mapped_source(name: str, mapping: SourceMapping) -> CrmSource:
    """A CRM source with no secret: it parses and maps, and would refuse every signature."""
    cls = source_class(name)
    if not issubclass(cls, CrmSource):
        raise TypeError(f"source {name!r} has no mapping file")
    return cls(mapping)


def records(name: str, mapping_dir: str | os.PathLike[str] | None = None) -> CrmRecords:
    """How CRM `name` (one with a mapping file, or one `mapping_dir` declares) names its
    records and exports them."""
    if name not in BY_NAME:
        return mapped_crm(name, mapping_dir).records
    cls = source_class(name)
    if not issubclass(cls, CrmSource):
        raise TypeError(f"source {name!r} has no records of a CRM")
    return cls.records
