"""`relay links`: the link table from CRM records to ChartMogul customers.

HubSpot, Pipedrive, Salesforce and Close events name a CRM record (company 1246965,
organization 7, Account 001…), not a ChartMogul customer. Import the pairs once; events
that were dead-lettered as customer_not_found can then be replayed:

    relay links import links.csv        # header: source,crm_id,customer_uuid
    relay dlq replay --reason customer_not_found
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import click

from relay.cli.common import load_settings, run_store
from relay.store import Store

# The CRM object a bare id in the CSV means; "contact:42" names another object explicitly.
DEFAULT_OBJECT = {"hubspot": "company", "pipedrive": "organization", "salesforce": "account", "close": "lead"}
CUSTOMER_UUID = re.compile(r"^cus_[A-Za-z0-9\-]{1,64}$")


def crm_record(source: str, crm_id: str) -> str:
    """`hubspot`, `1246965` → `hubspot:company:1246965`; `hubspot`, `contact:42` → `hubspot:contact:42`."""
    crm_id = crm_id.strip()
    if ":" in crm_id:
        return f"{source}:{crm_id}"
    return f"{source}:{DEFAULT_OBJECT[source]}:{crm_id}"


def read_links(path: Path) -> tuple[dict[str, str], list[str]]:
    """The links in a CSV file, and one message per bad row (line numbers as an editor shows them)."""
    links: dict[str, str] = {}
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or {"source", "crm_id", "customer_uuid"} - set(reader.fieldnames):
            return {}, [f"{path}: the header must be source,crm_id,customer_uuid"]
        for line, row in enumerate(reader, start=2):
            source = (row["source"] or "").strip().lower()
            crm_id = (row["crm_id"] or "").strip()
            uuid = (row["customer_uuid"] or "").strip()
            if source not in DEFAULT_OBJECT:
                problems.append(f"line {line}: source {source!r} is not one of {', '.join(DEFAULT_OBJECT)}")
            elif not crm_id:
                problems.append(f"line {line}: crm_id is empty")
            elif not CUSTOMER_UUID.match(uuid):
                problems.append(f"line {line}: customer_uuid {uuid!r} is not a ChartMogul uuid (cus_…)")
            else:
                links[crm_record(source, crm_id)] = uuid
    return links, problems


@click.group()
def links() -> None:
    """Links from CRM records (HubSpot companies, Pipedrive organizations, …) to ChartMogul customers."""


@links.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def links_import(csv_file: Path) -> None:
    """Import links from a CSV with header source,crm_id,customer_uuid (all rows or none)."""
    found, problems = read_links(csv_file)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        click.echo("Nothing was imported.", err=True)
        sys.exit(1)
    settings = load_settings()

    async def work(store: Store) -> None:
        await store.links.add(found)

    run_store(settings, work)
    click.echo(f"Imported {len(found)} links. Replay events that found no customer with:")
    click.echo("  relay dlq replay --reason customer_not_found")


@links.command("list")
@click.option("--source", type=click.Choice(sorted(DEFAULT_OBJECT)), help="Only this CRM's links.")
def links_list(source: str | None) -> None:
    """List links as CSV (the import format)."""
    settings = load_settings()

    async def work(store: Store) -> dict[str, str]:
        return await store.links.all()

    table = run_store(settings, work)
    click.echo("source,crm_id,customer_uuid")
    for record, uuid in sorted(table.items()):
        crm_source, _, crm_id = record.partition(":")
        if source is None or crm_source == source:
            click.echo(f"{crm_source},{crm_id},{uuid}")


@links.command("delete")
@click.argument("source", type=click.Choice(sorted(DEFAULT_OBJECT)))
@click.argument("crm_id")
def links_delete(source: str, crm_id: str) -> None:
    """Delete one link (CRM_ID as in the CSV: a bare id or object:id)."""
    settings = load_settings()
    record = crm_record(source, crm_id)

    async def work(store: Store) -> bool:
        return await store.links.delete(record)

    if not run_store(settings, work):
        click.echo(f"No link for {record}.", err=True)
        sys.exit(1)
    click.echo(f"Deleted the link for {record}.")
