"""Replaying and purging dead letters from the console, always in two steps.

    POST /console/dlq/replay   ids=… (ticked) or scope=filter with the filter's fields
                               → a preview: per event, exactly what would be sent
                               + confirm=1 and the preview's digest → a bulk job, then its page
    POST /console/dlq/purge    → the events that would go; + confirm=1 → purged
    GET  /console/jobs/{id}    a bulk replay's progress (refreshes itself while it runs)

The confirmation carries the events by id and a digest of the preview; a confirmation whose
preview no longer holds (the mapping changed, an event left the queue) shows the new preview
instead of replaying. The replay itself is relay/admin/actions.py's, as `relay dlq replay` runs it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import secrets
from contextlib import suppress
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from relay.admin import actions, queries
from relay.admin.api import BULK_LIMIT
from relay.appstate import AppState
from relay.console.deadletters import dead_letter_filter
from relay.console.pages import (
    ConsoleError,
    checked_form,
    context,
    fragment,
    handler,
    not_found,
    page,
    relay,
    see_other,
    text,
    texts,
)
from relay.exceptions import StoreError
from relay.logs import get_logger, mark_logged
from relay.queue import wake
from relay.store import now_ms

log = get_logger("relay.console")

SHOWN = 100  # events shown in full on a preview (all are counted and confirmed)
WAKE_EVERY = 50  # a bulk replay wakes the workers as it goes, not only at the end
STALLED_AFTER_MS = 60_000


async def selected(app: AppState, form: FormData) -> tuple[list[str], str]:
    """The dead letters a form names (ticked ids, or its filter) and how to say which."""
    ids = list(dict.fromkeys(texts(form, "ids")))
    if ids:
        return ids[:BULK_LIMIT], f"{len(ids[:BULK_LIMIT])} chosen dead letter(s)"
    if text(form, "scope") == "filter":
        query = dead_letter_filter(form, queries.event_sources(app.known_sources))
        records = await queries.matching_dead_letters(app.store, query, limit=BULK_LIMIT)
        return [r.event_id for r in records], f"dead letters: {query.describe()}"
    raise ConsoleError(400, "Nothing was chosen: tick dead letters, or replay what a filter shows.")


def replay_options(form: FormData) -> actions.ReplayOptions:
    return actions.ReplayOptions(
        dry_run=True, as_stored=text(form, "mode") == "as_stored", force=text(form, "force") == "1"
    )


def digest(results: list[actions.ReplayResult]) -> str:
    """What a preview promised. Without the change's time: a forced replay of an applied event
    is stamped with the time it is sent."""
    doc = [r.public() for r in results]
    for view in doc:
        if isinstance(view.get("change"), dict):
            view["change"].pop("occurred_at_ms", None)
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@handler
async def replay(request: Request) -> Response:
    form = await checked_form(request)
    app = relay(request)
    event_ids, described = await selected(app, form)
    options = replay_options(form)
    preview = [r async for r in actions.replay_events(app.store, app.sources, event_ids, options)]
    plan = digest(preview)
    changed = False
    if text(form, "confirm") == "1":
        if text(form, "plan") == plan:
            job_id = await start_replay(
                request, event_ids, dataclasses.replace(options, dry_run=False), described
            )
            return see_other(f"/console/jobs/{job_id}")
        changed = True
    counts: dict[str, int] = {}
    for result in preview:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return page(
        request,
        "replay_preview.html",
        nav="dlq",
        described=described,
        event_ids=event_ids,
        shown=[r.public() for r in preview[:SHOWN]],
        more=max(0, len(preview) - SHOWN),
        counts=sorted(counts.items()),
        would=counts.get("would_replay", 0),
        mode="as_stored" if options.as_stored else "remapped",
        force=options.force,
        plan=plan,
        changed=changed,
        limit_reached=len(event_ids) >= BULK_LIMIT,
    )


async def start_replay(
    request: Request, event_ids: list[str], options: actions.ReplayOptions, described: str
) -> str:
    app = relay(request)
    job_id = secrets.token_hex(8)
    await app.store.bulk_jobs.start(job_id, total=len(event_ids), description=f"replay {described}")
    task = asyncio.get_running_loop().create_task(run_replay(app, job_id, event_ids, options))
    tasks = context(request).tasks
    tasks.add(task)  # held until done: the loop keeps only weak references
    task.add_done_callback(tasks.discard)
    return job_id


async def run_replay(
    app: AppState, job_id: str, event_ids: list[str], options: actions.ReplayOptions
) -> None:
    """Replay event by event, recording each result; workers are woken as events come back."""
    replayed = 0
    try:
        async for result in actions.replay_events(app.store, app.sources, event_ids, options):
            shown = {"event_id": result.event_id, "outcome": result.outcome, "mode": result.mode}
            shown |= {"error": result.error} if result.error else {}
            shown |= {"warning": result.warning} if result.warning else {}
            await app.store.bulk_jobs.record(job_id, shown)
            if result.outcome == "replayed":
                replayed += 1
                if replayed % WAKE_EVERY == 1:
                    await wake(app.queue)
    except StoreError as exc:
        log.error("console_replay_interrupted", job_id=job_id, error=type(exc).__name__)
    except Exception as exc:
        log.exception("console_replay_failed", job_id=job_id)
        mark_logged(exc)
    finally:
        with suppress(StoreError):
            await app.store.bulk_jobs.finish(job_id)
        if replayed:
            await wake(app.queue)
            log.info("dlq_replayed", events=replayed, job_id=job_id, by="console")


async def _job_values(request: Request) -> dict[str, Any]:
    job_id = request.path_params["job_id"]
    job = await relay(request).store.bulk_jobs.get(job_id)
    if job is None:
        raise not_found("No such bulk replay (they are kept a day).")
    stalled = not job.finished and now_ms() - job.updated_at_ms > STALLED_AFTER_MS
    return {
        "job": job,
        "results": await relay(request).store.bulk_jobs.results(job_id),
        "stalled": stalled,
        "refresh_s": 1,
    }


@handler
async def job_page(request: Request) -> Response:
    return page(request, "job.html", nav="dlq", **await _job_values(request))


@handler
async def job_live(request: Request) -> Response:
    return fragment(request, "job_live.html", **await _job_values(request))


@handler
async def purge(request: Request) -> Response:
    form = await checked_form(request)
    store = relay(request).store
    event_ids, described = await selected(relay(request), form)
    if text(form, "confirm") == "1":
        purged = sum([r.outcome == "purged" async for r in actions.purge_events(store, event_ids)])
        log.info("dlq_purged", events=purged, by="console")
        return see_other(f"/console/dlq?purged={purged}")
    dead = [r for r in await store.ledger.events(event_ids) if r is not None and r.status == "dead"]
    return page(
        request,
        "purge_confirm.html",
        nav="dlq",
        described=described,
        records=dead[:SHOWN],
        more=max(0, len(dead) - SHOWN),
        event_ids=[r.event_id for r in dead],
    )
