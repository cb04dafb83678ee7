"""The overview (/console): what waits and for how long, the circuit, the rate limit's use,
the workers, and the last hour's webhooks per source. `/console/overview/live` answers the
same numbers as a fragment, which the page's script swaps in every few seconds."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from relay.admin import state
from relay.admin.advice import step_for
from relay.console.pages import fragment, handler, page, relay

REFRESH_S = 5


async def numbers(request: Request) -> dict[str, Any]:
    app = relay(request)
    snapshot = await state.snapshot(app.store, app.queue)
    traffic = await app.store.traffic.last(minutes=60)
    settings = app.settings
    return {
        "state": snapshot,
        "traffic": sorted(traffic.items()),
        "rate_limit_per_s": settings.rate_limit_per_s,
        "max_connections": settings.max_connections,
        "reasons": sorted(
            (reason, count, step_for(reason)) for reason, count in snapshot.dlq_by_reason.items()
        ),
        "refresh_s": REFRESH_S,
    }


@handler
async def overview(request: Request) -> Response:
    return page(request, "overview.html", nav="overview", **await numbers(request))


@handler
async def live(request: Request) -> Response:
    return fragment(request, "overview_live.html", **await numbers(request))
