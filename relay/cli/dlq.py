"""`relay dlq`: the dead-letter queue — events ChartMogul rejected or did not keep, or out of retries.

relay dlq list --reason rejected --since 1h
relay dlq show EVENT_ID
relay dlq replay --reason rejected --since 1h --dry-run      # what would be sent
relay dlq replay --reason rejected --since 1h                # re-mapped through the current mapping
relay dlq edit EVENT_ID --set fields.owner=ann@acme.com      # then: replay EVENT_ID (as edited)
relay dlq purge --reason customer_not_found --until 3d

EVENT_ID may also be the dashboard's job id of a dead letter (dlq-…), pasted from /dashboard.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import orjson

from relay.admin import actions, queries, render
from relay.cli.common import EventSource, load_settings, progress, run_store
from relay.cli.events import TIME_HELP, echo_json, echo_lines, say_clock, terminal_width, usage
from relay.settings import Settings
from relay.sources import enabled_sources
from relay.store import DEAD_LETTER_REASONS, Store
from relay.store.eventlog import Page

F = TypeVar("F", bound=Callable[..., Any])


def filter_options(func: F) -> F:
    """--reason --source --status --customer --since --until (since/until: when dead-lettered)."""
    for option in reversed(
        [
            click.option("--reason", type=click.Choice(DEAD_LETTER_REASONS), help="Why it died."),
            click.option("--source", type=EventSource(), help="Where it came from."),
            click.option("--status", "http_status", help="ChartMogul's HTTP status (e.g. 400)."),
            click.option("--customer", help="A ChartMogul uuid (cus_…) or an unresolved key."),
            click.option("--since", help=f"Dead-lettered since. {TIME_HELP}"),
            click.option("--until", help=f"Dead-lettered until. {TIME_HELP}"),
        ]
    ):
        func = option(func)
    return func


def parse_filter(**options: str | None) -> queries.DeadLetterFilter:
    try:
        return queries.DeadLetterFilter.parse(
            source=options.get("source"),
            reason=options.get("reason"),
            status=options.get("http_status"),
            customer=options.get("customer"),
            since=options.get("since"),
            until=options.get("until"),
            sources=EventSource().names(),
        )
    except queries.QueryError as exc:
        raise usage(exc) from None


def run_dlq(settings: Settings, work: Callable[[Store], Any]) -> Any:
    """Like run_store, with an operator's bad input (a cursor, a filter) as a usage error."""
    try:
        return run_store(settings, work)
    except queries.QueryError as exc:
        raise usage(exc) from None


def select(
    settings: Settings,
    event_ids: tuple[str, ...],
    query: queries.DeadLetterFilter,
    select_all: bool,
    verb: str,
) -> tuple[list[str], bool]:
    """The events a bulk command acts on, and whether they were chosen by a filter."""
    if event_ids and (not query.is_empty or select_all):
        raise click.UsageError("give event ids or a filter, not both")
    if event_ids:

        async def known(store: Store) -> list[str]:
            return await queries.resolve_ids(store, event_ids)

        return run_dlq(settings, known), False
    if query.is_empty and not select_all:
        raise click.UsageError(
            f"give event ids, a filter (--reason, --since, …) or --all to {verb} every dead letter"
        )

    async def work(store: Store) -> list[str]:
        return [r.event_id for r in await queries.matching_dead_letters(store, query)]

    return run_dlq(settings, work), True


def wake(settings: Settings) -> None:
    from relay.queue import enqueue_wakeup, relay_queue, rq_connection

    connection = rq_connection(settings.redis_url)
    try:
        enqueue_wakeup(relay_queue(connection, settings.queue_name))
    finally:
        connection.close()


@click.group()
def dlq() -> None:
    """The dead-letter queue: events ChartMogul rejected or did not keep, or that ran out of retries."""


@dlq.command("list")
@filter_options
@click.option("--limit", default=queries.DEFAULT_LIMIT, show_default=True, type=int)
@click.option("--cursor", help="Go on from a previous listing (it prints the cursor).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def dlq_list(limit: int, cursor: str | None, as_json: bool, **filters: str | None) -> None:
    """List dead-lettered events, newest first."""
    settings = load_settings()
    query = parse_filter(**filters)
    try:
        limit = queries.parse_limit(limit)
    except queries.QueryError as exc:
        raise usage(exc) from None

    async def work(store: Store) -> Page:
        return await queries.list_dead_letters(store, query, limit=limit, cursor=cursor)

    page: Page = run_dlq(settings, work)
    records = [queries.public_record(r) for r in page.records]
    say_clock(filters.get("since"), filters.get("until"))
    if as_json:
        for record in records:
            echo_json(settings, record)
    elif records:
        echo_lines(settings, render.dead_letters_table(records, width=terminal_width()))
    else:
        click.echo("The dead-letter queue is empty." if query.is_empty else "No dead letter matches.")
    if page.next_cursor:
        click.echo(f"More: add --cursor {page.next_cursor}", err=True)


@dlq.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True)
def dlq_show(event_id: str, as_json: bool) -> None:
    """One dead letter: why it failed, what was sent, the CRM payload, every attempt."""
    settings = load_settings()

    async def work(store: Store) -> dict[str, Any] | None:
        return await queries.event_detail(store, await queries.resolve_id(store, event_id))

    detail = run_dlq(settings, work)
    if detail is None or detail["event"]["status"] != "dead":
        raise click.ClickException(f"{event_id} is not in the dead-letter queue")
    if as_json:
        echo_json(settings, detail)
    else:
        echo_lines(settings, render.event_text(detail))


@dlq.command("replay")
@click.argument("event_ids", nargs=-1)
@filter_options
@click.option("--all", "select_all", is_flag=True, help="Every dead letter.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; change nothing.")
@click.option("--as-stored", is_flag=True, help="Send the stored change as it is (no re-mapping).")
@click.option(
    "--remap",
    is_flag=True,
    help="Re-map edited dead letters too (their edit is replaced); without it they are sent as edited.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Also send again events already applied; and if the current mapping refuses an event, send its "
    "stored change.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def dlq_replay(
    event_ids: tuple[str, ...],
    select_all: bool,
    dry_run: bool,
    as_stored: bool,
    remap: bool,
    force: bool,
    yes: bool,
    **filters: str | None,
) -> None:
    """Queue dead letters again, re-mapped through the current mapping (after fixing the cause);
    an edited dead letter is sent as edited (--remap re-maps it too).

    Give event ids, or a filter for a bulk replay. Try --dry-run first: it says which each is.
    """
    if as_stored and remap:
        raise click.UsageError("--as-stored and --remap contradict each other: give one")
    settings = load_settings()
    query = parse_filter(**filters)
    ids, bulk = select(settings, event_ids, query, select_all, "replay")
    if not ids:
        click.echo("No dead letter matches.")
        return
    if bulk and not dry_run and not yes:
        click.confirm(f"Replay {len(ids)} dead letter(s) ({query.describe()})?", abort=True)
    options = actions.ReplayOptions(dry_run=dry_run, as_stored=as_stored, force=force, remap=remap)
    sources = enabled_sources(settings)

    async def work(store: Store) -> list[dict[str, Any]]:
        replaying = actions.replay_events(store, sources, ids, options)
        if not bulk or dry_run:
            results = []
            async for result in replaying:
                results.append(result.public())
                echo_lines(settings, render.replay_text(results[-1]), err=not result.ok)
            return results
        with progress(len(ids), "Replaying") as bar:
            results = []
            async for result in replaying:
                results.append(result.public())
                bar.update(1)
            return results

    results: list[dict[str, Any]] = run_dlq(settings, work)
    replayed = sum(r["outcome"] == "replayed" for r in results)
    failed = [r for r in results if r["outcome"] not in ("replayed", "would_replay")]
    if replayed:
        wake(settings)
    if bulk and not dry_run:
        click.echo(f"{replayed} replayed, {len(failed)} not replayed.")
        for result in failed:
            echo_lines(settings, render.replay_text(result), err=True)
    if dry_run:
        click.echo(f"Dry run: {len(results) - len(failed)} would be replayed; nothing was changed.")
    if failed:
        sys.exit(1)


@dlq.command("edit")
@click.argument("event_id")
@click.option(
    "--set", "assignments", multiple=True, metavar="PATH=VALUE", help="e.g. fields.owner=ann@acme.com"
)
@click.option("--unset", "unsets", multiple=True, metavar="PATH", help="Remove a key, e.g. fields.city")
def dlq_edit(event_id: str, assignments: tuple[str, ...], unsets: tuple[str, ...]) -> None:
    """Fix a dead letter's stored change (it stays dead-lettered; every replay then sends it as
    edited, unless --remap).

    Without --set/--unset, opens the change in $EDITOR. Values are JSON when they parse
    (tags_add='["vip"]', custom_set.CAC=25), text otherwise; fields.* are always text. The
    edit is checked by the same rules as the relay's own changes (ChartMogul's contract).
    """
    settings = load_settings()

    async def load(store: Store) -> Any:
        return await store.ledger.event(await queries.resolve_id(store, event_id))

    record = run_dlq(settings, load)
    event_id = record.event_id if record is not None else event_id
    if record is None or record.status != "dead":
        raise click.ClickException(f"{event_id} is not in the dead-letter queue")
    before = queries.change_document(record) or {}
    try:
        if assignments or unsets:
            doc = actions.apply_assignments(before, assignments, unsets)
        else:
            text = click.edit(
                orjson.dumps(before, option=orjson.OPT_INDENT_2).decode() + "\n", extension=".json"
            )
            if text is None:
                click.echo("Not saved; nothing changed.")
                return
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise click.ClickException(f"not valid JSON: {exc}") from None
        change = actions.validate_change(doc, event_id=record.event_id)
    except queries.QueryError as exc:
        raise click.ClickException(str(exc)) from None
    changed = actions.changed_paths(before, orjson.loads(change.to_json()))
    if not changed:
        click.echo("No change.")
        return

    async def save(store: Store) -> str:
        return await actions.edit_change(store, record, change)

    outcome = run_dlq(settings, save)
    if outcome != "edited":
        raise click.ClickException(f"{event_id} is no longer in the dead-letter queue ({outcome})")
    click.echo(f"{event_id}: stored ({', '.join(changed)}). Every replay sends it as edited:")
    click.echo(f"  relay dlq replay {event_id} --dry-run")


@dlq.command("purge")
@click.argument("event_ids", nargs=-1)
@filter_options
@click.option("--all", "select_all", is_flag=True, help="Every dead letter.")
@click.option("--dry-run", is_flag=True, help="Show what would be purged; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def dlq_purge(
    event_ids: tuple[str, ...], select_all: bool, dry_run: bool, yes: bool, **filters: str | None
) -> None:
    """Drop dead letters for good (their record and history stay until they expire)."""
    settings = load_settings()
    query = parse_filter(**filters)
    ids, bulk = select(settings, event_ids, query, select_all, "purge")
    if not ids:
        click.echo("No dead letter matches.")
        return
    if not dry_run and not yes:
        what = query.describe() if bulk else ", ".join(ids[:5]) + (" …" if len(ids) > 5 else "")
        click.confirm(f"Purge {len(ids)} dead letter(s) ({what})? This cannot be undone", abort=True)

    async def work(store: Store) -> list[actions.PurgeResult]:
        return [r async for r in actions.purge_events(store, ids, dry_run=dry_run)]

    results: list[actions.PurgeResult] = run_dlq(settings, work)
    done = [r for r in results if r.outcome in ("purged", "would_purge")]
    for result in results:
        if result.outcome not in ("purged", "would_purge") or dry_run:
            click.echo(f"{result.event_id}: {result.outcome.replace('_', ' ')}", err=result not in done)
    if dry_run:
        click.echo(f"Dry run: {len(done)} would be purged; nothing was changed.")
    else:
        click.echo(f"{len(done)} purged.")
    if len(done) != len(results):
        sys.exit(1)
