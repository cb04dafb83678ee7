"""`relay status`: the relay on one screen — queues, oldest wait, workers, circuit, rate, DLQ."""

from __future__ import annotations

import click

from relay.admin import render, state
from relay.cli.common import load_settings, run_store
from relay.cli.events import echo_json, echo_lines
from relay.queue import relay_queue, rq_connection
from relay.settings import redacted_url
from relay.store import Store


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The same, as one JSON object.")
def status(as_json: bool) -> None:
    """What the relay is doing now, read from Redis."""
    settings = load_settings()

    async def work(store: Store) -> state.RelayState:
        connection = rq_connection(settings.redis_url)
        try:
            return await state.snapshot(store, relay_queue(connection, settings.queue_name))
        finally:
            connection.close()

    snapshot = run_store(settings, work)
    if as_json:
        echo_json(settings, snapshot.public())
    else:
        echo_lines(settings, render.status_text(snapshot, redis_url=redacted_url(settings.redis_url)))
