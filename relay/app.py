"""The web app: receives CRM webhooks, makes them durable in Redis, answers in milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import redis
from redis.exceptions import MasterDownError, OutOfMemoryError, ReadOnlyError, ResponseError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp

from relay import metrics
from relay.admin import api as admin_api
from relay.admin import state as admin_state
from relay.admin.auth import RequireAdminToken
from relay.admin.auth import check as check_token
from relay.admin.browser import BrowserGuard
from relay.admin.redaction import Redactor
from relay.appstate import AppState, app_state
from relay.body import read_body
from relay.events import IncomingWebhook
from relay.exceptions import NotReplicated, QueueUnavailable, SourceDisabled, StoreFailed, WebhookError
from relay.logs import get_logger, mark_logged
from relay.queue import Waker, read_workers, relay_queue, rq_connection
from relay.settings import Settings, get_settings
from relay.sources import KNOWN_SOURCES, WebhookSource, enabled_sources
from relay.store import Accepted, Store

log = get_logger("relay.web")

# Bodies up to this are verified and parsed on the event loop (at most a few ms, and most real
# webhooks are this small); larger ones in the parser thread. One thread: parsing is CPU work
# under the GIL, so more threads would not parse faster, only make the event loop wait longer
# for the GIL (each thread holds it up to 5 ms at a time).
INLINE_PARSE_BYTES = 4096
_PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-parse")


def public_url(request: Request, settings: Settings) -> str:
    """The URL as the CRM addressed it; behind a proxy, RELAY_PUBLIC_BASE_URL says the origin."""
    if settings.public_base_url:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return settings.public_base_url.rstrip("/") + path
    return str(request.url)


def webhook_headers(request: Request, names: frozenset[str] | None) -> dict[str, str]:
    """The headers the source reads (all of them if it does not say), names lower-case as ASGI
    delivers them: no per-request copy of every header."""
    if names is None:
        return dict(request.headers.items())
    found: dict[str, str] = {}
    for raw, value in request.scope["headers"]:
        name = raw.decode("latin-1")
        if name in names and name not in found:  # the first of repeated headers, as Headers.get
            found[name] = value.decode("latin-1")
    return found


async def receive_webhook(request: Request) -> Response:
    state = app_state(request)
    name = request.path_params["source"]
    source = state.sources.get(name)
    metrics.record_webhook(name)
    if source is None:
        why = "is not configured (its secret is not set)" if name in KNOWN_SOURCES else "is unknown"
        metrics.record_rejected(name, "source_disabled")
        raise SourceDisabled(f"source {name!r} {why}")
    if not source.accepts_path(request.path_params.get("token")):  # Salesforce's path token
        metrics.record_rejected(name, "source_disabled")
        raise SourceDisabled("no webhook endpoint at this path")
    try:
        return await accept_webhook(request, state, source)
    except WebhookError as exc:
        metrics.record_rejected(name, exc)
        log.info("webhook_refused", source=name, status=exc.status_code, reason=exc.message)
        response = source.error_response(exc) or JSONResponse(
            {"error": exc.message}, status_code=exc.status_code
        )
        if exc.close_connection:  # the rest of the body is unread: do not wait for it
            response.headers["connection"] = "close"
        return response


async def accept_webhook(request: Request, state: AppState, source: WebhookSource) -> Response:
    webhook = IncomingWebhook(
        method=request.method,
        url=public_url(request, state.settings) if source.signs_url else "",
        headers=webhook_headers(request, source.header_names),
        body=await read_body(
            request, limit=state.settings.max_body_bytes, timeout_s=state.settings.body_timeout_s
        ),
    )
    if len(webhook.body) > INLINE_PARSE_BYTES:
        # Parsing within the limits (relay/sources/limits.py) still costs up to tens of ms for
        # a large body: off the event loop, so /healthz and small webhooks do not wait for it.
        loop = asyncio.get_running_loop()
        events = await loop.run_in_executor(_PARSER, source.verify_and_parse, webhook)
    else:
        events = source.verify_and_parse(webhook)
    try:
        results = await state.store.ledger.accept_many(events)
    except NotReplicated as exc:
        # Recorded on the primary but not confirmed on the replicas: the CRM's retry will be a
        # duplicate, answered 2xx once the replicas confirm it.
        log.error("write_not_replicated", replicas=exc.acked, wanted=exc.wanted, source=source.name)
        raise QueueUnavailable("the write is not yet on enough Redis replicas; retry later") from None
    except ResponseError as exc:
        if redis_is_unavailable(exc):
            log.error("redis_unavailable", error=type(exc).__name__, source=source.name)
            raise QueueUnavailable("the queue is unavailable; retry later") from None
        # Redis is up but the accept script failed (e.g. a key of another type): our bug or a
        # damaged database, not an outage. The script checks before it writes: nothing is stored.
        log.error("accept_script_failed", error=str(exc), source=source.name, events=len(events))
        raise StoreFailed(
            "the relay could not store the events (its accept script failed); nothing was stored"
        ) from None
    except (redis.RedisError, OSError) as exc:
        log.error("redis_unavailable", error=type(exc).__name__, source=source.name)
        raise QueueUnavailable("the queue is unavailable; retry later") from None
    if Accepted.READY in results:
        state.waker.wake()
    duplicates = sum(r.is_duplicate for r in results)
    # One line per event is affordable for single events; a 100-event HubSpot batch logs one
    # line per request at INFO (the event log in Redis has every event), the rest at DEBUG.
    per_event = log.info if len(events) == 1 else log.debug
    for event, result in zip(events, results, strict=True):
        per_event(
            "event_duplicate" if result.is_duplicate else "event_accepted",
            event_id=event.change.event_id,
            source=source.name,
            customer_uuid=event.change.customer.key,
        )
    if len(events) > 1:
        log.info("batch_accepted", source=source.name, events=len(events), duplicates=duplicates)
    conflicting = sum(r is Accepted.CONFLICTING_DUPLICATE for r in results)
    metrics.record_accepted(
        source.name, accepted=len(results) - duplicates, duplicates=duplicates, conflicting=conflicting
    )
    custom = source.accepted_response(events, duplicates)
    if custom is not None:
        return custom
    if len(events) == 1:
        status = "duplicate" if duplicates else "accepted"
        return JSONResponse(
            {"status": status, "event_id": events[0].change.event_id}, status_code=200 if duplicates else 202
        )
    return JSONResponse(
        {"status": "accepted", "accepted": len(results) - duplicates, "duplicates": duplicates},
        status_code=202,
    )


def redis_is_unavailable(exc: ResponseError) -> bool:
    """Error replies that mean "not now" (a replica after failover, out of memory, busy, no
    primary): the CRM's retry will succeed. Every other error reply is the script's own."""
    if isinstance(exc, ReadOnlyError | OutOfMemoryError | MasterDownError):
        return True
    return str(exc).startswith(("BUSY", "NOREPLICAS", "MASTERDOWN", "TRYAGAIN", "LOADING"))


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


READINESS_CHECKS = ("redis", "workers", "circuit")


async def readyz(request: Request) -> Response:
    """Ready when Redis answers, a worker heartbeats and the circuit is closed; the body says
    which check failed. `?check=redis` (repeatable) runs only the named checks."""
    state = app_state(request)
    wanted = request.query_params.getlist("check") or list(READINESS_CHECKS)
    unknown = sorted(set(wanted) - set(READINESS_CHECKS))
    if unknown:
        return JSONResponse(
            {"error": f"unknown check(s): {', '.join(unknown)}; use {', '.join(READINESS_CHECKS)}"},
            status_code=400,
        )
    checks: dict[str, str] = {}
    try:
        await state.store.ping()
        checks["redis"] = "ok"
    except (redis.RedisError, OSError) as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    if "workers" in wanted:
        try:
            workers = await run_in_threadpool(read_workers, state.queue)
            checks["workers"] = "ok" if workers else "no worker heartbeat on the queue"
        except (redis.RedisError, OSError) as exc:
            checks["workers"] = f"unknown: {type(exc).__name__}"
    if "circuit" in wanted:
        try:
            is_open = await state.store.circuit.is_open()
            checks["circuit"] = "open: ChartMogul refused the API key" if is_open else "ok"
        except (redis.RedisError, OSError) as exc:
            checks["circuit"] = f"unknown: {type(exc).__name__}"
    checks = {name: result for name, result in checks.items() if name in wanted}
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


async def metrics_endpoint(request: Request) -> Response:
    """Counters of this process, and gauges read from Redis now (relay_redis_up 0 if it is down)."""
    state = app_state(request)
    token = state.settings.admin_token
    if state.settings.metrics_require_auth and token is not None:
        why = check_token(request.scope, token)
        if why is not None:
            return JSONResponse({"error": why}, status_code=401, headers={"www-authenticate": "Bearer"})
    snapshot: admin_state.RelayState | None
    try:
        snapshot = await admin_state.snapshot(state.store, state.queue)
    except (redis.RedisError, OSError) as exc:
        log.warning("metrics_state_unavailable", error=type(exc).__name__)
        snapshot = None
    body = await run_in_threadpool(metrics.exposition, snapshot)
    return Response(body, media_type=metrics.CONTENT_TYPE)


def admin_routes(settings: Settings, dashboard: ASGIApp | None) -> list[BaseRoute]:
    """/admin and /dashboard exist only with an admin token (else 404, not open), and refuse
    framing and cross-origin changes; /metrics asks for the token when
    RELAY_METRICS_REQUIRE_AUTH is on (and is off without a token then)."""
    token = settings.admin_token
    routes: list[BaseRoute] = []
    if token is not None:
        admin = Router(routes=admin_api.routes())
        guard = {"public_base_url": settings.public_base_url}
        routes.append(Mount("/admin", app=BrowserGuard(RequireAdminToken(admin, token=token), **guard)))
        if dashboard is not None:
            app = RequireAdminToken(dashboard, token=token, allow_basic=True)
            routes.append(Mount("/dashboard", app=BrowserGuard(app, **guard)))
    if token is not None or not settings.metrics_require_auth:
        routes.append(Route("/metrics", metrics_endpoint))
    return routes


def logged_path(request: Request) -> str:
    """The path as logs show it: a webhook path token (Salesforce's) is a secret."""
    if "token" in request.path_params:
        return request.url.path.rpartition("/")[0] + "/<token>"
    return request.url.path


async def webhook_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebhookError)
    log.info("webhook_refused", status=exc.status_code, reason=exc.message, path=logged_path(request))
    headers = {"connection": "close"} if exc.close_connection else None
    return JSONResponse({"error": exc.message}, status_code=exc.status_code, headers=headers)


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """The client went away mid-upload: its doing, not an error of ours; nobody reads the answer."""
    log.info("client_disconnected", path=logged_path(request), method=request.method)
    return Response(status_code=400)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("internal_error", path=logged_path(request), error=type(exc).__name__)
    mark_logged(exc)
    return JSONResponse({"error": "internal error"}, status_code=500)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    sources = enabled_sources(settings)
    metrics.zero_web_series()
    dashboard = None
    if settings.admin_token is not None:
        from relay.admin.dashboard import Dashboard

        dashboard = Dashboard(settings.redis_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = Store.from_url(
            settings.redis_url,
            event_ttl_s=settings.event_ttl_s,
            dlq_mirror_queue=settings.queue_name,
            replica_acks=settings.redis_replica_acks,
            replica_ack_timeout_ms=settings.redis_replica_ack_timeout_ms,
        )
        with contextlib.suppress(redis.RedisError, OSError):  # a worker migrates if Redis is down now
            await store.migrate()
        rq_redis = rq_connection(settings.redis_url)
        app.state.redactor = Redactor.from_settings(settings)
        queue = relay_queue(rq_redis, settings.queue_name)
        app.state.relay = state = AppState(
            settings=settings,
            sources=sources,
            store=store,
            queue=queue,
            waker=Waker(queue),
        )
        log.info(
            "web_started",
            sources_enabled=sorted(sources),
            sources_disabled=sorted(set(KNOWN_SOURCES) - set(sources)),
        )
        try:
            yield
        finally:
            commits = store.ledger.commit.stats
            log.info(
                "web_stopped",
                accept_requests=commits.requests,
                accept_round_trips=commits.round_trips,
                accept_largest_round_trip=commits.largest,
            )
            await state.waker.aclose()
            await store.aclose()
            rq_redis.close()
            if dashboard is not None:
                dashboard.close()

    return Starlette(
        routes=[
            Route("/webhooks/{source}", receive_webhook, methods=["POST"]),
            Route("/webhooks/{source}/{token}", receive_webhook, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *admin_routes(settings, dashboard.app if dashboard else None),
        ],
        exception_handlers={
            WebhookError: webhook_error,
            ClientDisconnect: client_disconnected,
            Exception: internal_error,
        },
        lifespan=lifespan,
    )
