"""The tables mapping files are checked against: ChartMogul's custom attribute types, the
fields a rule may target, each target's default transform, and the keys a file may use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS
from relay.mapping.transforms import TRANSFORM_NAMES

# ChartMogul custom attribute types, and the transform each gets unless the rule names one.
CUSTOM_TYPES: Final[Mapping[str, str]] = {
    "String": "text",
    "Integer": "integer",
    "Decimal": "decimal",
    "Timestamp": "datetime",
    "Boolean": "boolean",
}

FIELD_TRANSFORMS: Final[Mapping[str, str]] = {
    "name": "text",
    "email": "email",
    "company": "text",
    "lead_created_at": "datetime",
    "free_trial_started_at": "datetime",
    "zip": "text",
    "city": "text",
    "state": "us_state",
    "country": "country",
    "owner": "owner",
    "status": "lead_status",
    "website_url": "website",
    "primary_contact.first_name": "text",
    "primary_contact.last_name": "text",
    "primary_contact.email": "email",
    "primary_contact.title": "text",
    "primary_contact.phone": "phone",
    "primary_contact.linked_in": "url",
    "primary_contact.twitter": "url",
    "primary_contact.notes": "text",
}
DEFAULT_HANDLE_PREFIXES: Final[Mapping[str, str]] = {
    "primary_contact.twitter": "https://twitter.com/",
    "primary_contact.linked_in": "https://www.linkedin.com/in/",
}
# Transforms whose output is text, so it can be a tag.
TEXT_TRANSFORMS: Final = frozenset(TRANSFORM_NAMES) - {"integer", "decimal", "boolean"}

FIELD_TARGETS: Final[tuple[str, ...]] = (
    *CUSTOMER_FIELDS,
    *(f"primary_contact.{name}" for name in CONTACT_FIELDS),
)
LINK_HOLDS: Final = ("uuid", "external_id", "email")
RULE_KEYS: Final = frozenset(
    {"field", "tag", "tag_from_value", "custom", "type", "transform", "clear_on_empty"}
    | {"handle_prefix", "tag_prefix", "name_part"}
)
TOP_KEYS: Final = frozenset(
    {"link_property", "link_holds", "link_data_source_uuid", "lead_statuses", "owners", "objects", "labels"}
    | {"unmatched"}
)
CUSTOM_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,99}")


def default_transform(kind: str, target: str, custom_type: str | None) -> str:
    if kind == "field":
        return FIELD_TRANSFORMS.get(target, "text")
    if kind == "tag":
        return "boolean"
    if kind == "tag_from_value":
        return "tag"
    return CUSTOM_TYPES.get(custom_type or "", "text")
