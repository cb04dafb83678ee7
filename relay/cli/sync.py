"""`relay sync`: backfill and drift repair from what the CRM exports.

    relay sync --source hubspot companies.csv --dry-run     # what would change, and what it costs
    relay sync --source hubspot companies.csv               # asks, then enqueues the differences

Each record is mapped as a whole snapshot, its customer found (link property, link table,
external_id/email), and compared with what ChartMogul holds now, read once through the paged
customer list. Only differences become events (source `sync`), delivered like webhooks.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import click
import orjson

from relay.cli.api import customer_pages
from relay.cli.common import CrmName, load_settings, progress, run_store
from relay.queue import enqueue_wakeup, relay_queue, rq_connection
from relay.settings import Settings
from relay.sources import mapped_crm
from relay.store import Store, now_ms
from relay.sync.account import Account, read_account
from relay.sync.plan import Planned, Planner, StaleChange, Totals
from relay.sync.readers import ExportError, Skipped, read_export
from relay.sync.run import Enqueuer, UnmatchedFile, parse_as_of
from relay.times import TimeSpecError, iso


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _customer_json(planned: Planned) -> dict[str, Any]:
    return {
        "crm_record": planned.crm_record,
        "where": planned.record.where,
        "customer_uuid": planned.uuid,
        "changes": [{"field": c.name, "current": c.current, "new": c.new} for c in planned.changes],
        "stale": [
            {
                "field": s.change.name,
                "current": s.change.current,
                "new": s.change.new,
                "newer_event": s.newer_event or None,
                "newer_at": iso(s.newer_at_ms),
            }
            for s in planned.stale
        ],
    }


def _stale_line(stale: StaleChange, as_of_ms: int) -> str:
    newer = stale.newer_event or "a change"
    return (
        f"  {stale.change.name}: {_show(stale.change.current)} → {_show(stale.change.new)}"
        f"  (stale, not sent: {newer} at {iso(stale.newer_at_ms)} is newer than --as-of {iso(as_of_ms)})"
    )


def _print_totals(totals: Totals, rate: float, *, err: bool = False, real_run: bool = False) -> None:
    echo = click.echo
    doc = totals.to_json(rate)
    echo(f"Records read: {totals.records_read}", err=err)
    echo(
        f"Matched: {totals.matched} (unchanged {totals.unchanged}, to change {totals.to_change}"
        f", stale only {totals.stale_only})",
        err=err,
    )
    why = ", ".join(f"{reason} {count}" for reason, count in totals.unmatched_why.most_common())
    echo(f"Unmatched: {totals.unmatched}" + (f" ({why})" if why else ""), err=err)
    echo(f"Skipped (bad input): {totals.skipped}", err=err)
    for line in totals.skipped_records[:10]:
        echo(f"  {line}", err=err)
    fields = ", ".join(f"{name} {count}" for name, count in totals.fields.most_common())
    echo(f"Fields to change: {fields or 'none'}", err=err)
    if totals.stale:
        stale = ", ".join(f"{name} {count}" for name, count in totals.stale_fields.most_common())
        echo(
            f"Stale, not sent: {stale} in {totals.stale} record(s) (a change applied after --as-of won; "
            "if the export is newer, run with a later --as-of, e.g. --as-of now)",
            err=err,
        )
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(totals.calls.items()))
    spend = "API calls this run spends" if real_run else "API calls the real run will spend"
    echo(f"{spend}: {doc['api_calls']} ({kinds})", err=err)
    echo(f"Time at {rate:g} requests/s: {doc['seconds_at_rate']:g} s", err=err)


def _as_of(value: str | None, path: Path) -> int:
    try:
        return parse_as_of(value, path)
    except TimeSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None


@contextlib.contextmanager
def _unmatched_file(path: Path | None, source: str) -> Iterator[UnmatchedFile | None]:
    if path is None:
        yield None
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        yield UnmatchedFile(handle, source)


@click.command("sync")
@click.option("--source", required=True, type=CrmName(), help="The CRM the export comes from.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
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
    file: Path,
    dry_run: bool,
    as_json: bool,
    yes: bool,
    as_of: str | None,
    unmatched: Path | None,
) -> None:
    """Compare a CRM export with ChartMogul and enqueue the differences (tags only ever added)."""
    settings = load_settings()
    occurred_at_ms = _as_of(as_of, file)
    crm = mapped_crm(source, settings.mapping_dir)
    shape, mapping = crm.records, crm.mapping
    rate = settings.rate_limit_per_s

    async def work(store: Store) -> int:
        links = await store.links.all()
        async with customer_pages(settings, store) as pages:
            account = await read_account(pages)
        applied = await store.deliveries.applied_states(list(account.customers))

        def planner() -> Planner:
            return Planner(mapping, shape, account, links, occurred_at_ms=occurred_at_ms, applied=applied)

        try:
            if dry_run:
                with _unmatched_file(unmatched, source) as out:
                    _dry_run(planner(), file, account, out, as_json, rate)
                return 0
            return await _real_run(planner, store, settings, file, account, unmatched, as_json, yes)
        except ExportError as exc:
            raise click.ClickException(str(exc)) from None

    sys.exit(run_store(settings, work))


def _dry_run(
    planner: Planner, file: Path, account: Account, out: UnmatchedFile | None, as_json: bool, rate: float
) -> None:
    shape, mapping = planner.shape, planner.mapping
    stdout: IO[str] = sys.stdout
    if as_json:
        stdout.write('{"dry_run": true, "customers": [')
    first = True
    for item in planner.plan(read_export(file, shape, mapping)):
        if isinstance(item, Skipped):
            if not as_json:
                click.echo(f"skipped {item.where}: {item.why}", err=True)
            continue
        if item.uuid is None:
            if out:
                out.add(item)
            continue
        if not (item.changes or item.stale):
            continue
        if as_json:
            stdout.write(("" if first else ",") + orjson.dumps(_customer_json(item)).decode())
            first = False
        else:
            click.echo(f"{item.crm_record} ({item.record.where}) → {item.uuid}")
            for change in item.changes:
                click.echo(f"  {change.name}: {_show(change.current)} → {_show(change.new)}")
            for stale in item.stale:
                click.echo(_stale_line(stale, planner.occurred_at_ms))
    if as_json:
        stdout.write('], "totals": ' + orjson.dumps(planner.totals.to_json(rate)).decode() + "}\n")
        return
    click.echo("")
    _print_totals(planner.totals, rate)
    click.echo(f"(ChartMogul customers read: {len(account.customers)} in {account.pages} list calls)")


async def _real_run(
    planner: Callable[[], Planner],
    store: Store,
    settings: Settings,
    file: Path,
    account: Account,
    unmatched: Path | None,
    as_json: bool,
    yes: bool,
) -> int:
    started_ms = now_ms()
    first: Planner = planner()
    for _ in first.plan(read_export(file, first.shape, first.mapping)):
        pass
    totals = first.totals
    rate = settings.rate_limit_per_s
    if not as_json or not yes:
        _print_totals(totals, rate, err=as_json, real_run=True)
    if totals.to_change == 0:
        click.echo("Nothing to change.", err=as_json)
    elif not yes and not click.confirm(f"Enqueue changes for {totals.to_change} customers?", err=True):
        click.echo("Nothing was enqueued.", err=True)
        return 1
    run: Planner = planner()
    enqueuer = Enqueuer(store)
    length = totals.records_read + totals.skipped
    with (
        _unmatched_file(unmatched, run.shape.source) as out,
        progress(length, "Enqueueing") as bar,
    ):
        for item in run.plan(read_export(file, run.shape, run.mapping)):
            bar.update(1)
            if isinstance(item, Skipped):
                continue
            if item.uuid is None and out:
                out.add(item)
            if item.event is not None:
                await enqueuer.add(item.event)
        await enqueuer.flush()
    if enqueuer.ready:
        enqueue_wakeup(relay_queue(rq_connection(settings.redis_url), settings.queue_name))
    summary = {
        **run.totals.to_json(rate),
        "enqueued": enqueuer.enqueued,
        "already_enqueued": sum(enqueuer.already.values()),
        "already_by_status": dict(enqueuer.already),
        "list_calls": account.pages,
    }
    # Kept for the console's "Links and syncs" page: what each run read and enqueued.
    await store.sync_runs.add(
        {
            "id": f"{run.shape.source}-{started_ms}",
            "source": run.shape.source,
            "file": file.name,
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
        _print_summary(enqueuer, run.totals)
    return 0


def _print_summary(enqueuer: Enqueuer, totals: Totals) -> None:
    """What the run really did: only what it enqueued is counted as enqueued."""
    already = enqueuer.already
    stale = sum(totals.stale_fields.values())
    click.echo(
        f"Enqueued {enqueuer.enqueued} changes; {totals.unmatched} unmatched, {totals.skipped} skipped"
        + (f"; {stale} stale field(s) not sent." if stale else ".")
    )
    if already:
        states = ", ".join(f"{count} {status}" for status, count in already.most_common())
        click.echo(
            f"Not enqueued again: {sum(already.values())} made by an earlier run of this export with "
            f"the same --as-of ({states})."
        )
        if already["applied"] or already["stale"]:
            click.echo(
                "If ChartMogul has drifted since, run again with a later --as-of (e.g. --as-of now) to "
                "repair it."
            )
    if enqueuer.enqueued:
        click.echo("Watch delivery: relay status; relay events list --source sync; relay dlq list")
