"""Events: one search box with filters, paged with cursors (/console/events), and one event
with everything the relay knows of it (/console/events/{id})."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from relay.admin import queries, search
from relay.admin.advice import step_for
from relay.console import views
from relay.console.pages import handler, not_found, page, relay
from relay.store import EventStatus

PAGE_SIZE = 50
# Messages a redirect after a change may ask for (never text from the query itself).
DONE = {"edited": "The change is saved; the event stays dead until you replay it."}


@handler
async def events(request: Request) -> Response:
    p = request.query_params
    text = p.get("q", "")
    sources = queries.event_sources(relay(request).known_sources)
    query = queries.EventFilter.parse(
        status=p.get("status"),
        source=p.get("source"),
        since=p.get("since"),
        until=p.get("until"),
        sources=sources,
    )
    store = relay(request).store
    found = await search.resolve(store, text, relay(request).known_sources)
    result = await search.search_events(store, found, query, limit=PAGE_SIZE, cursor=p.get("cursor") or None)
    return page(
        request,
        "events.html",
        nav="events",
        q=text,
        filters={name: p.get(name, "") for name in ("status", "source", "since", "until")},
        statuses=queries.EVENT_STATUSES,
        sources=sources,
        found=found,
        rows=[(record, views.fields_touched(record)) for record in result.records],
        next_cursor=result.next_cursor,
        first_page=not p.get("cursor"),
    )


@handler
async def event(request: Request) -> Response:
    event_id = request.path_params["event_id"]
    store = relay(request).store
    record = await store.ledger.event(event_id)
    if record is None:
        raise not_found(f"No event {event_id!r}: unknown, or its record has expired.")
    history = await store.ledger.history(event_id)
    language, sent = views.payload(record.raw)
    edited = any(entry.get("what") == "edited" for entry in history)
    return page(
        request,
        "event.html",
        nav="events",
        record=record,
        view=queries.public_record(record),
        payload_language=language,
        payload=sent,
        change=views.change_shown(queries.change_document(record)),
        never_sent=views.never_sent(record),
        calls=views.calls_sent(record),
        answers=views.answers(history),
        kept=views.kept_versus_sent(record),
        history=history,
        is_dead=record.status == EventStatus.DEAD,
        edited=edited,
        fix=step_for(record.details.get("reason", "")) if record.status == EventStatus.DEAD else None,
        done=DONE.get(request.query_params.get("done", "")),
    )
