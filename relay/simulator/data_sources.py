"""The data source routes (`/v1/data_sources...`): the sources customers are created under.

Answered as recorded (chartmogul-ruby, 2025): a list is `{"data_sources": [...]}`, an unknown
uuid is 404 `{"error": "Data source not found"}`, a missing or taken name is 422
`{"errors": {"name": ...}}`.
"""

from __future__ import annotations

from aiohttp import web

from relay.simulator.customers import InvalidSetup
from relay.simulator.responses import json_response
from relay.simulator.state import BODY, SIM

routes = web.RouteTableDef()


@routes.get("/v1/data_sources")
async def list_data_sources(request: web.Request) -> web.Response:
    """Filters: name, system (as ChartMogul's)."""
    wanted = {key: request.query[key] for key in ("name", "system") if key in request.query}
    sources = [
        source
        for source in request.app[SIM].store.data_sources.values()
        if all(source[key] == value for key, value in wanted.items())
    ]
    return json_response({"data_sources": sources})


@routes.get("/v1/data_sources/{uuid}")
async def get_data_source(request: web.Request) -> web.Response:
    source = request.app[SIM].store.data_sources.get(request.match_info["uuid"])
    if source is None:
        return json_response({"error": "Data source not found"}, status=404)  # as recorded
    return json_response(source)


@routes.post("/v1/data_sources")
async def add_data_source(request: web.Request) -> web.Response:
    body = request[BODY].value
    name = body.get("name") if isinstance(body, dict) else None
    try:
        source = request.app[SIM].store.add_data_source(name if isinstance(name, str) else "")
    except InvalidSetup as exc:
        return json_response({"errors": {"name": str(exc)}}, status=422)  # as recorded
    return json_response(source, status=201)
