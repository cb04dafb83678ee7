"""One customer (/console/customers/{key}): its events across sources and keys, newest first,
each with why it is where it is; the CRM records linked to it; and, on demand (`?live=1`),
what ChartMogul holds for it now, read through the fleet's rate limit."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from relay.admin import customers
from relay.cli.api import chartmogul_client
from relay.console import views
from relay.console.pages import handler, page, relay
from relay.contract import TOP_LEVEL_KEYS
from relay.exceptions import DeliveryError
from relay.settings import MissingSetting

PAGE_SIZE = 50


async def read_chartmogul(request: Request, uuid: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the customer's current values, None) or (None, why they could not be read)."""
    app = relay(request)
    try:
        async with chartmogul_client(app.settings, app.store) as client:
            found = await client.get_customer(uuid)
    except DeliveryError as exc:
        return None, str(exc)
    except MissingSetting as exc:
        return None, str(exc)
    fields = {
        name: found.get(name) for name in TOP_LEVEL_KEYS if name not in ("attributes", "primary_contact")
    }
    attributes = found.get("attributes")
    if not isinstance(attributes, dict):
        attributes = {}
    return {
        "fields": fields,
        "tags": attributes.get("tags") or [],
        "custom": attributes.get("custom") or {},
        "extra": {k: found.get(k) for k in ("external_id", "data_source_uuid", "mrr", "arr") if k in found},
    }, None


@handler
async def customer(request: Request) -> Response:
    store = relay(request).store
    found = await customers.find_customer(store, request.path_params["key"])
    cursor = request.query_params.get("cursor") or None
    events = await customers.timeline(store, found, limit=PAGE_SIZE, cursor=cursor)
    rows = [
        (record, views.fields_touched(record), await customers.why(store, record))
        for record in events.records
    ]
    current: dict[str, Any] | None = None
    read_error: str | None = None
    asked = request.query_params.get("live") == "1"
    if asked and found.uuid:
        current, read_error = await read_chartmogul(request, found.uuid)
    return page(
        request,
        "customer.html",
        nav="events",
        customer=found,
        rows=rows,
        next_cursor=events.next_cursor,
        first_page=cursor is None,
        asked=asked,
        current=current,
        read_error=read_error,
    )
