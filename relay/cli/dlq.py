"""`relay dlq`: the dead-letter queue — events ChartMogul rejected or that ran out of retries."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from relay.cli.common import load_settings, run_ledger
from relay.ledger import Ledger


@click.group()
def dlq() -> None:
    """The dead-letter queue: events ChartMogul rejected or that ran out of retries."""


@dlq.command("list")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def dlq_list(limit: int, as_json: bool) -> None:
    """List dead-lettered events, newest first."""
    settings = load_settings()

    async def work(ledger: Ledger) -> list[dict[str, Any]]:
        return [r.to_public() for r in await ledger.dead_letters(limit=limit)]

    records: list[dict[str, Any]] = run_ledger(settings, work)
    if as_json:
        for record in records:
            click.echo(orjson.dumps(record).decode())
        return
    if not records:
        click.echo("The dead-letter queue is empty.")
        return
    click.echo(f"{'EVENT':<32} {'SOURCE':<10} {'CUSTOMER':<42} {'REASON':<20} ERROR")
    for r in records:
        reason, error = r.get("reason", ""), r.get("error", "")
        click.echo(f"{r['event_id']:<32} {r['source']:<10} {r['customer']:<42} {reason:<20} {error}")


@dlq.command("replay")
@click.argument("event_ids", nargs=-1, required=True)
def dlq_replay(event_ids: tuple[str, ...]) -> None:
    """Queue dead-lettered events again (after fixing what made them fail)."""
    settings = load_settings()
    from relay.wakeup import enqueue_wakeup, relay_queue, rq_connection

    async def work(ledger: Ledger) -> dict[str, int]:
        return {event_id: await ledger.replay(event_id) for event_id in event_ids}

    results: dict[str, int] = run_ledger(settings, work)
    failed = False
    for event_id, result in results.items():
        if result == 1:
            click.echo(f"{event_id}: queued again")
        elif result == 0:
            click.echo(f"{event_id}: not in the dead-letter queue", err=True)
            failed = True
        else:
            click.echo(f"{event_id}: its record has expired; it cannot be replayed", err=True)
            failed = True
    if any(r == 1 for r in results.values()):
        enqueue_wakeup(relay_queue(rq_connection(settings.redis_url), settings.queue_name))
    if failed:
        sys.exit(1)
