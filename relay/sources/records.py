"""How a CRM's records are named and read outside its webhooks: the one spelling of a record
key, the object a bare id means, and the record in the CRM API's own JSON shape (`relay sync`,
`relay links`). Each CRM's module holds its own `CrmRecords`: its facts stay in its room.

    hubspot:company:1246965        pipedrive:organization:42
    salesforce:account:0015e00000AbCdEAAV    close:lead:lead_IIDHIS…

A record key is `<source>:<object>:<id>`; ids never hold ':' (each source checks its own), so a
key names one record. The link table, customers named by CRM record (`crm:` + the key) and the
event log all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class BadRecord(ValueError):
    """A record that cannot be used; the message says why (the reader adds where)."""


@dataclass(frozen=True)
class CrmRecords:
    source: str
    customer_object: (
        str  # what a bare id names (`relay links import`'s `hubspot,42`): the customer-level object
    )
    object_type: str  # the mapping's object type an export holds (company, organization, Account, lead)
    id_property: str  # the property an export's id column holds

    def key(self, object_name: str, record_id: str) -> str:
        """The record key of `record_id`, an object of `object_name` (e.g. "company")."""
        return record_key(self.source, object_name, record_id)

    def crm_record(self, record_id: str) -> str:
        """The key of a customer-level record (an export's rows, a bare id in a links CSV)."""
        return self.key(self.customer_object, record_id)

    def from_api(self, doc: Any) -> tuple[str, dict[str, Any]]:
        """(record id, properties) of one record in the CRM API's JSON shape; by default the
        object itself: {"id": 7, "name": …, "address": {…}}."""
        properties = json_object(doc)
        return self.record_id(properties.get(self.id_property)), dict(properties)

    def record_id(self, value: object) -> str:
        if value is None or isinstance(value, bool) or str(value).strip() == "":
            raise BadRecord(f"has no id ({self.id_property})")
        return str(value).strip()


def record_key(source: str, object_name: str, record_id: str) -> str:
    """The one spelling of a record key (every `CrmRecords.key`, and searches by a bare id)."""
    return f"{source}:{object_name}:{record_id}"


def json_object(doc: Any) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise BadRecord(f"is {type(doc).__name__}, not a JSON object")
    return doc
