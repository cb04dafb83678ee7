"""The `relay` command line."""

from __future__ import annotations

import asyncio
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click
import orjson
import redis

from relay.ledger import Ledger, connect
from relay.logs import configure_logging
from relay.settings import MissingSetting, Settings, get_settings


def redacted(url: str) -> str:
    """A URL safe to print: any password replaced."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def load_settings() -> Settings:
    settings = get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return settings


def run_ledger(settings: Settings, work: Any) -> Any:
    """Run `work(ledger)` with a short-lived Redis client, turning Redis errors into one clear line."""

    async def main() -> Any:
        client = connect(settings.redis_url)
        try:
            return await work(Ledger(client, event_ttl_s=settings.event_ttl_s))
        finally:
            await client.aclose()

    try:
        return asyncio.run(main())
    except (redis.ConnectionError, OSError) as exc:
        raise click.ClickException(
            f"cannot reach Redis at {redacted(settings.redis_url)} (RELAY_REDIS_URL): {type(exc).__name__}"
        ) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chartmogul-relay")
def cli() -> None:
    """chartmogul-relay: keeps ChartMogul customers in step with your CRM."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--proxy-headers/--no-proxy-headers", default=False, help="Trust X-Forwarded-* (behind a proxy)."
)
def serve(host: str, port: int, proxy_headers: bool) -> None:
    """Run the web app (webhooks, health, admin) under uvicorn."""
    import uvicorn

    from relay.app import create_app
    from relay.sources import enabled_sources

    settings = load_settings()
    if not enabled_sources(settings):
        raise click.ClickException(
            "no webhook source is configured: set RELAY_GENERIC_SECRET (a whsec_… secret) "
            "or a CRM's secret (see the README's settings table)"
        )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=proxy_headers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@cli.command()
@click.option("--burst", is_flag=True, help="Deliver what is waiting, then exit.")
def worker(burst: bool) -> None:
    """Run an RQ worker that delivers changes to ChartMogul."""
    from workers.worker import run_worker

    settings = load_settings()
    try:
        run_worker(settings, burst=burst)
    except redis.ConnectionError as exc:
        raise click.ClickException(
            f"cannot reach Redis at {redacted(settings.redis_url)} (RELAY_REDIS_URL): {type(exc).__name__}"
        ) from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--api-key", default="sim_key", show_default=True, help="The API key the simulator accepts.")
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON with customers, users, custom_attributes.",
)
def simulator(host: str, port: int, api_key: str, seed: str | None) -> None:
    """Run the bundled ChartMogul simulator (a stand-in API for tests and demos)."""
    from relay.simulator import run_simulator

    load_settings()
    run_simulator(host, port, api_key, seed)


@cli.command()
@click.option("--port", default=8000, show_default=True, type=int, help="Web app port.")
@click.option("--simulator-port", default=8090, show_default=True, type=int)
def dev(port: int, simulator_port: int) -> None:
    """Run everything locally: Redis (if needed), web, worker, and the simulator when no API key is set."""
    from relay.dev import run_dev

    sys.exit(run_dev(web_port=port, simulator_port=simulator_port))


@cli.group()
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


def main() -> None:
    try:
        cli(standalone_mode=True)
    except MissingSetting as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
