"""What every API request (`/v1/...`) passes before its handler, in this order:

1. logged (method, path, query, JSON body, Idempotency-Key; never the Authorization header);
2. the parallel-connection cap (503 past `max_connections` in flight);
3. the injected latency (`latency_ms`; faults limited to one `only` route apply to it alone);
4. HTTP Basic auth (401);
5. the rate limit (429);
6. injected faults: `timeout_rate` never answers, `rate` answers `status`;
7. the handler; router errors (404/405) and crashes become ChartMogul-shaped errors; the answer
   waits `answer_latency_ms` more (the request has taken effect).

Control endpoints (`/_sim/...`) skip all of it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from relay.simulator.faults import Faults
from relay.simulator.responses import TOO_MANY_CONNECTIONS_MESSAGE, error_response
from relay.simulator.state import BODY, SIM, Body, SimState
from relay.simulator.values import now_iso

API_PREFIX = "/v1/"
# A request chosen to time out is held this long at most (far past any sane client timeout),
# checking every HOLD_POLL_S whether its client went away; server shutdown lets it go at once.
HOLD_S = 60.0
HOLD_POLL_S = 0.2
NO_FAULTS = Faults()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

logger = logging.getLogger(__name__)


@web.middleware
async def api_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    sim = request.app[SIM]
    body = await _read_body(request)
    request[BODY] = body
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "status": None,
        "body": body.value,
        "idempotency_key": request.headers.get("Idempotency-Key"),
        "at": now_iso(),
    }
    sim.store.log_request(entry)
    response: web.StreamResponse
    if not sim.cap.enter():
        response = error_response(503, TOO_MANY_CONNECTIONS_MESSAGE.format(limit=sim.cap.limit))
        entry["status"] = response.status
        return response
    try:
        response, answered = await _serve(request, handler, sim)
    finally:
        sim.cap.leave()
    if answered:
        entry["status"] = response.status
    return response


async def _serve(request: web.Request, handler: Handler, sim: SimState) -> tuple[web.StreamResponse, bool]:
    """The response, and False when the request is one chosen never to be answered."""
    faults = sim.faults if sim.faults.applies_to(request.method, request.path) else NO_FAULTS
    if faults.latency_ms > 0:
        await asyncio.sleep(faults.latency_ms / 1000)
    if not _authorized(request, sim.api_key):
        return error_response(401), True
    if not sim.limiter.allow(sim.api_key):
        return error_response(429), True
    if sim.dice.times_out(faults):
        await _hold(request, sim)
        # Reached only once the client left, the hold ran out, or the server stops.
        return error_response(504), False
    failure = sim.dice.failure(faults)
    if failure is not None:
        return error_response(failure, headers=faults.retry_after_header()), True
    try:
        response = await handler(request)
        if faults.answer_latency_ms > 0:  # it took effect; the answer comes late
            await asyncio.sleep(faults.answer_latency_ms / 1000)
        return response, True
    except web.HTTPException as exc:
        return error_response(exc.status, f"{exc.reason}: {request.method} {request.path}"), True
    except Exception:
        logger.exception("simulator handler failed for %s %s", request.method, request.path)
        return error_response(500), True


def _authorized(request: web.Request, api_key: str) -> bool:
    """HTTP Basic with the API key as user name and an empty password.

    Decoded here rather than with aiohttp's BasicAuth, which aiohttp 3.14 deprecates.
    """
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        credentials = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        return False
    login, colon, password = credentials.partition(b":")
    return bool(colon) and hmac.compare_digest(login, api_key.encode()) and password == b""


async def _read_body(request: web.Request) -> Body:
    raw = await request.read()
    if not raw.strip():
        return Body()
    try:
        return Body(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return Body(is_invalid_json=True)


async def _hold(request: web.Request, sim: SimState) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HOLD_S
    while loop.time() < deadline and not sim.stopping.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sim.stopping.wait(), timeout=HOLD_POLL_S)
