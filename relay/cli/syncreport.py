"""What `relay sync` prints: each customer's changes, the totals before enqueueing, and the
summary of what a run really did — the same for an export file and for a CRM's API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from relay.sync.plan import Planned, StaleChange, Totals
from relay.sync.run import Enqueuer
from relay.times import iso


@dataclass(frozen=True)
class Wording:
    """What a run's records are as of, in the operator's words: a file's --as-of, or when the
    CRM changed each record (records read from its API)."""

    crm: str | None = None  # "HubSpot" for records read from its API; None: an export file

    def as_of(self, planned: Planned) -> str:
        at = iso(planned.occurred_at_ms)
        return f"--as-of {at}" if self.crm is None else f"the change in {self.crm} at {at}"

    @property
    def stale_hint(self) -> str:
        if self.crm is None:
            return (
                "a change applied after --as-of won; if the export is newer, run with a later "
                "--as-of, e.g. --as-of now"
            )
        return f"a change applied after the record's change in {self.crm} won"

    @property
    def earlier_runs(self) -> str:
        if self.crm is None:
            return "an earlier run of this export with the same --as-of"
        return f"an earlier run that read the same changes from {self.crm}"


def show(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def customer_json(planned: Planned) -> dict[str, Any]:
    return {
        "crm_record": planned.crm_record,
        "where": planned.record.where,
        "customer_uuid": planned.uuid,
        "as_of": iso(planned.occurred_at_ms),
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


def stale_line(stale: StaleChange, planned: Planned, wording: Wording) -> str:
    newer = stale.newer_event or "a change"
    return (
        f"  {stale.change.name}: {show(stale.change.current)} → {show(stale.change.new)}"
        f"  (stale, not sent: {newer} at {iso(stale.newer_at_ms)} is newer than {wording.as_of(planned)})"
    )


def print_customer(planned: Planned, wording: Wording) -> None:
    target = planned.uuid or 'a new ChartMogul lead (unmatched = "create")'
    click.echo(f"{planned.crm_record} ({planned.record.where}) → {target}")
    for change in planned.changes:
        click.echo(f"  {change.name}: {show(change.current)} → {show(change.new)}")
    for stale in planned.stale:
        click.echo(stale_line(stale, planned, wording))


def print_totals(
    totals: Totals, rate: float, wording: Wording, *, err: bool = False, real_run: bool = False
) -> None:
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
    if totals.to_create:
        echo(f'Leads to create (unmatched = "create"): {totals.to_create}', err=err)
    echo(f"Skipped (bad input): {totals.skipped}", err=err)
    for line in totals.skipped_records[:10]:
        echo(f"  {line}", err=err)
    fields = ", ".join(f"{name} {count}" for name, count in totals.fields.most_common())
    echo(f"Fields to change: {fields or 'none'}", err=err)
    if totals.stale:
        stale = ", ".join(f"{name} {count}" for name, count in totals.stale_fields.most_common())
        echo(f"Stale, not sent: {stale} in {totals.stale} record(s) ({wording.stale_hint})", err=err)
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(totals.calls.items()))
    spend = "API calls this run spends" if real_run else "API calls the real run will spend"
    echo(f"{spend}: {doc['api_calls']} ({kinds})", err=err)
    echo(f"Time at {rate:g} requests/s: {doc['seconds_at_rate']:g} s", err=err)


def print_summary(enqueuer: Enqueuer, totals: Totals, wording: Wording) -> None:
    """What the run really did: only what it enqueued is counted as enqueued."""
    already = enqueuer.already
    stale = sum(totals.stale_fields.values())
    click.echo(
        f"Enqueued {enqueuer.enqueued} changes"
        + (f" ({totals.to_create} of them create a lead)" if totals.to_create else "")
        + f"; {totals.unmatched} unmatched, {totals.skipped} skipped"
        + (f"; {stale} stale field(s) not sent." if stale else ".")
    )
    if already:
        states = ", ".join(f"{count} {status}" for status, count in already.most_common())
        click.echo(f"Not enqueued again: {sum(already.values())} made by {wording.earlier_runs} ({states}).")
        if wording.crm is None and (already["applied"] or already["stale"]):
            click.echo(
                "If ChartMogul has drifted since, run again with a later --as-of (e.g. --as-of now) to "
                "repair it."
            )
    if enqueuer.enqueued:
        click.echo("Watch delivery: relay status; relay events list --source sync; relay dlq list")
