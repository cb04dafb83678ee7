"""`relay links`: the link table from CRM records to ChartMogul customers.

HubSpot, Pipedrive, Salesforce, Close and declared sources' events name a CRM record (company
1246965, organization 7, Account 001…), not a ChartMogul customer. Import the pairs once;
events that were dead-lettered as customer_not_found can then be replayed:

    relay links suggest --source hubspot companies.csv --out links.csv   # match an export
    relay links import links.csv        # header: source,crm_id,customer_uuid
    relay dlq replay --reason customer_not_found
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import click
import orjson

from relay.cli.api import customer_pages
from relay.cli.common import CrmName, load_settings, run_store
from relay.settings import get_settings
from relay.sources import CrmRecords, crm_names, mapped_crm, records
from relay.store import Store
from relay.sync.readers import ExportError, read_export
from relay.sync.suggest import RULES, CustomerKeys, Suggester, Suggestion, read_keys

SHOWN = 50  # ambiguous and unmatched records listed (all are counted)
CUSTOMER_UUID = re.compile(r"^cus_[A-Za-z0-9\-]{1,64}$")


def crm_record(crm: CrmRecords, crm_id: str) -> str:
    """HubSpot's, `1246965` → `hubspot:company:1246965` (a bare id names the CRM's customer-level
    object); HubSpot's, `contact:42` → `hubspot:contact:42`."""
    object_name, _, record_id = crm_id.strip().rpartition(":")
    return crm.key(object_name, record_id) if object_name else crm.crm_record(record_id)


def read_links(path: Path) -> tuple[dict[str, str], list[str]]:
    """The links in a CSV file, and one message per bad row (line numbers as an editor shows them)."""
    links: dict[str, str] = {}
    problems: list[str] = []
    mapping_dir = get_settings().mapping_dir
    sources = crm_names(mapping_dir)
    shapes: dict[str, CrmRecords] = {}  # read once per source (a declared one's file is parsed)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or {"source", "crm_id", "customer_uuid"} - set(reader.fieldnames):
            return {}, [f"{path}: the header must be source,crm_id,customer_uuid"]
        for line, row in enumerate(reader, start=2):
            source = (row["source"] or "").strip().lower()
            crm_id = (row["crm_id"] or "").strip()
            uuid = (row["customer_uuid"] or "").strip()
            if source not in sources:
                problems.append(f"line {line}: source {source!r} is not one of {', '.join(sources)}")
            elif not crm_id:
                problems.append(f"line {line}: crm_id is empty")
            elif not CUSTOMER_UUID.match(uuid):
                problems.append(f"line {line}: customer_uuid {uuid!r} is not a ChartMogul uuid (cus_…)")
            else:
                shape = shapes.get(source) or shapes.setdefault(source, records(source, mapping_dir))
                links[crm_record(shape, crm_id)] = uuid
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
@click.option("--source", type=CrmName(), help="Only this CRM's links.")
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
@click.argument("source", type=CrmName())
@click.argument("crm_id")
def links_delete(source: str, crm_id: str) -> None:
    """Delete one link (CRM_ID as in the CSV: a bare id or object:id)."""
    settings = load_settings()
    record = crm_record(records(source, settings.mapping_dir), crm_id)

    async def work(store: Store) -> bool:
        return await store.links.delete(record)

    if not run_store(settings, work):
        click.echo(f"No link for {record}.", err=True)
        sys.exit(1)
    click.echo(f"Deleted the link for {record}.")


@links.command("suggest")
@click.option("--source", required=True, type=CrmName(), help="The CRM the export comes from.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the unambiguous matches here, in `relay links import` format (names beside them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
def links_suggest(source: str, file: Path, out: Path | None, as_json: bool) -> None:
    """Match a CRM export's records to ChartMogul customers (uuid, external_id, email, domain,
    company name), listing each with both names and the rule that matched, the ambiguous ones
    first; nothing is written to the link table until `relay links import`."""
    settings = load_settings()
    crm = mapped_crm(source, settings.mapping_dir)
    shape, mapping = crm.records, crm.mapping

    async def work(store: Store) -> CustomerKeys:
        async with customer_pages(settings, store) as pages:
            return await read_keys(pages)

    keys = run_store(settings, work)
    suggester = Suggester(mapping, shape, keys)
    try:
        found = list(suggester.suggest(read_export(file, shape, mapping, every_column=True)))
    except ExportError as exc:
        raise click.ClickException(str(exc)) from None
    # Ambiguous first (each needs a person's choice), then the matches to review, then the rest.
    order = {"ambiguous": 0, "matched": 1, "unmatched": 2}
    found.sort(key=lambda s: order[_verdict(s)])
    if out is not None:
        _write_links(out, source, found, keys)
    totals = suggester.totals
    if as_json:
        doc = {
            "records": totals.records,
            "matched": sum(totals.matched.values()),
            "matched_by_rule": {rule: totals.matched[rule] for rule in RULES},
            "ambiguous": totals.ambiguous,
            "unmatched": totals.unmatched,
            "skipped": totals.skipped,
            "suggestions": [_suggestion_json(s, keys) for s in found],
        }
        click.echo(orjson.dumps(doc).decode())
        return
    _print_suggestions(found, keys)
    click.echo(f"Records: {totals.records}; matched {sum(totals.matched.values())}")
    for rule in RULES:
        click.echo(f"  by {rule}: {totals.matched[rule]}")
    click.echo(f"Ambiguous: {totals.ambiguous}")
    unmatched = [s.record.record_id for s in found if s.rule is None]
    click.echo(f"Unmatched: {totals.unmatched}" + (f" ({', '.join(unmatched[:SHOWN])})" if unmatched else ""))
    for line in totals.skipped[:SHOWN]:
        click.echo(f"Skipped {line}", err=True)
    if out is not None:
        click.echo(
            f"Wrote {sum(totals.matched.values())} links to {out}; review, then: relay links import {out}"
        )


def _verdict(found: Suggestion) -> str:
    return "unmatched" if found.rule is None else "matched" if found.uuid else "ambiguous"


def _named(uuid: str, keys: CustomerKeys) -> str:
    name = keys.shown_name.get(uuid)
    return f'{uuid} "{name}"' if name else uuid


def _print_suggestions(found: list[Suggestion], keys: CustomerKeys) -> None:
    """One line per record: the CRM's name, → ChartMogul's (each candidate when ambiguous), the rule."""
    heading = ""
    for suggestion in found:
        verdict = _verdict(suggestion)
        if verdict != heading:
            heading = verdict
            click.echo(
                {"ambiguous": "Ambiguous (choose one, or leave out):", "matched": "Matched:"}.get(
                    verdict, "Unmatched:"
                )
            )
        record = suggestion.record
        crm = f'  {record.record_id} ({record.where}) "{suggestion.name}"'
        if verdict == "unmatched":
            click.echo(crm)
            continue
        customers = " | ".join(_named(uuid, keys) for uuid in suggestion.candidates)
        click.echo(f"{crm} → {customers}  [{suggestion.rule} {suggestion.value}]")


def _suggestion_json(found: Suggestion, keys: CustomerKeys) -> dict[str, object]:
    return {
        "crm_id": found.record.record_id,
        "where": found.record.where,
        "crm_name": found.name or None,
        "verdict": _verdict(found),
        "rule": found.rule,
        "value": found.value or None,
        "customer_uuid": found.uuid,
        "customer_name": keys.shown_name.get(found.uuid) if found.uuid else None,
        "candidates": [{"uuid": uuid, "name": keys.shown_name.get(uuid)} for uuid in found.candidates],
    }


def _write_links(path: Path, source: str, found: list[Suggestion], keys: CustomerKeys) -> None:
    """The unambiguous matches in `relay links import` format, with both names and the rule
    beside them for review (import reads only source, crm_id and customer_uuid)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("source", "crm_id", "customer_uuid", "rule", "crm_name", "customer_name"))
        for suggestion in found:
            if suggestion.uuid:
                name = keys.shown_name.get(suggestion.uuid, "")
                row = (
                    source,
                    suggestion.record.record_id,
                    suggestion.uuid,
                    suggestion.rule,
                    suggestion.name,
                    name,
                )
                writer.writerow(row)
