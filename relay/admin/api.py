"""The /admin HTTP API (behind the admin token; see relay/admin/auth.py).

    GET  /admin/status                      queues, workers, circuit, rate limits, DLQ by reason
    GET  /admin/events?customer=&status=&source=&since=&until=&limit=&cursor=
    GET  /admin/events/{id}                 the record (change, patch, CRM payload) and its history
    GET  /admin/dlq?source=&reason=&status=&customer=&since=&until=&limit=&cursor=
    GET  /admin/dlq/{id}
    POST /admin/dlq/replay   {"ids": [...]} or {"filter": {...}}, "dry_run", "as_stored", "remap",
                             "force", "limit" (an edited dead letter is sent as edited unless "remap")
    POST /admin/dlq/purge    {"ids": [...]} or {"filter": {...}}, "dry_run", "limit"
    PUT  /admin/dlq/{id}/change  {"set": {"fields.owner": "ann@acme.com"}, "unset": [...]}
                                 or {"change": {...}}

Times (since, until) are durations ago ("1h", "30m", "7d"), "now", a time today on the server's
clock ("10:05") or ISO 8601. An {id} may be the dashboard's job id of a dead letter (dlq-…). A
dead letter's record carries `next_step`: what happened, what to do, and the command. `status` on /dlq is
ChartMogul's HTTP status; on /events the event's status. Lists are newest first; pass
`next_cursor` back as `cursor` for the next page. Bad input answers 400/422 with
{"error": "..."}; Redis unreachable answers 503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay.admin import actions, queries, state
from relay.admin.redaction import Redactor
from relay.appstate import AppState, app_state
from relay.body import read_body
from relay.exceptions import StoreUnavailable, WebhookError
from relay.logs import get_logger
from relay.queue import wake
from relay.store import EventStatus

log = get_logger("relay.admin")

MAX_BODY_BYTES = 256 * 1024
BULK_LIMIT = 1000
EventId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Handler = Callable[[Request], Awaitable[Response]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class BulkBody(_Body):
    ids: list[EventId] | None = Field(default=None, min_length=1, max_length=BULK_LIMIT)
    filter: dict[str, str | int | None] | None = None
    dry_run: bool = False
    limit: int = Field(default=BULK_LIMIT, ge=1, le=10 * BULK_LIMIT)


class ReplayBody(BulkBody):
    as_stored: bool = False
    force: bool = False
    remap: bool = False  # re-map edited dead letters too (else they are sent as edited)


class EditBody(_Body):
    set: dict[str, Any] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)
    change: dict[str, Any] | None = None


class BadRequest(Exception):
    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def _json(request: Request, doc: Any, status_code: int = 200) -> Response:
    redactor: Redactor = request.app.state.redactor
    return Response(
        redactor.bytes(orjson.dumps(doc)),
        status_code=status_code,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


def _error(request: Request, message: str, status_code: int) -> Response:
    return _json(request, {"error": message}, status_code)


def handler(func: Handler) -> Handler:
    """Bad input → 400/413/422 with the reason, a slow body 408; Redis down → 503; nothing else
    is caught here."""

    async def wrapped(request: Request) -> Response:
        try:
            return await func(request)
        except (queries.QueryError, BadRequest) as exc:
            status_code = exc.status_code if isinstance(exc, BadRequest) else 400
            return _error(request, str(exc), status_code)
        except WebhookError as exc:  # the body: too large (413) or too slow (408)
            response = _error(request, exc.message, exc.status_code)
            if exc.close_connection:
                response.headers["connection"] = "close"
            return response
        except StoreUnavailable as exc:
            log.error("admin_redis_unavailable", error=exc.cause, path=request.url.path)
            return _error(request, "Redis is unavailable; retry later", 503)

    return wrapped


def _params(request: Request, allowed: set[str]) -> dict[str, str]:
    params = dict(request.query_params)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise queries.QueryError(
            f"unknown parameter(s): {', '.join(unknown)}; use {', '.join(sorted(allowed))}"
        )
    return params


async def _body(request: Request, model: type[_Body]) -> Any:
    data = await read_body(
        request.receive,
        request.headers.get("content-length"),
        limit=MAX_BODY_BYTES,
        timeout_s=app_state(request).settings.body_timeout_s,
    )
    try:
        doc = orjson.loads(data or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise BadRequest(problems, 422) from None


# --- handlers ---------------------------------------------------------------------------


@handler
async def status(request: Request) -> Response:
    _params(request, set())
    relay = app_state(request)
    snapshot = await state.snapshot(relay.store, relay.queue)
    return _json(request, snapshot.public())


@handler
async def events(request: Request) -> Response:
    p = _params(request, {"customer", "status", "source", "since", "until", "limit", "cursor"})
    query = queries.EventFilter.parse(
        customer=p.get("customer"),
        status=p.get("status"),
        source=p.get("source"),
        since=p.get("since"),
        until=p.get("until"),
        sources=queries.event_sources(app_state(request).known_sources),
    )
    page = await queries.list_events(
        app_state(request).store, query, limit=queries.parse_limit(p.get("limit")), cursor=p.get("cursor")
    )
    return _json(request, queries.page_public(page, "events"))


@handler
async def event(request: Request) -> Response:
    _params(request, set())
    store = app_state(request).store
    detail = await queries.event_detail(
        store, await queries.resolve_id(store, request.path_params["event_id"])
    )
    if detail is None:
        return _error(request, "no such event (unknown, or its record has expired)", 404)
    return _json(request, detail)


@handler
async def dead_letters(request: Request) -> Response:
    p = _params(request, {"source", "reason", "status", "customer", "since", "until", "limit", "cursor"})
    query = queries.DeadLetterFilter.parse(
        source=p.get("source"),
        reason=p.get("reason"),
        status=p.get("status"),
        customer=p.get("customer"),
        since=p.get("since"),
        until=p.get("until"),
        sources=queries.event_sources(app_state(request).known_sources),
    )
    store = app_state(request).store
    page = await queries.list_dead_letters(
        store, query, limit=queries.parse_limit(p.get("limit")), cursor=p.get("cursor")
    )
    total = await store.ledger.dead_letter_total()
    return _json(request, {**queries.page_public(page, "dead_letters"), "total": total})


@handler
async def dead_letter(request: Request) -> Response:
    _params(request, set())
    store = app_state(request).store
    detail = await queries.event_detail(
        store, await queries.resolve_id(store, request.path_params["event_id"])
    )
    if detail is None or detail["event"]["status"] != EventStatus.DEAD:
        return _error(request, "not in the dead-letter queue", 404)
    return _json(request, detail)


async def _selected(relay: AppState, body: BulkBody) -> list[str]:
    if (body.ids is None) == (body.filter is None):
        raise BadRequest('give either "ids" or "filter" ({} matches every dead letter)')
    if body.ids is not None:
        return (await queries.resolve_ids(relay.store, body.ids))[: body.limit]
    sources = queries.event_sources(relay.known_sources)
    query = queries.DeadLetterFilter.from_document(body.filter, sources=sources)
    records = await queries.matching_dead_letters(relay.store, query, limit=body.limit)
    return [r.event_id for r in records]


@handler
async def replay(request: Request) -> Response:
    body: ReplayBody = await _body(request, ReplayBody)
    if body.as_stored and body.remap:
        raise BadRequest('"as_stored" and "remap" contradict each other: give one')
    relay = app_state(request)
    event_ids = await _selected(relay, body)
    options = actions.ReplayOptions(
        dry_run=body.dry_run, as_stored=body.as_stored, force=body.force, remap=body.remap
    )
    results = [r async for r in actions.replay_events(relay.store, relay.sources, event_ids, options)]
    replayed = sum(r.outcome == "replayed" for r in results)
    if replayed:
        await wake(relay.queue)
        log.info(
            "dlq_replayed", events=replayed, as_stored=body.as_stored, remap=body.remap, force=body.force
        )
    return _json(
        request,
        {
            "dry_run": body.dry_run,
            "matched": len(event_ids),
            "replayed": replayed,
            "would_replay": sum(r.outcome == "would_replay" for r in results),
            "failed": sum(not r.ok for r in results),
            "limit_reached": body.filter is not None and len(event_ids) >= body.limit,
            "results": [r.public() for r in results],
        },
    )


@handler
async def purge(request: Request) -> Response:
    body: BulkBody = await _body(request, BulkBody)
    relay = app_state(request)
    event_ids = await _selected(relay, body)
    results = [r async for r in actions.purge_events(relay.store, event_ids, dry_run=body.dry_run)]
    purged = sum(r.outcome == "purged" for r in results)
    if purged:
        log.info("dlq_purged", events=purged)
    return _json(
        request,
        {
            "dry_run": body.dry_run,
            "matched": len(event_ids),
            "purged": purged,
            "limit_reached": body.filter is not None and len(event_ids) >= body.limit,
            "results": [r.public() for r in results],
        },
    )


@handler
async def edit(request: Request) -> Response:
    body: EditBody = await _body(request, EditBody)
    store = app_state(request).store
    record = await store.ledger.event(await queries.resolve_id(store, request.path_params["event_id"]))
    if record is None or record.status != EventStatus.DEAD:
        return _error(request, "not in the dead-letter queue", 404)
    if body.change is not None and (body.set or body.unset):
        raise BadRequest('give either "change" or "set"/"unset"')
    if body.change is not None:
        doc = body.change
    else:
        doc = actions.set_paths(queries.change_document(record) or {}, list(body.set.items()), body.unset)
    change = actions.validate_change(doc, event_id=record.event_id)
    outcome = await actions.edit_change(store, record, change)
    if outcome != "edited":
        return _error(request, "not in the dead-letter queue", 404)
    log.info("dlq_edited", event_id=record.event_id)
    return _json(
        request, {"event_id": record.event_id, "outcome": outcome, "change": orjson.loads(change.to_json())}
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/status", status),
        Route("/events", events),
        Route("/events/{event_id}", event),
        Route("/dlq", dead_letters),
        Route("/dlq/replay", replay, methods=["POST"]),
        Route("/dlq/purge", purge, methods=["POST"]),
        Route("/dlq/{event_id}/change", edit, methods=["PUT"]),
        Route("/dlq/{event_id}", dead_letter),
    ]
