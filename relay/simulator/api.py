"""The customer routes the simulator serves (`/v1/ping`, `/v1/customers...`); the gate has already run.

The attribute and contact routes under `/v1/customers/{uuid}/...` are in attributes.py.
"""

from __future__ import annotations

from aiohttp import web

from relay.simulator.creation import CreateRefused, create_customer
from relay.simulator.customers import Customer
from relay.simulator.pages import PageError, PageRequest, page
from relay.simulator.responses import error_response, json_response
from relay.simulator.rules import RuleViolation, apply_update
from relay.simulator.state import BODY, SIM

routes = web.RouteTableDef()


@routes.get("/v1/ping")
async def ping(request: web.Request) -> web.Response:
    return json_response({"data": "pong!"})


@routes.get("/v1/customers")
async def list_customers(request: web.Request) -> web.Response:
    """Filters: external_id, data_source_uuid, email, status; paged by `per_page` and `cursor`."""
    query = request.query
    try:
        wanted = PageRequest.from_query(query)
    except PageError as exc:
        return error_response(400, exc.message, exc.param)
    found = request.app[SIM].store.find(
        external_id=query.get("external_id"),
        data_source_uuid=query.get("data_source_uuid"),
        email=query.get("email"),
        status=query.get("status"),
    )
    return json_response(page(found, wanted))


@routes.post("/v1/customers")
async def add_customer(request: web.Request) -> web.Response:
    """Create a customer under a data source (creation.py has the rules)."""
    sim = request.app[SIM]
    body = request[BODY]
    if body.is_invalid_json:
        return error_response(400, "Request body is not valid JSON")
    try:
        created = create_customer(body.value, sim.store, sim.behaviour)
    except RuleViolation as exc:
        return error_response(exc.status, exc.message, exc.param)
    except CreateRefused as exc:
        return json_response({"errors": exc.errors}, status=422)
    sim.store.put(created.customer, created.contact)
    return json_response(created.customer, status=201)


@routes.get("/v1/customers/search")
async def search_customers(request: web.Request) -> web.Response:
    email = request.query.get("email")
    if not email:
        return error_response(400, 'Parameter "email" is missing', "email")
    try:
        wanted = PageRequest.from_query(request.query)
    except PageError as exc:
        return error_response(400, exc.message, exc.param)
    found = request.app[SIM].store.find(email=email)
    if not found:
        return error_response(404, f'Can\'t find any customers with email: "{email}"', "email")
    return json_response(page(found, wanted, count_pages=False))


@routes.get("/v1/customers/{uuid}")
async def get_customer(request: web.Request) -> web.Response:
    customer = find_customer(request)
    if customer is None:
        return customer_not_found(request)
    return json_response(customer)


@routes.patch("/v1/customers/{uuid}")
async def update_customer(request: web.Request) -> web.Response:
    sim = request.app[SIM]
    customer = find_customer(request)
    if customer is None:
        return customer_not_found(request)
    body = request[BODY]
    if body.is_invalid_json:
        return error_response(400, "Request body is not valid JSON")
    try:
        applied = apply_update(customer, body.value, sim.store, sim.behaviour)
    except RuleViolation as exc:
        return error_response(exc.status, exc.message, exc.param)
    sim.store.put(applied.customer, applied.contact)
    return json_response(applied.customer)


def find_customer(request: web.Request) -> Customer | None:
    return request.app[SIM].store.get(request.match_info["uuid"])


def customer_not_found(request: web.Request) -> web.Response:
    uuid = request.match_info["uuid"]
    return error_response(404, f'Customer "{uuid}" not found', "customer_uuid")
