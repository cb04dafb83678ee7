"""What every `relay` command shares: settings, logging, a Redis client, clear errors."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import click

from relay.admin import queries
from relay.admin.redaction import Redactor
from relay.crms import MAPPED_SOURCES
from relay.exceptions import StoreUnavailable
from relay.logs import configure_logging
from relay.settings import Settings, get_settings, redacted_url
from relay.sources import crm_names
from relay.store import Store

T = TypeVar("T")

# A TCP port: out of range is a usage error naming the option (exit 2), not bind()'s OverflowError.
PORT = click.IntRange(1, 65535)


class CrmName(click.ParamType[str, str]):
    """A CRM with a mapping: a built-in one, or one declared by a file in RELAY_MAPPING_DIR."""

    name = "source"
    built_in: tuple[str, ...] = MAPPED_SOURCES

    def names(self) -> tuple[str, ...]:
        return crm_names(get_settings().mapping_dir)

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[" + "|".join(self.built_in) + "|<declared>]"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        names = self.names()
        if value in names:
            return str(value)
        self.fail(
            f"{value!r} is not one of {', '.join(names)} (a source declared by a file counts once its "
            "RELAY_MAPPING_DIR/<name>.toml holds a valid [source] table: relay map check)",
            param,
            ctx,
        )


class EventSource(CrmName):
    """Where an event may come from: any webhook source (built in or declared), or `sync`."""

    built_in = queries.SOURCES

    def names(self) -> tuple[str, ...]:
        return queries.event_sources(super().names())


def load_settings() -> Settings:
    settings = get_settings()
    configure_logging(
        level=settings.log_level, fmt=settings.log_format, redact=Redactor.from_settings(settings).text
    )
    return settings


def run_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run `work(store)` with a short-lived Redis client, turning Redis errors into one clear line."""

    async def main() -> T:
        store = Store.from_url(
            settings.redis_url,
            event_ttl_s=settings.event_ttl_s,
            dlq_ttl_s=settings.dlq_ttl_s,
            dlq_mirror_queue=settings.queue_name,
        )
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(main())
    except StoreUnavailable as exc:
        raise click.ClickException(
            f"cannot reach Redis at {redacted_url(settings.redis_url)} (RELAY_REDIS_URL): {exc.cause}"
        ) from None


@contextlib.contextmanager
def progress(length: int, label: str) -> Iterator[Any]:
    """click's progress bar on stderr; off a terminal click prints only the label, so the line is
    ended here (the next line of output must not run on after it)."""
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar
    if not sys.stderr.isatty():
        click.echo("", err=True)
