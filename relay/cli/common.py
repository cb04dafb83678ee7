"""What every `relay` command shares: settings, logging, a Redis client, clear errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import click
import redis

from relay.admin.redaction import Redactor
from relay.crms import MAPPED_SOURCES
from relay.logs import configure_logging
from relay.settings import Settings, get_settings
from relay.sources import crm_names
from relay.store import Store

T = TypeVar("T")


def redacted(url: str) -> str:
    """A URL safe to print: any password replaced."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class CrmName(click.ParamType[str, str]):
    """A CRM with a mapping: a built-in one, or one declared by a file in RELAY_MAPPING_DIR."""

    name = "source"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[" + "|".join(MAPPED_SOURCES) + "|<declared>]"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        names = crm_names(get_settings().mapping_dir)
        if value in names:
            return str(value)
        self.fail(
            f"{value!r} is not one of {', '.join(names)} (a source declared by a file counts once its "
            "RELAY_MAPPING_DIR/<name>.toml holds a valid [source] table: relay map check)",
            param,
            ctx,
        )


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
            settings.redis_url, event_ttl_s=settings.event_ttl_s, dlq_mirror_queue=settings.queue_name
        )
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(main())
    except (redis.ConnectionError, OSError) as exc:
        raise click.ClickException(
            f"cannot reach Redis at {redacted(settings.redis_url)} (RELAY_REDIS_URL): {type(exc).__name__}"
        ) from None
