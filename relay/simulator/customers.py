"""The customer object in ChartMogul's response shape, built from control-endpoint and seed input.

Control input is lenient on purpose (it is test set-up, not the contract): any subset of the
response keys, `state` as `CA` or `US-CA`, timestamps in any ISO 8601 form. Missing keys get
defaults; `address` is always derived from `zip`/`city`/`state`/`country`, with full names
(`"United States"`, `"California"`) as the real API answers it.

A `primary_contact` in the input is kept apart (see `build_contact`): the real API never shows
one in a customer object (contacts are their own API), so neither does the simulator.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from relay.changes import CONTACT_FIELDS
from relay.simulator.values import country_name, format_timestamp, parse_timestamp, us_state_name

Customer = dict[str, Any]

DEFAULT_DATA_SOURCE_UUID = "ds_5f0c6a4e-1d2b-4c3a-9e8f-000000000001"

# Keys whose missing value is an empty string (the official client refuses null for them).
_TEXT_KEYS = ("name", "email", "company", "external_id")
# Keys whose missing or empty value is null (not `city`: recorded as "" when created without one).
_NULLABLE_KEYS = ("country", "state", "zip", "owner", "website_url", "customer-since")
_TIMESTAMP_KEYS = ("lead_created_at", "free_trial_started_at")


class InvalidSetup(ValueError):
    """Control-endpoint or seed input the simulator cannot use (answered with 400)."""


def build_customer(doc: dict[str, Any], customer_id: int) -> Customer:
    """A complete customer from `doc` (response shape, any subset of keys)."""
    if not isinstance(doc, dict):
        raise InvalidSetup("a customer must be a JSON object")
    address = doc.get("address") or {}
    if not isinstance(address, dict):
        raise InvalidSetup("address must be an object")
    c_id = doc.get("id", customer_id)
    if not isinstance(c_id, int) or isinstance(c_id, bool):
        raise InvalidSetup("id must be an integer")
    data_source_uuid = doc.get("data_source_uuid") or DEFAULT_DATA_SOURCE_UUID
    external_id = doc.get("external_id") or ""
    customer: Customer = {
        "id": c_id,
        "uuid": doc.get("uuid") or f"cus_{uuid.uuid4()}",
        "data_source_uuid": data_source_uuid,
        "data_source_uuids": list(doc.get("data_source_uuids") or [data_source_uuid]),
        "external_id": external_id,
        "external_ids": list(doc.get("external_ids") or ([external_id] if external_id else [])),
    }
    for key in _TEXT_KEYS:
        customer[key] = doc.get(key) or ""
    customer["city"] = doc.get("city", address.get("city"))
    customer["country"] = doc.get("country", address.get("country"))
    customer["state"] = _state(doc.get("state", address.get("state")))
    customer["zip"] = doc.get("zip", address.get("address_zip"))
    for key in _TIMESTAMP_KEYS:
        customer[key] = _timestamp(key, doc.get(key))
    customer["customer-since"] = doc.get("customer-since")
    customer["status"] = doc.get("status") or "New Lead"
    customer["address"] = {}
    customer["attributes"] = _attributes(doc.get("attributes"))
    customer["mrr"] = doc.get("mrr", 0)
    customer["arr"] = doc.get("arr", customer["mrr"] * 12 if isinstance(customer["mrr"], int) else 0)
    customer["billing-system-url"] = doc.get("billing-system-url")
    customer["chartmogul-url"] = doc.get("chartmogul-url") or chartmogul_url(customer)
    customer["billing-system-type"] = doc.get("billing-system-type") or "Custom"
    customer["currency"] = doc.get("currency") or "USD"
    customer["currency-sign"] = doc.get("currency-sign") or "$"
    customer["owner"] = doc.get("owner")
    customer["website_url"] = doc.get("website_url")
    for key in _NULLABLE_KEYS:
        if customer[key] == "":
            customer[key] = None
    sync_address(customer)
    return customer


def sync_address(customer: Customer) -> None:
    """`address` mirrors the top-level location fields with full names, as ChartMogul answers it."""
    state, country = customer["state"], customer["country"]
    customer["address"] = {
        "address_zip": customer["zip"],
        "city": customer["city"],
        "state": us_state_name(state) if isinstance(state, str) and state else state,
        "country": country_name(country) if isinstance(country, str) and country else country,
    }


def _state(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("US-"):
        return value[3:]
    return value


def _timestamp(key: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    moment = parse_timestamp(value) if isinstance(value, str) else None
    if moment is None:
        raise InvalidSetup(f"{key} must be an ISO 8601 time, got {value!r}")
    return format_timestamp(moment)


def _attributes(value: Any) -> dict[str, Any]:
    value = value or {}
    if not isinstance(value, dict):
        raise InvalidSetup("attributes must be an object")
    tags = value.get("tags") or []
    custom = value.get("custom") or {}
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidSetup("attributes.tags must be a list of strings")
    if not isinstance(custom, dict):
        raise InvalidSetup("attributes.custom must be an object")
    return {
        "tags": list(tags),
        "custom": dict(custom),
        "stripe": dict(value.get("stripe") or {}),
        "clearbit": dict(value.get("clearbit") or {}),
    }


def build_contact(value: Any) -> dict[str, Any] | None:
    """The primary contact given in control input, every CONTACT_FIELD present; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidSetup("primary_contact must be an object")
    return {field: value.get(field) for field in CONTACT_FIELDS}


def chartmogul_url(customer: Customer) -> str:
    """Named after the company, else the name, as recorded (`#/customers/133149145-Curry_36`)."""
    label = re.sub(r"\W+", "_", customer["company"] or customer["name"] or "Customer").strip("_")
    return f"https://app.chartmogul.com/#/customers/{customer['id']}-{label}"
