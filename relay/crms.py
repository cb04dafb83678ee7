"""The webhook sources built into the relay, declared once: every CRM, and `generic` (our own format).

Everything else that lists sources derives from `CRMS`: which settings enable a source
(relay/settings.py holds the typed fields), `enabled_sources`, the object types a mapping file
may name, the metrics' `source` label and the CLI's `--source` choices. Sources declared by a
file in RELAY_MAPPING_DIR (relay/sources/declared/) join them when the relay starts; the names
they may not take are RESERVED_NAMES, below.

A source's class is named by import path, not imported: mapping and settings read this module,
and the sources import mapping, so importing the classes here would run imports backwards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Crm:
    name: str  # the path segment: POST /webhooks/<name>
    source_class: str  # "module:Class" of its WebhookSource
    secret_setting: str  # the Settings field holding its secret; unset means the source answers 404
    secret_label: str  # how refusals name that secret ("the HubSpot client secret is not configured")
    # The CRM object types its mapping file maps, in the CRM's own words; () means no mapping file.
    objects: tuple[str, ...] = ()
    # The object types whose records may become ChartMogul leads (`unmatched = "create"`): the
    # company-level ones. The others are contacts, which reach a customer through their parent.
    lead_objects: tuple[str, ...] = ()
    title: str = ""  # the CRM's name as people write it ("HubSpot"): a created lead's name

    @property
    def has_mapping(self) -> bool:
        return bool(self.objects)


CRMS: Final[tuple[Crm, ...]] = (
    Crm("generic", "relay.sources.generic:GenericSource", "generic_secret", "Standard Webhooks secret"),
    Crm(
        "hubspot",
        "relay.sources.hubspot:HubSpotSource",
        "hubspot_client_secret",
        "HubSpot client secret",
        ("company", "contact"),
        ("company",),
        "HubSpot",
    ),
    Crm(
        "pipedrive",
        "relay.sources.pipedrive:PipedriveSource",
        "pipedrive_basic_auth",
        "Pipedrive webhook credentials",
        ("organization", "person"),
        ("organization",),
        "Pipedrive",
    ),
    Crm(
        "salesforce",
        "relay.sources.salesforce:SalesforceSource",
        "salesforce_org_id",
        "Salesforce organization id",
        ("Account", "Contact", "Lead"),
        ("Account", "Lead"),
        "Salesforce",
    ),
    Crm(
        "close",
        "relay.sources.close:CloseSource",
        "close_signature_key",
        "Close signature key",
        ("lead", "contact"),
        ("lead",),
        "Close",
    ),
)
BY_NAME: Final[Mapping[str, Crm]] = {crm.name: crm for crm in CRMS}

KNOWN_SOURCES: Final[tuple[str, ...]] = tuple(BY_NAME)
# The source of the events `relay sync` makes from a CRM export (no webhook endpoint).
SYNC_SOURCE: Final = "sync"
# The object types each mapped source's file may name.
SOURCE_OBJECTS: Final[Mapping[str, tuple[str, ...]]] = {
    crm.name: crm.objects for crm in CRMS if crm.has_mapping
}
LEAD_OBJECTS: Final[Mapping[str, tuple[str, ...]]] = {
    crm.name: crm.lead_objects for crm in CRMS if crm.has_mapping
}
MAPPED_SOURCES: Final[tuple[str, ...]] = tuple(SOURCE_OBJECTS)

# Names a source declared by a file (RELAY_MAPPING_DIR/<name>.toml, relay/sources/declared/) may
# not take: a built-in source's, and the words other keys begin with, so that its event ids
# ("<name>:…") and record keys ("<name>:<object>:<id>") meet no other key:
#   sync                         events `relay sync` enqueues ("sync:…", relay/sync/plan.py)
#   unknown                      the metrics' `source` label of a path that names no source
#   crm, ext, extn, email, uuid  customer keys (CustomerRef.key), in the links hash with records
#   parent                       the links hash's parent entries (relay/store/keys.py)
# A declared source's name is its file's: the URL path segment, a metrics label, the start of
# its records' keys.
DECLARED_NAME: Final = re.compile(r"[a-z][a-z0-9_-]{0,39}")
RESERVED_NAMES: Final[frozenset[str]] = frozenset(
    {*KNOWN_SOURCES, "sync", "unknown", "crm", "ext", "extn", "email", "uuid", "parent"}
)


def record_title(crm_record: str) -> str:
    """A record key as a person reads it: `hubspot:company:8302` → "HubSpot company 8302"; a
    declared source by its name (`zoho:Accounts:4876` → "zoho Accounts 4876")."""
    source, _, rest = crm_record.partition(":")
    object_name, _, record_id = rest.partition(":")
    crm = BY_NAME.get(source)
    title = crm.title if crm is not None and crm.title else source
    return " ".join(part for part in (title, object_name, record_id) if part)
