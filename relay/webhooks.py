"""POST /webhooks/{source}[/{token}]: verify, parse, make durable in Redis, answer.

The one path every CRM request takes, so it is a pure ASGI middleware in front of Starlette's
router rather than a route: a request here skips the exception middleware, the routing, and the
Request and Response objects (~20 µs of a ~30 µs bare-Starlette request, measured with wrk).
Every other request passes through to Starlette; another method on these paths is a 405.
An unexpected exception still reaches Starlette's outermost middleware, whose handler logs it
and answers 500 (relay/app.py `internal_error`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import orjson
from starlette.datastructures import URL
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from relay import metrics
from relay.appstate import AppState
from relay.body import read_body
from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import (
    NotReplicated,
    QueueUnavailable,
    SourceDisabled,
    StoreFailed,
    StoreRejected,
    StoreUnavailable,
    WebhookError,
)
from relay.logs import get_logger
from relay.settings import Settings
from relay.sources import WebhookSource
from relay.store import Accepted

log = get_logger("relay.web")

PREFIX = "/webhooks/"
# Bodies up to this are verified and parsed on the event loop (at most a few ms, and most real
# webhooks are this small); larger ones in the parser thread. One thread: parsing is CPU work
# under the GIL, so more threads would not parse faster, only make the event loop wait longer
# for the GIL (each thread holds it up to 5 ms at a time).
INLINE_PARSE_BYTES = 4096
_PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-parse")
_JSON_HEADERS = [(b"content-type", b"application/json")]
# A one-event webhook's answer: what became of its event (each one is recorded: 2xx).
_SINGLE_STATUS = {
    Accepted.QUEUED: "accepted",
    Accepted.READY: "accepted",
    Accepted.IGNORED: "ignored",
    Accepted.DEAD_LETTERED: "dead_lettered",
    Accepted.DUPLICATE: "duplicate",
    Accepted.CONFLICTING_DUPLICATE: "duplicate",
}


class WebhookEndpoint:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope) if scope["type"] == "http" else ""
        name, _, token = path[len(PREFIX) :].partition("/") if path.startswith(PREFIX) else ("", "", "")
        if not name or "/" in token:  # not /webhooks/{source}[/{token}]: Starlette's (404)
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _json({"error": "webhooks are sent with POST"}, 405, allow="POST")(scope, receive, send)
            return
        state: AppState = scope["app"].state.relay
        try:
            response = await receive_webhook(scope, receive, state, name, token or None)
        except ClientDisconnect:  # the client went away mid-upload: nobody reads an answer
            log.info("client_disconnected", path=logged_path(path, token), method="POST")
            response = _json({"error": "client disconnected"}, 400)
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path without the app's root_path, as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def logged_path(path: str, token: str) -> str:
    """The path as logs show it: a webhook path token (Salesforce's) is a secret."""
    return path.rpartition("/")[0] + "/<token>" if token else path


# What a webhook is answered with: a source's own Response, or a JSON answer.
Answer = Callable[[Scope, Receive, Send], Awaitable[None]]


class _JSONAnswer:
    """A JSON answer sent as its two ASGI messages, without a Response object."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, content: object, status: int, extra: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.body = orjson.dumps(content)
        self.headers = [*_JSON_HEADERS, (b"content-length", str(len(self.body)).encode()), *extra]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def _json(content: object, status: int, close: bool = False, allow: str | None = None) -> Answer:
    extra = [(b"connection", b"close")] if close else [(b"allow", allow.encode())] if allow else []
    return _JSONAnswer(content, status, extra)


async def receive_webhook(
    scope: Scope, receive: Receive, state: AppState, name: str, token: str | None
) -> Answer:
    source = state.sources.get(name)
    metrics.record_webhook(name)
    try:
        if source is None:
            why = "is not configured (its secret is not set)" if name in state.known_sources else "is unknown"
            raise SourceDisabled(f"source {name!r} {why}")
        if not source.accepts_path(token):  # Salesforce's path token
            raise SourceDisabled("no webhook endpoint at this path")
        return await accept_webhook(scope, receive, state, source)
    except WebhookError as exc:
        metrics.record_rejected(name, exc)
        state.traffic.count(metrics.source_label(name), "refused")
        log.info("webhook_refused", source=name, status=exc.status_code, reason=exc.message)
        custom = source.error_response(exc) if source is not None else None
        if custom is None:
            return _json({"error": exc.message}, exc.status_code, close=exc.close_connection)
        if exc.close_connection:  # the rest of the body is unread: do not wait for it
            custom.headers["connection"] = "close"
        return custom


async def accept_webhook(scope: Scope, receive: Receive, state: AppState, source: WebhookSource) -> Answer:
    settings = state.settings
    raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
    webhook = IncomingWebhook(
        method="POST",
        url=public_url(scope, settings) if source.signs_url else "",
        headers=webhook_headers(raw_headers, source.header_names_raw),
        body=await read_body(
            receive,
            _content_length(raw_headers),
            limit=settings.max_body_bytes,
            timeout_s=settings.body_timeout_s,
        ),
    )
    if len(webhook.body) > INLINE_PARSE_BYTES:
        # Parsing within the limits (relay/sources/limits.py) still costs up to tens of ms for
        # a large body: off the event loop, so /healthz and small webhooks do not wait for it.
        loop = asyncio.get_running_loop()
        events = await loop.run_in_executor(_PARSER, source.verify_and_parse, webhook)
    else:
        events = source.verify_and_parse(webhook)
    results = await store_events(state, source, events)
    if Accepted.READY in results:
        state.waker.wake()
    if Accepted.DEAD_LETTERED in results:
        log_dead_letters(source.name, events, results)
    conflicting = results.count(Accepted.CONFLICTING_DUPLICATE)
    duplicates = results.count(Accepted.DUPLICATE) + conflicting
    # A line per event cost ~15 µs of a ~130 µs request: at INFO, `webhooks_accepted` says each
    # second how many per source (the event log in Redis has every event: `relay events`).
    for event, result in zip(events, results, strict=True) if log.is_enabled_for(logging.DEBUG) else ():
        log.debug(
            "event_duplicate" if result.is_duplicate else "event_accepted",
            event_id=event.change.event_id,
            source=source.name,
            customer_uuid=event.change.customer.key,
        )
    state.accepted.add(source.name, requests=1, events=len(events), duplicates=duplicates)
    state.traffic.count(source.name, "accepted")
    metrics.record_accepted(
        source.name, accepted=len(results) - duplicates, duplicates=duplicates, conflicting=conflicting
    )
    custom = source.accepted_response(events, duplicates)
    if custom is not None:
        return custom
    if len(events) == 1:
        status = _SINGLE_STATUS[results[0]]
        return _json({"status": status, "event_id": events[0].change.event_id}, 200 if duplicates else 202)
    ignored = results.count(Accepted.IGNORED)
    dead = results.count(Accepted.DEAD_LETTERED)
    counts = {
        "status": "accepted",
        "accepted": len(results) - duplicates - ignored - dead,
        "duplicates": duplicates,
        "ignored": ignored,
        "dead_lettered": dead,
    }
    return _json(counts, 202)


def log_dead_letters(source: str, events: list[ParsedEvent], results: list[Accepted]) -> None:
    """A line for each event dead-lettered on arrival, as a worker logs its dead letters."""
    for event, result in zip(events, results, strict=True):
        if result is Accepted.DEAD_LETTERED:
            log.warning(
                "event_dead_lettered",
                event_id=event.change.event_id,
                source=source,
                reason="invalid_event",
                error=event.invalid,
            )


async def store_events(state: AppState, source: WebhookSource, events: list[ParsedEvent]) -> list[Accepted]:
    """The events made durable (their accept answers), or the WebhookError the CRM is told."""
    try:
        return await state.store.ledger.accept_many(events)
    except NotReplicated as exc:
        # Recorded on the primary but not confirmed on the replicas: the CRM's retry will be a
        # duplicate, answered 2xx once the replicas confirm it.
        log.error("write_not_replicated", replicas=exc.acked, wanted=exc.wanted, source=source.name)
        raise QueueUnavailable("the write is not yet on enough Redis replicas; retry later") from None
    except StoreUnavailable as exc:
        log.error("redis_unavailable", error=exc.cause, source=source.name)
        raise QueueUnavailable("the queue is unavailable; retry later") from None
    except StoreRejected as exc:
        # Redis is up but the accept script failed (e.g. a key of another type): our bug or a
        # damaged database, not an outage. The script checks before it writes: nothing is stored.
        log.error("accept_script_failed", error=exc.message, source=source.name, events=len(events))
        raise StoreFailed(
            "the relay could not store the events (its accept script failed); nothing was stored"
        ) from None


def public_url(scope: Scope, settings: Settings) -> str:
    """The URL as the CRM addressed it; behind a proxy, RELAY_PUBLIC_BASE_URL says the origin."""
    url = URL(scope=scope)
    if settings.public_base_url:
        path = url.path + (f"?{url.query}" if url.query else "")
        return settings.public_base_url.rstrip("/") + path
    return str(url)


def webhook_headers(raw: list[tuple[bytes, bytes]], names: frozenset[bytes] | None) -> dict[str, str]:
    """The headers the source reads (all of them if it does not say), names lower-case as ASGI
    delivers them: no per-request copy of every header. The first of repeated headers wins."""
    found: dict[str, str] = {}
    for name, value in raw:
        if names is None or name in names:
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _content_length(raw: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in raw:
        if name == b"content-length":
            return value.decode("latin-1")
    return None
