"""HubSpot's records: how they are named, read from an export, merged and parented.

    hubspot:company:<id>   hubspot:contact:<id>      (other objects: hubspot:<object>:<id>)

A contact's parent is its primary company: the `associatedcompanyid` property (in a property
change or a workflow body) or a primary company-contact association event. A merge names the
surviving record (`newObjectId` when HubSpot made a new one, else `primaryObjectId`) and the
records merged into it (`mergedObjectIds`; a contact workflow body's `merged-vids`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from relay.sources.records import BadRecord, CrmRecords, json_object

# HubSpot's generic object type ids for the two objects the relay maps.
OBJECT_TYPE_IDS: Final[Mapping[str, str]] = {"0-1": "contact", "0-2": "company"}
MAPPED_OBJECTS: Final = ("company", "contact")
# The contact property holding the id of its primary company.
PARENT_PROPERTY: Final = "associatedcompanyid"
# associationType → whether the association runs from the company (to the contact).
COMPANY_CONTACT_ASSOCIATIONS: Final[Mapping[str, bool]] = {
    "COMPANY_TO_CONTACT": True,
    "CONTACT_TO_COMPANY": False,
}
ID = re.compile(r"[A-Za-z0-9_\-]{1,100}")
_OBJECT_NAME = re.compile(r"[A-Za-z0-9_\-]{1,40}")


class HubSpotRecords(CrmRecords):
    def from_api(self, doc: Any) -> tuple[str, dict[str, Any]]:
        """HubSpot's CRM API shape: {"id": "42", "properties": {"name": …, "hs_object_id": "42"}}."""
        inner = json_object(doc).get("properties")
        if not isinstance(inner, Mapping):
            raise BadRecord('has no "properties" object (HubSpot API shape: {"id", "properties"})')
        return self.record_id(doc.get("id", inner.get(self.id_property))), dict(inner)

    def object_name(self, name: str) -> str:
        """An object name as the CRM sent it, fit for a record key (else "unknown")."""
        return name if _OBJECT_NAME.fullmatch(name) else "unknown"


RECORDS: Final = HubSpotRecords("hubspot", "company", "company", "hs_object_id")


def parent_of(contact_id: str, company_id: object) -> dict[str, str]:
    """{contact record: its company's record}; "" when the value says it has none."""
    company = str(company_id).strip() if company_id is not None else ""
    parent = RECORDS.key("company", company) if ID.fullmatch(company) else ""
    return {RECORDS.key("contact", contact_id): parent}
