"""The rules of `POST /v1/customers`: a customer created under one of the account's data sources.

    {"data_source_uuid": "ds_…", "external_id": "hubspot:company:8302", "name": "Acme",
     "email": …, "company": …, "city": …, "lead_created_at": …, "owner": …, "website_url": …,
     "attributes": {"tags": ["crm"], "custom": [{"type": "String", "key": "channel", "value": "x"}]},
     "primary_contact": {…}}

`data_source_uuid`, `external_id` and `name` are required (400 `Parameter "name" is missing`,
as recorded); the data source must be one the account has, and an `external_id` is unique within
its data source: a second one is 422 `{"errors": {"external_id": "The external ID for this
customer already exists in our system."}}` (the message ChartMogul's Go client tests for). Every
other value follows the PATCH rules (rules.py), under the same behaviour switches. Custom
attributes come as a list with their types, and are defined when new (as the attribute endpoint
does). A new customer is a lead: status "New Lead", as recorded (chartmogul-ruby, 2023).
"""

from __future__ import annotations

from typing import Any

from relay.simulator.behaviour import Behaviour
from relay.simulator.customers import build_customer
from relay.simulator.rules import Applied, RuleViolation, apply_update, custom_value
from relay.simulator.store import CUSTOM_ATTRIBUTE_TYPES, Store

REQUIRED = ("data_source_uuid", "external_id", "name")
# What a create may set besides REQUIRED: the PATCH fields, less the status ChartMogul derives.
_SETTABLE = frozenset(
    {"email", "company", "country", "state", "city", "zip", "lead_created_at", "free_trial_started_at"}
    | {"owner", "website_url", "attributes", "primary_contact"}
)
EXTERNAL_ID_EXISTS = "The external ID for this customer already exists in our system."
DATA_SOURCE_NOT_FOUND = "Data source not found"


class CreateRefused(Exception):
    """A 422 in the import APIs' `{"errors": {key: message}}` shape."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.errors = {key: message}


def create_customer(body: Any, store: Store, behaviour: Behaviour) -> Applied:
    """The new customer (not stored yet), or RuleViolation / CreateRefused."""
    if not isinstance(body, dict):
        raise RuleViolation("Request body must be a JSON object", None)
    for key in REQUIRED:
        if not isinstance(body.get(key), str) or not body[key].strip():
            raise RuleViolation(f'Parameter "{key}" is missing', key)
    data_source_uuid, external_id = body["data_source_uuid"], body["external_id"]
    if data_source_uuid not in store.data_sources:
        raise CreateRefused("data_source_uuid", DATA_SOURCE_NOT_FOUND)
    if store.find(external_id=external_id, data_source_uuid=data_source_uuid):
        raise CreateRefused("external_id", EXTERNAL_ID_EXISTS)
    unknown = sorted(body.keys() - _SETTABLE - set(REQUIRED))
    if unknown and behaviour.unknown_keys == "reject":
        raise RuleViolation(f'Unknown parameter "{unknown[0]}"', unknown[0])

    blank = build_customer(
        {"data_source_uuid": data_source_uuid, "external_id": external_id, "name": body["name"]},
        store.next_customer_id(),
    )
    update = {key: value for key, value in body.items() if key in _SETTABLE}
    defined: dict[str, str] = {}
    if "attributes" in update:
        update["attributes"], defined = _attributes(update["attributes"], store, behaviour)
    new_keys = defined.keys() - store.custom_attributes.keys()
    store.custom_attributes.update({key: defined[key] for key in new_keys})
    try:
        # The blank customer has no contact yet: the PATCH rules start the contact from nothing.
        return apply_update(blank, update, store, behaviour)
    except RuleViolation:
        for key in new_keys:  # all or nothing: a refused create defines nothing either
            del store.custom_attributes[key]
        raise


def _attributes(value: Any, store: Store, behaviour: Behaviour) -> tuple[dict[str, Any], dict[str, str]]:
    """The create form (`custom` a list of typed entries) as the PATCH form (`custom` an object),
    and the type of each key it names."""
    if not isinstance(value, dict):
        raise RuleViolation("attributes must be an object", "attributes")
    custom = value.get("custom", [])
    if not isinstance(custom, list):
        raise RuleViolation("attributes.custom must be an array", "attributes.custom")
    values: dict[str, Any] = {}
    types: dict[str, str] = {}
    for entry in custom:
        if not isinstance(entry, dict):
            raise RuleViolation("each attributes.custom entry must be an object", "attributes.custom")
        key, type_ = entry.get("key"), entry.get("type", "String")
        if not isinstance(key, str) or not key or type_ not in CUSTOM_ATTRIBUTE_TYPES:
            raise RuleViolation(
                'each attributes.custom entry needs a "key" and a "type" '
                f"({', '.join(CUSTOM_ATTRIBUTE_TYPES)})",
                "attributes.custom",
            )
        types[key] = store.custom_attributes.get(key, str(type_))
        values[key] = custom_value(
            key, entry.get("value"), types[key], param="attributes.custom", lenient=behaviour.lenient_values
        )
    return {**value, "custom": values, "tags": value.get("tags", [])}, types
