"""The ChartMogul API routes the simulator serves (`/v1/...`); the gate has already run."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from relay.simulator.customers import Customer
from relay.simulator.responses import error_response, json_response
from relay.simulator.rules import RuleViolation, apply_update, custom_value
from relay.simulator.state import BODY, SIM, SimState
from relay.simulator.store import CUSTOM_ATTRIBUTE_TYPES

routes = web.RouteTableDef()


@routes.get("/v1/ping")
async def ping(request: web.Request) -> web.Response:
    return json_response({"data": "pong!"})


@routes.get("/v1/customers")
async def list_customers(request: web.Request) -> web.Response:
    """Filters: external_id, data_source_uuid, email, status. One page, never more."""
    query = request.query
    found = request.app[SIM].store.find(
        external_id=query.get("external_id"),
        data_source_uuid=query.get("data_source_uuid"),
        email=query.get("email"),
        status=query.get("status"),
    )
    return _page(found)


@routes.get("/v1/customers/search")
async def search_customers(request: web.Request) -> web.Response:
    email = request.query.get("email")
    if not email:
        return error_response(400, 'Parameter "email" is missing', "email")
    found = request.app[SIM].store.find(email=email)
    if not found:
        return error_response(404, f'No customers found with email "{email}"', "email")
    return _page(found)


@routes.get("/v1/customers/{uuid}")
async def get_customer(request: web.Request) -> web.Response:
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    return json_response(customer)


@routes.patch("/v1/customers/{uuid}")
async def update_customer(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    body = request[BODY]
    if body.is_invalid_json:
        return error_response(400, "Request body is not valid JSON")
    try:
        updated = apply_update(customer, body.value, sim.store)
    except RuleViolation as exc:
        return error_response(400, exc.message, exc.param)
    sim.store.put(updated)
    return json_response(updated)


@routes.post("/v1/customers/{uuid}/attributes/tags")
async def add_tags(request: web.Request) -> web.Response:
    return _change_tags(request, add=True)


@routes.delete("/v1/customers/{uuid}/attributes/tags")
async def remove_tags(request: web.Request) -> web.Response:
    return _change_tags(request, add=False)


@routes.post("/v1/customers/{uuid}/attributes/custom")
async def add_custom_attributes(request: web.Request) -> web.Response:
    """Defines each attribute that is new (type defaults to String) and sets it on the customer."""
    sim = request.app[SIM]
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    body = request[BODY].value
    items = body.get("custom") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return error_response(400, 'Parameter "custom" must be a non-empty array of attributes', "custom")
    try:
        definitions, values = _custom_items(items, sim)
    except RuleViolation as exc:
        return error_response(400, exc.message, exc.param)
    sim.store.custom_attributes.update(definitions)
    customer["attributes"]["custom"].update(values)
    return json_response({"custom": customer["attributes"]["custom"]})


def _custom_items(items: list[Any], sim: SimState) -> tuple[dict[str, str], dict[str, Any]]:
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
        values[key] = custom_value(key, item["value"], param="value")
    return definitions, values


def _change_tags(request: web.Request, *, add: bool) -> web.Response:
    customer = _customer(request)
    if customer is None:
        return _not_found(request)
    body = request[BODY].value
    tags = body.get("tags") if isinstance(body, dict) else None
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return error_response(400, 'Parameter "tags" must be an array of strings', "tags")
    current: list[str] = customer["attributes"]["tags"]
    if add:
        current.extend(tag for tag in dict.fromkeys(tags) if tag not in current)
    else:
        customer["attributes"]["tags"] = current = [tag for tag in current if tag not in tags]
    return json_response({"tags": current})


def _page(entries: list[Customer]) -> web.Response:
    return json_response({"entries": entries, "cursor": None, "has_more": False})


def _customer(request: web.Request) -> Customer | None:
    return request.app[SIM].store.get(request.match_info["uuid"])


def _not_found(request: web.Request) -> web.Response:
    uuid = request.match_info["uuid"]
    return error_response(404, f'Customer "{uuid}" not found', "customer_uuid")
