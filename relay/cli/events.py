"""`relay events`: the event log — every event the relay accepted, what happened to it, and why."""

from __future__ import annotations

import shutil
from typing import Any

import click
import orjson

from relay import times
from relay.admin import queries, render
from relay.admin.redaction import Redactor
from relay.cli.common import EventSource, load_settings, run_store
from relay.settings import Settings
from relay.store import Store
from relay.store.eventlog import Page

TIME_HELP = "A duration ago (30m, 1h, 7d), now, a time today (10:05, this machine's clock) or ISO 8601."


def terminal_width() -> int:
    """Where tables wrap: the terminal's width (COLUMNS when set; 80 when not a terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


def say_clock(*given: str | None) -> None:
    """A time given as a clock time (10:05) is read on this machine's clock: say which."""
    if any(times.is_clock_time(text) for text in given):
        click.echo(
            f"(10:05-style times are today on this machine's clock: now {times.local_clock()})", err=True
        )


def echo_json(settings: Settings, doc: Any) -> None:
    click.echo(Redactor.from_settings(settings).bytes(orjson.dumps(doc)).decode())


def echo_lines(settings: Settings, lines: list[str], *, err: bool = False) -> None:
    redactor = Redactor.from_settings(settings)
    for line in lines:
        click.echo(redactor.text(line), err=err)


def usage(exc: queries.QueryError) -> click.UsageError:
    return click.UsageError(str(exc))


@click.group()
def events() -> None:
    """The event log: find an event, see what happened to it and why."""


@events.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="The record and history as JSON.")
def events_show(event_id: str, as_json: bool) -> None:
    """One event: its record (change, PATCH sent, CRM payload) and its whole history."""
    settings = load_settings()

    async def work(store: Store) -> dict[str, Any] | None:
        return await queries.event_detail(store, await queries.resolve_id(store, event_id))

    detail = run_store(settings, work)
    if detail is None:
        raise click.ClickException(f"no event {event_id!r} (unknown, or its record has expired)")
    if as_json:
        echo_json(settings, detail)
    else:
        echo_lines(settings, render.event_text(detail))


@events.command("list")
@click.option(
    "--customer",
    help="Any key of the customer: its uuid (cus_…), a CRM record (hubspot:company:9001), an email or an "
    "external id; finds its events before and after resolution.",
)
@click.option("--since", help=f"Received since. {TIME_HELP}")
@click.option("--until", help=f"Received until. {TIME_HELP}")
@click.option("--status", type=click.Choice(queries.EVENT_STATUSES), help="Only events in this state.")
@click.option("--source", type=EventSource(), help="Only events from this source.")
@click.option("--limit", default=queries.DEFAULT_LIMIT, show_default=True, type=int)
@click.option("--cursor", help="Go on from a previous listing (it prints the cursor).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def events_list(
    customer: str | None,
    since: str | None,
    until: str | None,
    status: str | None,
    source: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
) -> None:
    """Events newest first."""
    settings = load_settings()
    try:
        query = queries.EventFilter.parse(
            customer=customer,
            status=status,
            source=source,
            since=since,
            until=until,
            sources=EventSource().names(),
        )
        limit = queries.parse_limit(limit)
    except queries.QueryError as exc:
        raise usage(exc) from None

    async def work(store: Store) -> Page:
        return await queries.list_events(store, query, limit=limit, cursor=cursor)

    try:
        page = run_store(settings, work)
    except queries.QueryError as exc:
        raise usage(exc) from None
    records = [queries.public_record(r) for r in page.records]
    say_clock(since, until)
    if as_json:
        for record in records:
            echo_json(settings, record)
    elif records:
        echo_lines(settings, render.events_table(records, width=terminal_width()))
    else:
        click.echo("No event matches.")
    if page.next_cursor:
        click.echo(f"More: add --cursor {page.next_cursor}", err=True)
