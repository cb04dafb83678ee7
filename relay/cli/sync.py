"""`relay sync`: backfill and drift repair from what the CRM holds.

    relay sync --source hubspot companies.csv --dry-run     # what would change, and what it costs
    relay sync --source hubspot companies.csv               # asks, then enqueues the differences
    relay sync --source hubspot --from-api --since 24h      # what HubSpot changed in a day
    relay sync --source hubspot --from-api --yes            # since the last complete run (CronJob)

Each record is mapped as a whole snapshot, its customer found (link property, link table,
external_id/email), and compared with what ChartMogul holds now, read once through the paged
customer list. Only differences become events (source `sync`), delivered like webhooks.
Records come from an export file, or from the CRM's own API (relay/sync/fromapi.py).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click
import orjson

from relay.cli.api import READS_ACCOUNT, customer_pages
from relay.cli.common import CrmName, load_settings, progress, run_store
from relay.cli.syncreport import Wording, customer_json, print_customer, print_summary, print_totals
from relay.queue import enqueue_wakeup, relay_queue, rq_connection
from relay.settings import Settings
from relay.sources import CrmSource, mapped_crm
from relay.store import Store, now_ms
from relay.sync.account import read_account
from relay.sync.fromapi import READABLE, ApiRead, NoWatermark, Since, crm_reader, spool, start_of_read
from relay.sync.plan import Planner, Totals
from relay.sync.readers import ExportError, Item, Skipped, read_changes, read_export
from relay.sync.run import Enqueuer, UnmatchedFile, parse_as_of
from relay.times import TimeSpecError, iso, parse_time


@dataclass(frozen=True)
class Records:
    """Where a run's records come from: a file, or a CRM's API read into a spool file."""

    label: str  # "companies.csv", "HubSpot API since …": what the console lists the run as
    items: Callable[[], Iterator[Item]]  # read afresh for each pass
    wording: Wording
    api: ApiRead | None = None


def _time(option: str, read: Callable[[], int]) -> int:
    try:
        return read()
    except TimeSpecError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@contextlib.contextmanager
def _unmatched_file(path: Path | None, source: str) -> Iterator[UnmatchedFile | None]:
    if path is None:
        yield None
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        yield UnmatchedFile(handle, source)


def _check_options(
    source: str,
    file: Path | None,
    from_api: bool,
    since: str | None,
    first_since: str | None,
    as_of: str | None,
) -> None:
    if from_api:
        if file is not None:
            raise click.UsageError("give a FILE or --from-api, not both")
        if as_of is not None:
            raise click.UsageError(
                "--as-of is for export files: a record read from the CRM's API is as of when the CRM "
                "last changed it"
            )
        if source not in READABLE:
            raise click.BadParameter(
                f"--from-api reads {' and '.join(READABLE)}; for {source}, sync an export file",
                param_hint="--source",
            )
    elif file is None:
        raise click.UsageError("give the export FILE to read, or --from-api to read the CRM's API")
    elif since is not None or first_since is not None:
        raise click.UsageError(
            "--since and --first-since go with --from-api (for a file, --as-of says when it was taken)"
        )


@click.command("sync")
@click.option("--source", required=True, type=CrmName(), help="The CRM the records come from.")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--from-api",
    is_flag=True,
    help=f"Read what the CRM changed from its own API instead of a FILE ({', '.join(READABLE)}).",
)
@click.option(
    "--since",
    help="With --from-api: read changes since then (24h, 7d, 10:05, ISO 8601); default: from the "
    "source's watermark, where the last complete run ended (less 5 minutes).",
)
@click.option(
    "--first-since",
    help="With --from-api and no watermark yet (the first run): read changes since then; once a "
    "run has set the watermark, it is ignored (what a CronJob passes).",
)
@click.option("--dry-run", is_flag=True, help="Send nothing: print each change and what the run would cost.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
@click.option("--yes", is_flag=True, help="Do not ask before enqueueing.")
@click.option(
    "--as-of",
    help="When the export was taken: now, a duration ago (2h), a time today (10:05) or ISO 8601; "
    "default: the file's modification time. A change applied after it wins over the export's value.",
)
@click.option(
    "--unmatched",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write unmatched records here (CSV in `relay links import` format; fill in customer_uuid).",
)
def sync(
    source: str,
    file: Path | None,
    from_api: bool,
    since: str | None,
    first_since: str | None,
    dry_run: bool,
    as_json: bool,
    yes: bool,
    as_of: str | None,
    unmatched: Path | None,
) -> None:
    """Compare a CRM's records with ChartMogul and enqueue the differences (tags only ever added)."""
    _check_options(source, file, from_api, since, first_since, as_of)
    settings = load_settings()
    starts = (
        Since(_time("--since", lambda: parse_time(since)), since) if since is not None else None,
        Since(_time("--first-since", lambda: parse_time(first_since)), first_since) if first_since else None,
    )
    as_of_ms = _time("--as-of", lambda: parse_as_of(as_of, file)) if file is not None else None
    crm = mapped_crm(source, settings.mapping_dir)
    run = functools.partial(_sync, crm=crm, settings=settings, options=(dry_run, as_json, yes, unmatched))

    async def work(store: Store) -> int:
        if file is not None and as_of_ms is not None:
            path = file
            records = Records(file.name, lambda: read_export(path, crm.records, crm.mapping), Wording())
            return await run(records, store, as_of_ms)
        settings.require_api_key(READS_ACCOUNT)  # said before the CRM is read, not after
        with tempfile.TemporaryDirectory(prefix="relay-sync-") as spool_dir:
            spooled = Path(spool_dir) / "changes.jsonl"
            read = await _read_api(crm, store, settings, starts, spooled)
            if not as_json:
                click.echo(read.line())
            label = f"{read.what} changed since {iso(read.since_ms)}"
            records = Records(label, lambda: read_changes(spooled, crm.records), Wording(read.crm), read)
            return await run(records, store, read.started_ms)

    sys.exit(run_store(settings, work))


async def _read_api(
    crm: CrmSource, store: Store, settings: Settings, starts: tuple[Since | None, Since | None], path: Path
) -> ApiRead:
    source = crm.records.source
    try:
        start_ms, since_from = start_of_read(*starts, await store.sync_runs.watermark(source))
    except NoWatermark:
        raise click.UsageError(
            f"no watermark for {source} yet (no complete --from-api run): give --since (or --first-since) "
            "for the first run, e.g. --since 30d (check with --dry-run first); later runs go on from the "
            "watermark"
        ) from None
    async with crm_reader(source, settings, crm.records, crm.mapping) as (reader, api):
        read = ApiRead(source, api.config.name, reader.what, start_ms, since_from, started_ms=now_ms())
        with path.open("wb") as handle:
            await spool(reader, api, read, handle)
    return read


async def _watermark(store: Store, read: ApiRead, *, advance: bool) -> dict[str, Any]:
    """The source's watermark for the summary, and a line saying where it is: moved to the
    newest change `read` read when `advance` (a run whose changes were all enqueued)."""
    if advance and read.watermark_ms is not None:
        mark: int | None = await store.sync_runs.advance_watermark(read.source, read.watermark_ms)
        line = (
            f"Watermark for {read.source}: {iso(mark)} (the next run without --since reads from there, "
            "less 5 minutes)."
        )
    else:
        mark = await store.sync_runs.watermark(read.source)
        why = "dry run" if not advance else f"nothing changed in {read.crm} since {iso(read.since_ms)}"
        line = f"The watermark stays {f'at {iso(mark)}' if mark else 'unset'} ({why})."
    return {
        "watermark": iso(mark),
        "watermark_moved": advance and read.watermark_ms is not None,
        "line": line,
    }


async def _sync(
    records: Records,
    store: Store,
    occurred_at_ms: int,
    *,
    crm: CrmSource,
    settings: Settings,
    options: tuple[bool, bool, bool, Path | None],
) -> int:
    dry_run, as_json, yes, unmatched = options
    rate = settings.rate_limit_per_s
    if records.api is not None and records.api.records == 0:
        nothing = await _watermark(store, records.api, advance=not dry_run)
        return _nothing_read(records.api, nothing, dry_run, as_json, rate)
    links = await store.links.all()
    async with customer_pages(settings, store) as pages:
        account = await read_account(pages)
    applied = await store.deliveries.applied_states(list(account.customers))
    origin = "export" if records.api is None else "API"

    def planner() -> Planner:
        return Planner(
            crm.mapping,
            crm.records,
            account,
            links,
            occurred_at_ms=occurred_at_ms,
            applied=applied,
            origin=origin,
        )

    try:
        if dry_run:
            mark = await _watermark(store, records.api, advance=False) if records.api else None
            with _unmatched_file(unmatched, crm.records.source) as out:
                _dry_run(planner(), records, out, as_json, rate, mark)
            if not as_json:
                click.echo(
                    f"(ChartMogul customers read: {len(account.customers)} in {account.pages} list calls)"
                )
                if mark:
                    click.echo(mark["line"])
            return 0
        return await _real_run(planner, records, store, settings, account.pages, unmatched, as_json, yes)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None


def _from_api(read: ApiRead, mark: dict[str, Any]) -> dict[str, Any]:
    return {**read.to_json(), "watermark": mark["watermark"], "watermark_moved": mark["watermark_moved"]}


def _nothing_read(read: ApiRead, mark: dict[str, Any], dry_run: bool, as_json: bool, rate: float) -> int:
    """No record changed since the start: no ChartMogul read, nothing to plan or enqueue."""
    if as_json:
        empty = Totals().to_json(rate)
        doc: dict[str, Any] = (
            {"dry_run": True, "customers": [], "totals": empty}
            if dry_run
            else {**empty, "enqueued": 0, "already_enqueued": 0, "already_by_status": {}, "list_calls": 0}
        )
        click.echo(orjson.dumps({**doc, "from_api": _from_api(read, mark)}).decode())
    else:
        click.echo("Nothing to change.")
        click.echo(mark["line"])
    return 0


def _dry_run(
    planner: Planner,
    records: Records,
    out: UnmatchedFile | None,
    as_json: bool,
    rate: float,
    mark: dict[str, Any] | None,
) -> None:
    stdout: IO[str] = sys.stdout
    if as_json:
        stdout.write('{"dry_run": true, "customers": [')
    first = True
    for item in planner.plan(records.items()):
        if isinstance(item, Skipped):
            if not as_json:
                click.echo(f"skipped {item.where}: {item.why}", err=True)
            continue
        if item.uuid is None and item.event is None:
            if out:
                out.add(item)
            continue
        if not (item.changes or item.stale):
            continue
        if as_json:
            stdout.write(("" if first else ",") + orjson.dumps(customer_json(item)).decode())
            first = False
        else:
            print_customer(item, records.wording)
    if as_json:
        stdout.write('], "totals": ' + orjson.dumps(planner.totals.to_json(rate)).decode())
        if records.api is not None and mark is not None:
            stdout.write(', "from_api": ' + orjson.dumps(_from_api(records.api, mark)).decode())
        stdout.write("}\n")
        return
    click.echo("")
    print_totals(planner.totals, rate, records.wording)


async def _real_run(
    planner: Callable[[], Planner],
    records: Records,
    store: Store,
    settings: Settings,
    list_calls: int,
    unmatched: Path | None,
    as_json: bool,
    yes: bool,
) -> int:
    started_ms = now_ms()
    first: Planner = planner()
    for _ in first.plan(records.items()):
        pass
    totals = first.totals
    rate = settings.rate_limit_per_s
    if not as_json or not yes:
        print_totals(totals, rate, records.wording, err=as_json, real_run=True)
    wanted = totals.to_change + totals.to_create
    leads = f" and {totals.to_create} new leads" if totals.to_create else ""
    if wanted == 0:
        click.echo("Nothing to change.", err=as_json)
    elif not yes and not click.confirm(f"Enqueue changes for {totals.to_change} customers{leads}?", err=True):
        click.echo("Nothing was enqueued.", err=True)
        return 1
    run: Planner = planner()
    enqueuer = Enqueuer(store)
    length = totals.records_read + totals.skipped
    with (
        _unmatched_file(unmatched, run.shape.source) as out,
        progress(length, "Enqueueing") as bar,
    ):
        for item in run.plan(records.items()):
            bar.update(1)
            if isinstance(item, Skipped):
                continue
            if item.uuid is None and item.event is None and out:
                out.add(item)
            if item.event is not None:
                await enqueuer.add(item.event)
        await enqueuer.flush()
    if enqueuer.ready:
        enqueue_wakeup(relay_queue(rq_connection(settings.redis_url), settings.queue_name))
    # Every change is enqueued: only now may the watermark pass the records this run read.
    mark = await _watermark(store, records.api, advance=True) if records.api is not None else None
    summary = {
        **run.totals.to_json(rate),
        "enqueued": enqueuer.enqueued,
        "already_enqueued": sum(enqueuer.already.values()),
        "already_by_status": dict(enqueuer.already),
        "list_calls": list_calls,
        **({"from_api": _from_api(records.api, mark)} if records.api is not None and mark else {}),
    }
    # Kept for the console's "Links and syncs" page: what each run read and enqueued.
    await store.sync_runs.add(
        {
            "id": f"{run.shape.source}-{started_ms}",
            "source": run.shape.source,
            "file": records.label,
            "event_ids": enqueuer.enqueued_ids,
            "as_of_ms": run.occurred_at_ms,
            "started_at_ms": started_ms,
            "finished_at_ms": now_ms(),
            **summary,
        }
    )
    if as_json:
        click.echo(orjson.dumps(summary).decode())
    else:
        print_summary(enqueuer, run.totals, records.wording)
        if mark:
            click.echo(mark["line"])
    return 0
