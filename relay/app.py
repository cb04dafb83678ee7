"""The web app: receives CRM webhooks, makes them durable in Redis, answers in milliseconds."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp

from relay import metrics, webhooks
from relay.admin import api as admin_api
from relay.admin import state as admin_state
from relay.admin.auth import RequireAdminToken
from relay.admin.auth import check as check_token
from relay.admin.browser import BrowserGuard
from relay.admin.redaction import Redactor
from relay.appstate import AppState, app_state
from relay.console import console_routes
from relay.exceptions import StoreUnavailable, WebhookError
from relay.logs import get_logger, mark_logged
from relay.queue import Waker, read_workers, relay_queue, rq_connection
from relay.settings import Settings, get_settings, redacted_url
from relay.sources import source_catalog
from relay.store import Store
from relay.store.traffic import TrafficTally

log = get_logger("relay.web")


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
    except StoreUnavailable as exc:
        checks["redis"] = f"unreachable: {exc.cause}"
    if "workers" in wanted:
        try:
            workers = await run_in_threadpool(read_workers, state.queue)
            checks["workers"] = "ok" if workers else "no worker heartbeat on the queue"
        except StoreUnavailable as exc:
            checks["workers"] = f"unknown: {exc.cause}"
    if "circuit" in wanted:
        try:
            is_open = await state.store.circuit.is_open()
            checks["circuit"] = "open: ChartMogul refused the API key" if is_open else "ok"
        except StoreUnavailable as exc:
            checks["circuit"] = f"unknown: {exc.cause}"
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
    except StoreUnavailable as exc:
        log.warning("metrics_state_unavailable", error=exc.cause)
        snapshot = None
    body = await run_in_threadpool(metrics.exposition, snapshot)
    return Response(body, media_type=metrics.CONTENT_TYPE)


def admin_routes(settings: Settings, dashboard: ASGIApp | None) -> list[BaseRoute]:
    """/admin, /dashboard and /console exist only with an admin token (else 404, not open), and refuse
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
        routes += console_routes(settings)
    if token is not None or not settings.metrics_require_auth:
        routes.append(Route("/metrics", metrics_endpoint))
    return routes


def logged_path(request: Request) -> str:
    """The path as logs show it (a webhook path token, Salesforce's, is a secret)."""
    return webhooks.logged_path(request.url.path, request.path_params.get("token", ""))


async def webhook_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebhookError)
    log.info("request_refused", status=exc.status_code, reason=exc.message, path=logged_path(request))
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


def settle_gc() -> None:
    """Once started: what start-up built (modules, mapping plans, settings) moves to the
    permanent generation, which no collection walks again, and young collections run every
    50,000 allocations instead of every 700. A webhook's objects are freed by reference
    counting as it is answered; only cycles wait for a collection, and none is on that path."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    catalog = source_catalog(settings)
    sources = catalog.enabled
    metrics.declare_sources(catalog.declared)
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
            dlq_ttl_s=settings.dlq_ttl_s,
            dlq_mirror_queue=settings.queue_name,
            replica_acks=settings.redis_replica_acks,
            replica_ack_timeout_ms=settings.redis_replica_ack_timeout_ms,
        )
        try:
            await store.migrate()
        except StoreUnavailable as exc:
            # Start anyway: webhooks are answered 503 (the CRMs retry) until Redis answers.
            log.warning(
                "redis_unavailable_at_start",
                redis_url=redacted_url(settings.redis_url),
                error=exc.cause,
                action="webhooks get 503 until Redis answers; check RELAY_REDIS_URL and Redis itself",
            )
        rq_redis = rq_connection(settings.redis_url)
        app.state.redactor = Redactor.from_settings(settings)
        queue = relay_queue(rq_redis, settings.queue_name)
        app.state.relay = state = AppState(
            settings=settings,
            sources=sources,
            known_sources=frozenset(catalog.known),
            store=store,
            queue=queue,
            waker=Waker(queue),
            traffic=TrafficTally(store.traffic),
        )
        settle_gc()
        log.info(
            "web_started",
            sources_enabled=sorted(sources),
            sources_disabled=sorted(set(catalog.known) - set(sources)),
            sources_declared=list(catalog.declared),
        )
        for path, problems in catalog.problems.items():  # not served (no secret is set for them)
            log.warning("declared_source_unusable", file=path, problems=problems)
        try:
            yield
        finally:
            state.accepted.flush()
            commits = store.ledger.commit.stats
            log.info(
                "web_stopped",
                accept_requests=commits.requests,
                accept_round_trips=commits.round_trips,
                accept_largest_round_trip=commits.largest,
            )
            await state.waker.aclose()
            await state.traffic.aclose()
            await store.aclose()
            rq_redis.close()
            if dashboard is not None:
                dashboard.close()

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *admin_routes(settings, dashboard.app if dashboard else None),
        ],
        # POST /webhooks/… is answered in front of the router (relay/webhooks.py).
        middleware=[Middleware(webhooks.WebhookEndpoint)],
        exception_handlers={
            WebhookError: webhook_error,
            ClientDisconnect: client_disconnected,
            Exception: internal_error,
        },
        lifespan=lifespan,
    )
