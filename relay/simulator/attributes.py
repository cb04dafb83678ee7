"""The attribute and contact endpoints under `/v1/customers/{uuid}/...`, answered as recorded.

The gate has already run, so each call is logged, rate limited and counted by the connection cap
like every other one. Recorded answers (chartmogul-ruby `spec/fixtures/vcr_cassettes/
ChartMogul_Customer/API_Actions/*`, 2023):

    POST   .../attributes/tags    {"tags": [...]}                    200 {"tags": [all now]}
    DELETE .../attributes/tags    {"tags": [...]}                    200 {"tags": [all now]}
    POST   .../attributes/custom  {"custom": [{type, key, value}]}   200 {"custom": {all now}}
    PUT    .../attributes/custom  {"custom": {key: value}}           200 {"custom": {all now}}
    DELETE .../attributes/custom  {"custom": [key, ...]}             204, no body
    GET    .../attributes                          200 {"attributes": {tags, stripe, clearbit, custom}}
    GET    .../contacts           the primary contact kept from PATCH `primary_contact`, paged
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relay.simulator.api import customer_not_found as _not_found
from relay.simulator.api import find_customer as _customer
from relay.simulator.customers import Customer
from relay.simulator.pages import PageError, PageRequest
from relay.simulator.responses import error_response, json_response
from relay.simulator.rules import RuleViolation, custom_value
from relay.simulator.state import BODY, SIM, SimState
from relay.simulator.store import CUSTOM_ATTRIBUTE_TYPES

routes = web.RouteTableDef()

BASE = "/v1/customers/{uuid}"


@routes.get(BASE + "/attributes")
async def get_attributes(request: web.Request) -> web.Response:
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    return json_response({"attributes": customer["attributes"]})


@routes.post(BASE + "/attributes/tags")
async def add_tags(request: web.Request) -> web.Response:
    return _change_tags(request, add=True)


@routes.delete(BASE + "/attributes/tags")
async def remove_tags(request: web.Request) -> web.Response:
    return _change_tags(request, add=False)


@routes.post(BASE + "/attributes/custom")
async def add_custom_attributes(request: web.Request) -> web.Response:
    """Defines each attribute that is new (type defaults to String) and sets it on the customer."""
    sim = request.app[SIM]
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    items = _body_key(request, "custom")
    if not isinstance(items, list) or not items:
        return error_response(400, 'Parameter "custom" must be a non-empty array of attributes', "custom")
    try:
        definitions, values = _new_custom_items(items, sim)
    except RuleViolation as exc:
        return error_response(exc.status, exc.message, exc.param)
    sim.store.custom_attributes.update(definitions)
    customer["attributes"]["custom"].update(values)
    return json_response({"custom": customer["attributes"]["custom"]})


@routes.put(BASE + "/attributes/custom")
async def update_custom_attributes(request: web.Request) -> web.Response:
    """Sets only the keys given; each must already be defined in the account."""
    sim = request.app[SIM]
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    given = _body_key(request, "custom")
    if not isinstance(given, dict) or not given:
        return error_response(400, 'Parameter "custom" must be a non-empty object of key: value', "custom")
    values: dict[str, Any] = {}
    try:
        for key, value in given.items():
            type_ = sim.store.custom_attributes.get(key)
            if type_ is None:
                raise RuleViolation(f'Custom attribute "{key}" does not exist', "custom")
            values[key] = custom_value(
                key, value, type_, param="custom", lenient=sim.behaviour.lenient_values
            )
    except RuleViolation as exc:
        return error_response(exc.status, exc.message, exc.param)
    customer["attributes"]["custom"].update(values)
    return json_response({"custom": customer["attributes"]["custom"]})


@routes.delete(BASE + "/attributes/custom")
async def remove_custom_attributes(request: web.Request) -> web.Response:
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    keys = _body_key(request, "custom")
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        return error_response(400, 'Parameter "custom" must be an array of keys', "custom")
    for key in keys:
        customer["attributes"]["custom"].pop(key, None)
    return web.Response(status=204)


@routes.get(BASE + "/contacts")
async def list_contacts(request: web.Request) -> web.Response:
    """The customer's contacts: here at most the one PATCH `primary_contact` set."""
    sim = request.app[SIM]
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    try:
        PageRequest.from_query(request.query)
    except PageError as exc:
        return error_response(400, exc.message, exc.param)
    contact = sim.store.contacts.get(customer["uuid"])
    entries = [] if contact is None else [_contact_object(customer, contact)]
    return json_response({"entries": entries, "cursor": None, "has_more": False})


def _contact_object(customer: Customer, contact: dict[str, Any]) -> dict[str, Any]:
    """The Contacts API's shape (position 1 is the primary contact)."""
    return {
        "uuid": "con_" + customer["uuid"].removeprefix("cus_"),
        "customer_id": customer["id"],
        "customer_uuid": customer["uuid"],
        "data_source_uuid": customer["data_source_uuid"],
        "customer_external_id": customer["external_id"],
        "position": 1,
        **contact,
        "custom": {},
    }


def _new_custom_items(items: list[Any], sim: SimState) -> tuple[dict[str, str], dict[str, Any]]:
    """(definitions to add, values to set), checked in full before anything is applied."""
    definitions: dict[str, str] = {}
    values: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise RuleViolation('Each custom attribute needs a "key"', "custom")
        key = item["key"]
        known_type = sim.store.custom_attributes.get(key) or definitions.get(key)
        type_ = item.get("type", known_type or "String")
        if type_ not in CUSTOM_ATTRIBUTE_TYPES:
            raise RuleViolation(
                f'Custom attribute type "{type_}" must be one of {", ".join(CUSTOM_ATTRIBUTE_TYPES)}', "type"
            )
        if known_type is not None and type_ != known_type:
            raise RuleViolation(f'Custom attribute "{key}" already exists with type {known_type}', "type")
        if "value" not in item:
            raise RuleViolation(f'Custom attribute "{key}" needs a "value"', "value")
        definitions[key] = type_
        values[key] = custom_value(
            key, item["value"], type_, param="value", lenient=sim.behaviour.lenient_values
        )
    return definitions, values


def _change_tags(request: web.Request, *, add: bool) -> web.Response:
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    tags = _body_key(request, "tags")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return error_response(400, 'Parameter "tags" must be an array of strings', "tags")
    current: list[str] = customer["attributes"]["tags"]
    if add:
        current.extend(tag for tag in dict.fromkeys(tags) if tag not in current)
    else:
        customer["attributes"]["tags"] = current = [tag for tag in current if tag not in tags]
    return json_response({"tags": current})


def _body_key(request: web.Request, key: str) -> Any:
    body = request[BODY].value
    return body.get(key) if isinstance(body, dict) else None
