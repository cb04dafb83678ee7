"""What each CRM's export is: the object a sync reads, the property holding its id, the record
in the CRM API's own JSON shape, and the link table's name for the record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class ExportShape:
    source: str
    object_type: str  # the customer-level object (company, organization, Account, lead)
    id_property: str  # the property an export's id column holds
    record_object: str  # how crm_record names the object: hubspot:company:<id>

    def crm_record(self, record_id: str) -> str:
        return f"{self.source}:{self.record_object}:{record_id}"


SHAPES: Final[Mapping[str, ExportShape]] = {
    "hubspot": ExportShape("hubspot", "company", "hs_object_id", "company"),
    "pipedrive": ExportShape("pipedrive", "organization", "id", "organization"),
    "salesforce": ExportShape("salesforce", "Account", "Id", "account"),
    "close": ExportShape("close", "lead", "id", "lead"),
}
SYNC_SOURCES: Final = tuple(SHAPES)


class BadRecord(ValueError):
    """A record that cannot be used; the message says why (the reader adds where)."""


def from_api(shape: ExportShape, doc: Any) -> tuple[str, dict[str, Any]]:
    """(record id, properties) of one record in the CRM API's JSON shape:

    HubSpot     {"id": "42", "properties": {"name": …}}
    Pipedrive   {"id": 7, "name": …, "address": {…}}          (the object itself)
    Close       {"id": "lead_…", "display_name": …}           (the object itself)
    Salesforce  {"attributes": {"type": "Account"}, "Id": "001…", "Name": …}
    """
    if not isinstance(doc, Mapping):
        raise BadRecord(f"is {type(doc).__name__}, not a JSON object")
    properties: Mapping[str, Any] = doc
    if shape.source == "hubspot":
        inner = doc.get("properties")
        if not isinstance(inner, Mapping):
            raise BadRecord('has no "properties" object (HubSpot API shape: {"id", "properties"})')
        properties = inner
        record_id = doc.get("id", inner.get(shape.id_property))
    else:
        if shape.source == "salesforce":
            kind = (
                (doc.get("attributes") or {}).get("type")
                if isinstance(doc.get("attributes"), Mapping)
                else None
            )
            if kind not in (None, shape.object_type):
                raise BadRecord(f"is a {kind}, not an {shape.object_type}")
        record_id = doc.get(shape.id_property)
    if record_id is None or isinstance(record_id, bool) or str(record_id).strip() == "":
        raise BadRecord(f"has no id ({shape.id_property})")
    props = {k: v for k, v in properties.items() if k != "attributes" or shape.source != "salesforce"}
    return str(record_id).strip(), props
