"""Dead letters (/console/dlq): grouped by reason with the fix in words, filtered, listed; and
the form that edits one dead letter's stored change (/console/dlq/{id}/edit), checked as
`relay dlq edit` checks it (relay/admin/actions.py `validate_change`: field names, lead
statuses, ChartMogul's contract). An edited event stays dead until it is replayed."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from relay.admin import actions, queries
from relay.admin.advice import NEXT_STEPS, step_for
from relay.changes import CONTACT_FIELDS, CUSTOMER_FIELDS, LEAD_STATUSES
from relay.console.pages import (
    ConsoleError,
    checked_form,
    handler,
    not_found,
    page,
    quoted,
    relay,
    see_other,
    text,
)
from relay.store import EventRecord, EventStatus

PAGE_SIZE = 50
FILTERS = ("reason", "source", "status", "customer", "since", "until")
REFERENCE_FIELDS = ("uuid", "external_id", "data_source_uuid", "email", "crm_record")


def dead_letter_filter(values: Any, sources: Collection[str] = queries.SOURCES) -> queries.DeadLetterFilter:
    return queries.DeadLetterFilter.parse(
        **{name: values.get(name) or None for name in FILTERS}, sources=sources
    )


@handler
async def dead_letters(request: Request) -> Response:
    p = request.query_params
    sources = queries.event_sources(relay(request).known_sources)
    query = dead_letter_filter(p, sources)
    store = relay(request).store
    total, by_reason = await store.log.dead_letter_counts()
    listed = await queries.list_dead_letters(store, query, limit=PAGE_SIZE, cursor=p.get("cursor") or None)
    purged = p.get("purged", "")
    return page(
        request,
        "dlq.html",
        nav="dlq",
        total=total,
        groups=[(reason, count, step_for(reason)) for reason, count in sorted(by_reason.items())],
        filters={name: p.get(name, "") for name in FILTERS},
        filtered=not query.is_empty,
        described=query.describe(),
        reasons=tuple(NEXT_STEPS),
        sources=sources,
        records=listed.records,
        next_cursor=listed.next_cursor,
        first_page=not p.get("cursor"),
        purged=int(purged) if purged.isdigit() else None,
    )


# --- the edit form ------------------------------------------------------------------------------


def form_values(change: dict[str, Any]) -> dict[str, str]:
    """The stored change as the form's inputs show it."""
    values: dict[str, str] = {}
    for name in REFERENCE_FIELDS:
        values[f"customer.{name}"] = change.get("customer", {}).get(name) or ""
    fields = change.get("fields", {})
    for name in CUSTOMER_FIELDS:
        values[f"fields.{name}"] = _shown(fields.get(name))
        if name in fields and fields[name] in ("", None):
            values[f"clear.{name}"] = "1"
    contact = fields.get("primary_contact") or {}
    for name in CONTACT_FIELDS:
        values[f"fields.primary_contact.{name}"] = _shown(contact.get(name))
        if name in contact and contact[name] in ("", None):
            values[f"clear.primary_contact.{name}"] = "1"
    values["tags_add"] = ", ".join(change.get("tags_add", []))
    values["tags_remove"] = ", ".join(change.get("tags_remove", []))
    custom = change.get("custom_set", {})
    values["custom_set"] = orjson.dumps(custom, option=orjson.OPT_INDENT_2).decode() if custom else ""
    values["custom_remove"] = ", ".join(change.get("custom_remove", []))
    return values


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else orjson.dumps(value).decode()


def _listed(form: FormData, name: str) -> list[str]:
    return [part.strip() for part in text(form, name).split(",") if part.strip()]


def _fields(form: FormData, names: tuple[str, ...], prefix: str) -> dict[str, str]:
    """Filled inputs; an empty one is left out unless its "clear" box asks to send it empty."""
    found = {}
    for name in names:
        value = text(form, f"fields.{prefix}{name}")
        if value or form.get(f"clear.{prefix}{name}"):
            found[name] = value
    return found


def edited_document(stored: dict[str, Any], form: FormData) -> dict[str, Any]:
    """The stored change with what the form says; what the form does not show (event id, source,
    time, notes, custom attribute types) stays as stored."""
    doc = dict(stored)
    doc["customer"] = {name: value for name in REFERENCE_FIELDS if (value := text(form, f"customer.{name}"))}
    fields: dict[str, Any] = _fields(form, CUSTOMER_FIELDS, "")
    if contact := _fields(form, CONTACT_FIELDS, "primary_contact."):
        fields["primary_contact"] = contact
    doc["fields"] = fields
    doc["tags_add"] = _listed(form, "tags_add")
    doc["tags_remove"] = _listed(form, "tags_remove")
    doc["custom_remove"] = _listed(form, "custom_remove")
    custom_text = text(form, "custom_set")
    try:
        custom = orjson.loads(custom_text) if custom_text else {}
    except orjson.JSONDecodeError:
        custom = None
    if not isinstance(custom, dict):
        raise queries.QueryError('custom attributes to set must be a JSON object, e.g. {"CAC": 25}')
    doc["custom_set"] = custom
    doc["custom_types"] = {k: v for k, v in stored.get("custom_types", {}).items() if k in custom}
    return doc


async def _dead(request: Request) -> EventRecord:
    record = await relay(request).store.ledger.event(request.path_params["event_id"])
    if record is None or record.status != EventStatus.DEAD or record.change is None:
        raise not_found(
            "Not in the dead-letter queue (replayed, purged, or expired), or it has no change to edit."
        )
    return record


def edit_page(request: Request, record: EventRecord, values: dict[str, str], error: str | None) -> Response:
    return page(
        request,
        "dlq_edit.html",
        422 if error else 200,
        nav="dlq",
        record=record,
        values=values,
        error=error,
        reference_fields=REFERENCE_FIELDS,
        customer_fields=CUSTOMER_FIELDS,
        contact_fields=CONTACT_FIELDS,
        lead_statuses=LEAD_STATUSES,
        fix=step_for(record.details.get("reason", "")),
    )


@handler
async def edit_form(request: Request) -> Response:
    record = await _dead(request)
    return edit_page(request, record, form_values(queries.change_document(record) or {}), None)


@handler
async def save_edit(request: Request) -> Response:
    form = await checked_form(request)
    record = await _dead(request)
    stored = queries.change_document(record) or {}
    try:
        change = actions.validate_change(edited_document(stored, form), event_id=record.event_id)
    except queries.QueryError as exc:
        values = {name: value for name, value in form.items() if isinstance(value, str)}
        return edit_page(request, record, values, str(exc))
    outcome = await actions.edit_change(relay(request).store, record, change)
    if outcome != "edited":
        raise ConsoleError(409, "The event left the dead-letter queue meanwhile: nothing was saved.")
    actions.log.info("dlq_edited", event_id=record.event_id, by="console")
    return see_other(f"/console/events/{quoted(record.event_id)}?done=edited")
