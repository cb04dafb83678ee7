"""`relay map`: check mapping files, and explain what a CRM's webhook would become.

    relay map check
    relay map explain --source hubspot events.json      (salesforce: the Outbound Message XML)
    relay map explain --source zoho body.json           (a source declared in RELAY_MAPPING_DIR)

`explain` runs the source's parsing and the current mapping on a body saved from the CRM
(signature checks skipped) and prints, per event, the canonical change, its notes, the PATCH
body its fields make and what the contract says about it. Tag and custom attribute changes are
shown as operations: the body that carries them is merged with the live customer at delivery.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from relay.changes import CustomerChange
from relay.cli.common import CrmName, load_settings
from relay.crms import MAPPED_SOURCES
from relay.events import IncomingWebhook, ParsedEvent
from relay.exceptions import WebhookError
from relay.mapping.config import DEFAULTS_DIR, MappingError, check_mappings
from relay.settings import source_secret_env
from relay.sources import declared, mapped_crm


@click.group("map")
def mapping() -> None:
    """Mapping files: which CRM property becomes which ChartMogul field."""


@mapping.command("check")
def map_check() -> None:
    """Validate every mapping file (shipped defaults and RELAY_MAPPING_DIR, declared sources
    too); non-zero if any is wrong."""
    settings = load_settings()
    results = check_mappings(settings.mapping_dir)
    scanned = declared.scan(settings.mapping_dir)
    results.update({str(d.path): [] for d in scanned.declarations.values()} | scanned.problems)
    shipped = str(DEFAULTS_DIR)  # the shipped defaults first, then the directory's files by name
    results = dict(sorted(results.items(), key=lambda item: (not item[0].startswith(shipped), item[0])))
    failed = False
    for path, problems in results.items():
        if problems:
            failed = True
            click.echo(f"FAIL {path}")
            for problem in problems:
                click.echo(f"  {problem}", err=True)
        else:
            click.echo(f"ok   {path}")
    if settings.mapping_dir:
        for source in MAPPED_SOURCES:
            override = Path(settings.mapping_dir) / f"{source}.toml"
            if override.is_file():
                click.echo(f"{source}: {override} replaces the shipped default")
    for name, declaration in scanned.declarations.items():
        why = declared.secret_problem(declaration, settings)
        state = "is set" if settings.declared_secret(name) else "is not set: the endpoint answers 404"
        failed = failed or why is not None
        secret = why or f"{source_secret_env(name)} {state}"
        click.echo(f"{name}: POST /webhooks/{name} ({declaration.spec.auth.kind}); {secret}")
    if failed:
        sys.exit(1)


@mapping.command("explain")
@click.option("--source", "source_name", required=True, type=CrmName())
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
def map_explain(source_name: str, file: Path, as_json: bool) -> None:
    """Show what FILE (a body the CRM would POST) becomes, event by event."""
    settings = load_settings()
    try:
        source = mapped_crm(source_name, settings.mapping_dir)
    except MappingError as exc:
        raise click.ClickException(str(exc)) from None
    current = source.mapping
    webhook = IncomingWebhook(
        method="POST",
        url=f"https://relay.invalid/webhooks/{source_name}",
        headers={},
        body=file.read_bytes(),
    )
    try:
        events = source.parse(webhook)
    except WebhookError as exc:
        raise click.ClickException(
            f"the relay would refuse this body ({exc.status_code}): {exc.message}"
        ) from None
    click.echo(f"# {source_name}: {len(events)} event(s), mapping {current.path}", err=True)
    for event in events:
        report = explain_event(event)
        if as_json:
            click.echo(orjson.dumps(report).decode())
        else:
            click.echo(render(report))


def explain_event(event: ParsedEvent) -> dict[str, Any]:
    from relay.contract import validate_update

    change = event.change
    body = patch_fields(change)
    return {
        "event_id": change.event_id,
        "customer": {k: v for k, v in _customer(change).items() if v},
        "occurred_at": datetime.fromtimestamp(change.occurred_at_ms / 1000, UTC).isoformat(),
        "status": "dead_letter" if event.invalid else "ignored" if event.ignored_reason else "queued",
        "ignored_reason": event.ignored_reason,
        "invalid": event.invalid,
        "links": event.links,
        "parents": dict(event.parents or {}),
        "merged_records": change.merged_records,
        "patch_body": body,
        "tags": {"add": change.tags_add, "remove": change.tags_remove},
        "custom": {
            "set": {
                k: {"value": v, "type": change.custom_types.get(k)} for k, v in change.custom_set.items()
            },
            "remove": change.custom_remove,
        },
        "notes": change.notes,
        "contract_violations": [str(v) for v in validate_update(body)] if body else [],
        "change": orjson.loads(change.to_json()),
    }


def patch_fields(change: CustomerChange) -> dict[str, Any]:
    """The PATCH body the change's fields make, as delivery builds it (attributes left out)."""
    from relay.coalesce import coalesce

    return dict(coalesce([change]).fields)


def _customer(change: CustomerChange) -> dict[str, Any]:
    ref = change.customer
    return {
        "uuid": ref.uuid,
        "crm_record": ref.crm_record,
        "external_id": ref.external_id,
        "data_source_uuid": ref.data_source_uuid,
        "email": ref.email,
    }


def render(report: dict[str, Any]) -> str:
    customer = ", ".join(f"{k} {v}" for k, v in report["customer"].items())
    lines = [
        f"event {report['event_id']}",
        f"  customer   {customer}",
        f"  occurred   {report['occurred_at']}",
    ]
    if report["invalid"]:
        lines.append(f"  DEAD       invalid_event: {report['invalid']}")
    if report["ignored_reason"]:
        lines.append(f"  ignored    {report['ignored_reason']}")
    for record, uuid in report["links"].items():
        lines.append(f"  links      {record} -> {uuid}")
    for record, parent in report["parents"].items():
        lines.append(f"  parent     {record} -> {parent or 'none'}")
    if report["merged_records"]:
        lines.append(f"  merges     {', '.join(report['merged_records'])} (their links follow)")
    if report["patch_body"]:
        lines.append("  PATCH /v1/customers/{uuid}")
        lines.append(
            "    "
            + orjson.dumps(report["patch_body"], option=orjson.OPT_INDENT_2).decode().replace("\n", "\n    ")
        )
    tags = report["tags"]
    if tags["add"] or tags["remove"]:
        ops = [f"+{t}" for t in tags["add"]] + [f"-{t}" for t in tags["remove"]]
        lines.append(f"  tags       {' '.join(ops)}   (merged into the customer's current tags)")
    custom = report["custom"]
    if custom["set"] or custom["remove"]:
        ops = [
            f"{k}={orjson.dumps(v['value']).decode()} ({v['type'] or 'type not declared'})"
            for k, v in custom["set"].items()
        ]
        ops += [f"remove {k}" for k in custom["remove"]]
        lines.append(f"  custom     {'; '.join(ops)}   (merged into the current custom attributes)")
    for note in report["notes"]:
        lines.append(f"  note       {note}")
    if report["contract_violations"]:
        for violation in report["contract_violations"]:
            lines.append(f"  VIOLATION  {violation}")
    elif report["patch_body"]:
        lines.append("  contract   ok")
    return "\n".join(lines) + "\n"
