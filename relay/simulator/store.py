"""Everything the simulator remembers, in memory: customers, their primary contacts (kept apart:
the real API never shows them in a customer object), data sources, users, custom attribute
definitions, and the log of API requests it received."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from relay.simulator.customers import (
    DEFAULT_DATA_SOURCE_UUID,
    Customer,
    InvalidSetup,
    build_contact,
    build_customer,
)
from relay.simulator.values import format_timestamp

CUSTOM_ATTRIBUTE_TYPES: tuple[str, ...] = ("String", "Integer", "Decimal", "Timestamp", "Boolean")

# The request log keeps this many entries, oldest dropped first (enough for any benchmark run).
REQUEST_LOG_LIMIT = 100_000

_FIRST_CUSTOMER_ID = 12_150_001

DataSource = dict[str, Any]
# The data source customers set up without one belong to: always known, as the account's first.
DEFAULT_DATA_SOURCE_NAME = "Simulator"


class Store:
    def __init__(self) -> None:
        self.customers: dict[str, Customer] = {}
        # customer uuid -> its primary contact (CONTACT_FIELDS)
        self.contacts: dict[str, dict[str, Any]] = {}
        # lower-cased email -> email as given
        self.users: dict[str, str] = {}
        # custom attribute key -> type
        self.custom_attributes: dict[str, str] = {}
        # data source uuid -> the data source object, in ChartMogul's response shape
        self.data_sources: dict[str, DataSource] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._next_id = _FIRST_CUSTOMER_ID
        self.add_data_source(DEFAULT_DATA_SOURCE_NAME, uuid=DEFAULT_DATA_SOURCE_UUID)

    def reset(self) -> None:
        self.customers.clear()
        self.contacts.clear()
        self.users.clear()
        self.custom_attributes.clear()
        self.data_sources.clear()
        self.requests.clear()
        self._next_id = _FIRST_CUSTOMER_ID
        self.add_data_source(DEFAULT_DATA_SOURCE_NAME, uuid=DEFAULT_DATA_SOURCE_UUID)

    # customers

    def add_customer(self, doc: dict[str, Any]) -> Customer:
        """Store a customer given in response shape (replacing one with the same uuid).

        Custom attributes it carries that are not defined yet get defined, with a type guessed
        from the value: in ChartMogul a customer only ever holds defined attributes.
        """
        customer = build_customer(doc, self._next_id)
        contact = build_contact(doc.get("primary_contact"))
        self._next_id = max(self._next_id, customer["id"]) + 1
        for data_source_uuid in customer["data_source_uuids"]:  # set-up may name any data source
            if data_source_uuid not in self.data_sources:
                self.add_data_source(f"Data source {len(self.data_sources) + 1}", uuid=data_source_uuid)
        for key, value in customer["attributes"]["custom"].items():
            self.custom_attributes.setdefault(key, _guess_type(value))
        self.customers[customer["uuid"]] = customer
        self.contacts.pop(customer["uuid"], None)
        if contact is not None:
            self.contacts[customer["uuid"]] = contact
        return customer

    def get(self, uuid: str) -> Customer | None:
        return self.customers.get(uuid)

    def put(self, customer: Customer, contact: dict[str, Any] | None = None) -> None:
        self.customers[customer["uuid"]] = customer
        if contact is not None:
            self.contacts[customer["uuid"]] = contact

    def find(
        self,
        *,
        external_id: str | None = None,
        data_source_uuid: str | None = None,
        email: str | None = None,
        status: str | None = None,
    ) -> list[Customer]:
        """Customers matching every filter given (emails compared case-insensitively), in list
        order: by id, then uuid (the order cursors page through)."""
        wanted_email = email.lower() if email is not None else None
        found = []
        for customer in self.customers.values():
            if external_id is not None and external_id not in customer["external_ids"]:
                continue
            if data_source_uuid is not None and data_source_uuid not in customer["data_source_uuids"]:
                continue
            if wanted_email is not None and wanted_email not in self._emails(customer):
                continue
            if status is not None and customer["status"] != status:
                continue
            found.append(customer)
        found.sort(key=list_order)
        return found

    def _emails(self, customer: Customer) -> set[str]:
        emails = {customer["email"].lower()} if customer["email"] else set()
        contact_email = (self.contacts.get(customer["uuid"]) or {}).get("email")
        if contact_email:
            emails.add(contact_email.lower())
        return emails

    def next_customer_id(self) -> int:
        customer_id = self._next_id
        self._next_id += 1
        return customer_id

    # data sources

    def add_data_source(self, name: str, *, uuid: str | None = None) -> DataSource:
        """A data source named `name` (names are unique, as in ChartMogul): InvalidSetup when the
        name is taken by another uuid."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidSetup("A name is required for each data source.")
        for existing in self.data_sources.values():
            if existing["name"] == name and existing["uuid"] != uuid:
                raise InvalidSetup("Has already been taken.")
        source: DataSource = {
            "uuid": uuid or f"ds_{uuid4()}",
            "name": name,
            "system": "Custom",
            "created_at": format_timestamp(datetime.now(UTC)),
            "status": "idle",
        }
        self.data_sources[source["uuid"]] = source
        return source

    # users and custom attribute definitions

    def add_user(self, email: str) -> None:
        self.users[email.lower()] = email

    def user(self, email: str) -> str | None:
        return self.users.get(email.lower())

    def add_custom_attribute(self, key: str, type_: str) -> None:
        if type_ not in CUSTOM_ATTRIBUTE_TYPES:
            raise InvalidSetup(f"type must be one of {', '.join(CUSTOM_ATTRIBUTE_TYPES)}, got {type_!r}")
        self.custom_attributes[key] = type_

    # request log

    def log_request(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)


def _guess_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Decimal"
    return "String"


def list_order(customer: Customer) -> tuple[int, str]:
    return customer["id"], customer["uuid"]
