"""Links and syncs (/console/links): link suggestions for an uploaded CRM export, side by side
with the ChartMogul customers they match (ambiguous ones first), imported with one confirm; and
the past `relay sync` runs with what each wrote (/console/syncs/{id}).

Suggesting reads the whole ChartMogul account (a call per 200 customers, under the fleet's
rate limit) and matches records as `relay links suggest` does (relay/sync/suggest.py). Nothing
is written until the import, which carries every chosen pair in the form itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from relay.cli.api import customer_pages
from relay.cli.links import CUSTOMER_UUID
from relay.console.pages import ConsoleError, checked_form, handler, not_found, page, relay, text
from relay.console.views import fields_touched
from relay.crms import KNOWN_SOURCES
from relay.exceptions import DeliveryError
from relay.mapping.config import MappingError
from relay.settings import MissingSetting
from relay.sources import crm_names, mapped_crm
from relay.sync.readers import ExportError, read_export
from relay.sync.suggest import CustomerKeys, Suggester, Suggestion

MAX_RECORDS = 5000  # per upload; `relay links suggest` takes any size
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
RUN_EVENTS = 200


@dataclass(frozen=True, slots=True)
class Row:
    kind: str  # ambiguous | match | unmatched
    suggestion: Suggestion
    crm_record: str
    candidates: list[tuple[str, str]]  # (uuid, ChartMogul name)
    linked_now: str | None  # the uuid the record is linked to today


async def _account(request: Request) -> tuple[CustomerKeys, dict[str, str]]:
    """The account's match keys and each customer's name, read once."""
    app = relay(request)
    keys, names = CustomerKeys(), {}
    try:
        async with customer_pages(app.settings, app.store) as pages:
            async for entries in pages:
                for entry in entries:
                    keys.add(entry)
                    if isinstance(entry.get("uuid"), str):
                        names[entry["uuid"]] = str(entry.get("company") or entry.get("name") or "")
    except DeliveryError as exc:
        raise ConsoleError(502, f"ChartMogul's customer list could not be read: {exc}") from None
    except MissingSetting as exc:
        raise ConsoleError(503, str(exc)) from None
    return keys, names


@contextlib.contextmanager
def _saved(upload: UploadFile) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="relay-console-") as directory:
        path = Path(directory) / "export"
        path.write_bytes(upload.file.read(MAX_UPLOAD_BYTES + 1))
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise ConsoleError(
                413, f"The export is over {MAX_UPLOAD_BYTES // 2**20} MB: use `relay links suggest`."
            )
        yield path


@handler
async def links(request: Request) -> Response:
    app = relay(request)
    store = app.store
    return page(
        request,
        "links.html",
        nav="links",
        sources=crm_names(app.settings.mapping_dir),
        link_count=await store.links.count(),
        runs=await store.sync_runs.recent(),
        max_records=MAX_RECORDS,
    )


@handler
async def suggest(request: Request) -> Response:
    form = await checked_form(request)
    try:
        return await _suggest(request, text(form, "source"), form.get("export"))
    finally:
        await form.close()  # the upload's spooled file


async def _suggest(request: Request, source: str, upload: UploadFile | str | None) -> Response:
    app = relay(request)
    crms = crm_names(app.settings.mapping_dir)
    if source not in crms:
        raise ConsoleError(400, f"Choose the CRM the export comes from ({', '.join(crms)}).")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ConsoleError(400, "Choose the export file to upload.")
    try:
        crm = mapped_crm(source, app.settings.mapping_dir)
    except MappingError as exc:
        raise ConsoleError(400, str(exc)) from None
    mapping, shape = crm.mapping, crm.records
    keys, names = await _account(request)
    suggester = Suggester(mapping, shape, keys)
    with _saved(upload) as path:
        items = read_export(path, shape, mapping, every_column=True)
        try:
            found = await asyncio.to_thread(
                lambda: list(itertools.islice(suggester.suggest(items), MAX_RECORDS))
            )
        except ExportError as exc:
            raise ConsoleError(400, str(exc)) from None
    records = [shape.crm_record(s.record.record_id) for s in found]
    linked = await app.store.links.get_many(records)
    rows = [
        Row(
            "ambiguous" if s.rule and not s.uuid else "match" if s.uuid else "unmatched",
            s,
            record,
            [(uuid, names.get(uuid, "")) for uuid in s.candidates],
            linked.get(record),
        )
        for s, record in zip(found, records, strict=True)
    ]
    order = {"ambiguous": 0, "match": 1, "unmatched": 2}
    rows.sort(key=lambda row: order[row.kind])
    totals = suggester.totals
    return page(
        request,
        "links_suggest.html",
        nav="links",
        source=source,
        filename=upload.filename,
        rows=rows,
        totals=totals,
        matched=sum(totals.matched.values()),
        cut=totals.records >= MAX_RECORDS,
    )


def chosen_links(values: list[str], sources: Collection[str] = KNOWN_SOURCES) -> dict[str, str]:
    """`<crm record> <uuid>` pairs from the form, checked as `relay links import` checks a row
    (`sources`: the webhook sources, declared ones included)."""
    found: dict[str, str] = {}
    for value in values:
        record, _, uuid = value.strip().rpartition(" ")
        source = record.partition(":")[0]
        if source not in sources or record.count(":") < 2 or not CUSTOMER_UUID.match(uuid):
            raise ConsoleError(400, f"{value!r} is not a CRM record and a ChartMogul uuid (cus_…).")
        found[record] = uuid
    return found


@handler
async def import_links(request: Request) -> Response:
    form = await checked_form(request)
    values: list[str] = [
        v
        for k, v in form.multi_items()
        if isinstance(v, str) and v and (k == "link" or k.startswith("choice."))
    ]
    chosen = chosen_links(values, relay(request).known_sources)
    if chosen:
        await relay(request).store.links.add(chosen)
    return page(
        request,
        "links_imported.html",
        nav="links",
        imported=sorted(chosen.items()),
        auto_replay=relay(request).settings.auto_replay,
    )


@handler
async def sync_run(request: Request) -> Response:
    store = relay(request).store
    run_id = request.path_params["run_id"]
    run: dict[str, Any] | None = next(
        (r for r in await store.sync_runs.recent() if r.get("id") == run_id), None
    )
    if run is None:
        raise not_found("No such sync run (the newest 100 are kept).")
    event_ids = [e for e in run.get("event_ids") or [] if isinstance(e, str)][:RUN_EVENTS]
    records = [r for r in await store.ledger.events(event_ids) if r is not None]
    return page(
        request,
        "sync_run.html",
        nav="links",
        run=run,
        rows=[(record, fields_touched(record)) for record in records],
        shown=len(event_ids),
    )
