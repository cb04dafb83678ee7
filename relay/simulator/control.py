"""Control endpoints (`/_sim/...`): set-up and inspection for tests and demos.

No auth, no rate limit, no faults, not logged. Errors here are `{"error": "..."}` with 400.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from relay.simulator.customers import InvalidSetup
from relay.simulator.faults import Faults
from relay.simulator.responses import control_error, json_response
from relay.simulator.state import SIM

routes = web.RouteTableDef()


@routes.post("/_sim/customers")
async def add_customer(request: web.Request) -> web.Response:
    """A customer in response shape; `uuid` generated when absent, an existing uuid is replaced."""
    doc = await _json(request)
    try:
        customer = request.app[SIM].store.add_customer(doc)
    except InvalidSetup as exc:
        return control_error(str(exc))
    return json_response(customer, status=201)


@routes.get("/_sim/customers")
async def list_customers(request: web.Request) -> web.Response:
    return json_response(list(request.app[SIM].store.customers.values()))


@routes.get("/_sim/customers/{uuid}")
async def get_customer(request: web.Request) -> web.Response:
    """The stored customer, bypassing auth, faults and the request log."""
    customer = request.app[SIM].store.get(request.match_info["uuid"])
    if customer is None:
        return control_error("no such customer", 404)
    return json_response(customer)


@routes.get("/_sim/customers/{uuid}/primary_contact")
async def get_primary_contact(request: web.Request) -> web.Response:
    """The contact PATCH `primary_contact` kept: the real API shows it only in the Contacts API."""
    contact = request.app[SIM].store.contacts.get(request.match_info["uuid"])
    if contact is None:
        return control_error("no primary contact for this customer", 404)
    return json_response(contact)


@routes.post("/_sim/data_sources")
async def add_data_source(request: web.Request) -> web.Response:
    """`{"name", "uuid"?}`: a data source the account has (the API's POST makes one too)."""
    doc = await _json(request)
    name = doc.get("name") if isinstance(doc, dict) else None
    uuid = doc.get("uuid") if isinstance(doc, dict) else None
    if not isinstance(name, str) or (uuid is not None and not isinstance(uuid, str)):
        return control_error('a data source needs a "name" (and, optionally, a "uuid")')
    try:
        source = request.app[SIM].store.add_data_source(name, uuid=uuid)
    except InvalidSetup as exc:
        return control_error(str(exc))
    return json_response(source, status=201)


@routes.get("/_sim/data_sources")
async def list_data_sources(request: web.Request) -> web.Response:
    return json_response(list(request.app[SIM].store.data_sources.values()))


@routes.post("/_sim/users")
async def add_user(request: web.Request) -> web.Response:
    doc = await _json(request)
    email = doc.get("email") if isinstance(doc, dict) else None
    if not isinstance(email, str) or not email:
        return control_error('a user needs an "email"')
    request.app[SIM].store.add_user(email)
    return json_response({"email": email}, status=201)


@routes.post("/_sim/custom_attributes")
async def add_custom_attribute(request: web.Request) -> web.Response:
    doc = await _json(request)
    key = doc.get("key") if isinstance(doc, dict) else None
    type_ = doc.get("type", "String") if isinstance(doc, dict) else None
    if not isinstance(key, str) or not key:
        return control_error('a custom attribute needs a "key"')
    try:
        request.app[SIM].store.add_custom_attribute(key, str(type_))
    except InvalidSetup as exc:
        return control_error(str(exc))
    return json_response({"key": key, "type": type_}, status=201)


@routes.get("/_sim/requests")
async def request_log(request: web.Request) -> web.Response:
    return json_response(list(request.app[SIM].store.requests))


@routes.get("/_sim/faults")
async def get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[SIM].faults.to_json())


@routes.post("/_sim/faults")
async def set_faults(request: web.Request) -> web.Response:
    """Replaces the fault settings as a whole; settings left out go back to no fault."""
    sim = request.app[SIM]
    try:
        sim.faults = Faults.from_json(await _json(request))
    except InvalidSetup as exc:
        return control_error(str(exc))
    return json_response(sim.faults.to_json())


@routes.delete("/_sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    sim.faults = Faults()
    return json_response(sim.faults.to_json())


@routes.get("/_sim/behaviour")
async def get_behaviour(request: web.Request) -> web.Response:
    return json_response(request.app[SIM].behaviour.to_json())


@routes.post("/_sim/behaviour")
async def set_behaviour(request: web.Request) -> web.Response:
    """Sets the switches given (behaviour.py); the others keep their value. Answers all of them."""
    sim = request.app[SIM]
    try:
        sim.behaviour = sim.behaviour.updated(await _json(request))
    except InvalidSetup as exc:
        return control_error(str(exc))
    return json_response(sim.behaviour.to_json())


@routes.post("/_sim/reset")
async def reset(request: web.Request) -> web.Response:
    """Customers, data sources (but the default one), users, custom attributes, the request log,
    faults, the rate limit window, and the behaviour switches back to the ones the simulator
    started with."""
    request.app[SIM].reset()
    return json_response({"reset": True})


async def _json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=orjson.dumps({"error": "body is not valid JSON"}).decode(), content_type="application/json"
        ) from exc
