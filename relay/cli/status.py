"""`relay status`: the relay on one screen — queues, oldest wait, workers, circuit, rate, DLQ."""

from __future__ import annotations

import click

from relay.admin import render, state
from relay.cli.common import load_settings, redacted, run_ledger
from relay.cli.events import echo_json, echo_lines
from relay.ledger import Ledger
from relay.wakeup import rq_connection


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The same, as one JSON object.")
def status(as_json: bool) -> None:
    """What the relay is doing now, read from Redis."""
    settings = load_settings()

    async def work(ledger: Ledger) -> state.RelayState:
        connection = rq_connection(settings.redis_url)
        try:
            return await state.snapshot(ledger.redis, connection, settings.queue_name)
        finally:
            connection.close()

    snapshot = run_ledger(settings, work)
    if as_json:
        echo_json(settings, snapshot.public())
    else:
        echo_lines(settings, render.status_text(snapshot, redis_url=redacted(settings.redis_url)))
