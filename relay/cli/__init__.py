"""The `relay` command line: one group, one module per command family."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from relay.cli.common import PORT, load_settings
from relay.cli.dlq import dlq
from relay.cli.errors import TRANSLATED, UNREACHABLE, one_line, port_in_use, require_free_port
from relay.cli.events import events
from relay.cli.links import links
from relay.cli.mapping import mapping
from relay.cli.send import send
from relay.cli.status import status
from relay.cli.sync import sync


class RelayGroup(click.Group):
    """The `relay` group: whatever command raises one of the mistakes relay/cli/errors.py knows
    (a bad setting, Redis or ChartMogul unreachable, a refused key), the operator sees one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TRANSLATED as exc:
            raise one_line(exc) from None


@click.group(cls=RelayGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chartmogul-relay")
def cli() -> None:
    """chartmogul-relay: keeps ChartMogul customers in step with your CRM."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=PORT)
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
            "no webhook source is configured: set RELAY_GENERIC_SECRET (a whsec_… secret), "
            "a CRM's secret, or a declared source's RELAY_SOURCE_<NAME>_SECRET (see the README's "
            "settings table)"
        )
    require_free_port(host, port)
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
@click.option(
    "--metrics-port", type=PORT, default=None, help="Serve this worker's Prometheus metrics on this port."
)
def worker(burst: bool, metrics_port: int | None) -> None:
    """Run an RQ worker that delivers changes to ChartMogul."""
    from workers.worker import run_worker

    settings = load_settings()
    if metrics_port is not None:
        require_free_port("0.0.0.0", metrics_port, "--metrics-port")
    run_worker(settings, burst=burst, metrics_port=metrics_port)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=PORT)
@click.option("--api-key", default="sim_key", show_default=True, help="The API key the simulator accepts.")
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON with customers, users, custom_attributes.",
)
@click.option(
    "--behaviour",
    multiple=True,
    metavar="KEY=VALUE",
    help="A behaviour switch, e.g. unknown_owner=reject (repeatable; see GET /_sim/behaviour).",
)
def simulator(host: str, port: int, api_key: str, seed: str | None, behaviour: tuple[str, ...]) -> None:
    """Run the bundled ChartMogul simulator (a stand-in API for tests and demos)."""
    from relay.simulator import run_simulator
    from relay.simulator.customers import InvalidSetup

    load_settings()
    require_free_port(host, port)
    try:
        run_simulator(host, port, api_key, seed, behaviour)
    except InvalidSetup as exc:
        raise click.BadParameter(str(exc), param_hint="--behaviour or --seed") from None
    except OSError as exc:  # taken between the check and the bind
        raise port_in_use(host, port, "--port", exc) from None


@cli.command()
@click.option("--port", default=8000, show_default=True, type=PORT, help="Web app port.")
@click.option("--simulator-port", default=8090, show_default=True, type=PORT)
def dev(port: int, simulator_port: int) -> None:
    """Run everything locally: Redis (if needed), web, worker, and the simulator when no API key is set."""
    from relay.dev import run_dev

    settings = load_settings()
    # Refused before anything starts: "running" must never be printed over a port another owns.
    require_free_port("127.0.0.1", port)
    if settings.chartmogul_api_key is None:  # the simulator runs too
        require_free_port("127.0.0.1", simulator_port, "--simulator-port")
    sys.exit(run_dev(web_port=port, simulator_port=simulator_port))


cli.add_command(dlq)
cli.add_command(links)
cli.add_command(events)
cli.add_command(status)
cli.add_command(mapping)
cli.add_command(sync)
cli.add_command(send)


def main() -> None:
    # The group turns every known mistake into one line; what is left is a bug of ours, said in
    # one line too (RELAY_LOG_LEVEL=DEBUG shows its traceback).
    try:
        cli(standalone_mode=True)
    except Exception as exc:
        if os.environ.get("RELAY_LOG_LEVEL", "").upper() == "DEBUG":
            raise
        click.echo(
            f"Error: unexpected {type(exc).__name__}: {str(exc)[:300]} (a bug in the relay; "
            "run again with RELAY_LOG_LEVEL=DEBUG for the traceback, and report it)",
            err=True,
        )
        sys.exit(UNREACHABLE)
