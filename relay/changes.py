"""The canonical change: what every CRM source is turned into, and what workers deliver.

A `CustomerChange` speaks ChartMogul's own words (`company`, `lead_created_at`,
`primary_contact.first_name`, tags, custom attributes). Tags and custom attributes are
expressed as *operations* (add/remove, set/remove), never as whole lists, because a PATCH
of `attributes.tags` replaces every tag the customer has: the worker reads the customer,
applies the operations, and sends the merged result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

# Top-level fields of PATCH /v1/customers/{uuid} that a change may set.
CUSTOMER_FIELDS: tuple[str, ...] = (
    "name",
    "email",
    "company",
    "lead_created_at",
    "free_trial_started_at",
    "zip",
    "city",
    "state",
    "country",
    "owner",
    "status",
    "website_url",
)

# Fields of `primary_contact`.
CONTACT_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "title",
    "phone",
    "linked_in",
    "twitter",
    "notes",
)

# The only statuses a client may write; Active, Past Due and Cancelled are ChartMogul's own.
LEAD_STATUSES: tuple[str, ...] = ("New Lead", "Working Lead", "Qualified Lead", "Unqualified Lead")

# What a mapping file's `unmatched` may say a record no ChartMogul customer matches becomes.
UNMATCHED_POLICIES: tuple[str, ...] = ("dead_letter", "create", "ignore")
# What a change carries (`CustomerChange.unmatched`): the policy as it applies to its record.
CREATE = "create"  # create the record in ChartMogul as a lead, link it, apply the change
IGNORE = "ignore"  # record the event as ignored
AWAIT_PARENT = "await_parent"  # "create", but the record is a contact: its company is created


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """How an event names its ChartMogul customer.

    By `uuid` (cus_…), by `external_id` (+ `data_source_uuid`), by `email`, or by the CRM record
    it came from (`crm_record`, e.g. "hubspot:company:1246965"), which the link table maps to a uuid.
    """

    uuid: str | None = None
    external_id: str | None = None
    data_source_uuid: str | None = None
    email: str | None = None
    crm_record: str | None = None

    @property
    def key(self) -> str:
        """One string per customer reference; the unit of ordering and coalescing, and part of
        Redis keys (pending, look-ups, links). Injective: no two references share a key. The
        usual forms (a cus_ uuid, "crm:…", "ext:ds_…:…", "email:…") are kept as they were, so
        queued events keep their keys across an upgrade; only values that could be read two
        ways (a uuid with ':', a data source uuid with ':' or equal to '*') are length-prefixed."""
        if self.uuid:
            return self.uuid if ":" not in self.uuid else f"uuid:{self.uuid}"
        if self.crm_record:
            return f"crm:{self.crm_record}"
        if self.external_id:
            source = self.data_source_uuid
            if source is None or (":" not in source and source != "*"):
                return f"ext:{source or '*'}:{self.external_id}"
            return f"extn:{len(source)}:{source}:{self.external_id}"
        if self.email:
            return f"email:{self.email.lower()}"
        raise ValueError("a customer reference needs a uuid, an external_id or an email")


@dataclass(slots=True)
class CustomerChange:
    """One CRM event, as changes to one ChartMogul customer."""

    event_id: str
    source: str
    occurred_at_ms: int
    customer: CustomerRef
    # ChartMogul top-level fields; `primary_contact` is a nested dict of CONTACT_FIELDS.
    fields: dict[str, Any] = field(default_factory=dict)
    tags_add: list[str] = field(default_factory=list)
    tags_remove: list[str] = field(default_factory=list)
    custom_set: dict[str, Any] = field(default_factory=dict)
    custom_remove: list[str] = field(default_factory=list)
    # The ChartMogul type ("String", "Integer", …) the mapping declares for a key of custom_set,
    # fixed when the event is mapped: delivery creates a missing attribute with it. Changes
    # stored before types travelled have none; delivery then infers the type from the value.
    custom_types: dict[str, str] = field(default_factory=dict)
    # Why something the CRM sent was not turned into a change (e.g. an unknown owner id).
    notes: list[str] = field(default_factory=list)
    # CRM records merged into this change's record (`customer.crm_record`): their links follow
    # it (workers/merges.py) before its customer is resolved.
    merged_records: list[str] = field(default_factory=list)
    # When no ChartMogul customer matches its record (workers/unmatched.py): CREATE, IGNORE,
    # AWAIT_PARENT, or "" for a dead letter `customer_not_found` (the default). Set by the
    # source's mapping file when the event is mapped (a replay re-maps: the current file's).
    unmatched: str = ""
    # Field keys left out because a newer change was already applied (relay sync drops them
    # before enqueueing), each with the event that won: recorded as this event's stale fields.
    stale: dict[str, str] = field(default_factory=dict)

    @property
    def touches_attributes(self) -> bool:
        """True when delivering needs the customer's current tags/custom (read-merge-write)."""
        return bool(self.tags_add or self.tags_remove or self.custom_set or self.custom_remove)

    @property
    def touches_customer(self) -> bool:
        """True when delivering sends anything to ChartMogul."""
        return bool(self.fields or self.touches_attributes)

    @property
    def is_empty(self) -> bool:
        return not (self.fields or self.touches_attributes or self.merged_records)

    def field_keys(self) -> list[str]:
        """The field keys the change writes, as coalescing, verification and records name them:
        "city", "primary_contact.email", "tag:vip", "custom:CAC"."""
        keys: list[str] = []
        for name, value in self.fields.items():
            if name == "primary_contact" and isinstance(value, dict):
                keys += [f"primary_contact.{sub}" for sub in value]
            else:
                keys.append(name)
        keys += [f"tag:{tag}" for tag in (*self.tags_add, *self.tags_remove)]
        keys += [f"custom:{key}" for key in (*self.custom_set, *self.custom_remove)]
        return keys

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> CustomerChange:
        doc = orjson.loads(raw)
        doc["customer"] = CustomerRef(**doc["customer"])
        return cls(**doc)
