"""ChartMogul's API for commands that read the account (`relay sync`, `relay links suggest`) and
the console (a customer's current values, link suggestions).

The client is the workers' own (relay/chartmogul/), so its calls share the fleet's rate limit
with delivery: a sync never starves delivery of its budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from relay.chartmogul import ChartMogulClient, RateLimiter
from relay.settings import Settings
from relay.store import Store

# The one line a missing key gets from a command that reads the account (links suggest, sync).
READS_ACCOUNT = "this command reads your ChartMogul account's customers with your API key"


@asynccontextmanager
async def chartmogul_client(settings: Settings, store: Store) -> AsyncIterator[ChartMogulClient]:
    """The one ChartMogul client, its calls under the fleet's shared rate limit."""
    limiter = RateLimiter(
        store.limits,
        per_s=settings.rate_limit_per_s,
        max_connections=settings.max_connections,
        slot_ttl_s=settings.http_timeout_s + 5,
    )
    async with aiohttp.ClientSession() as session:
        yield ChartMogulClient(
            session,
            base_url=settings.chartmogul_api_base,
            api_key=settings.require_api_key(READS_ACCOUNT),
            timeout_s=settings.http_timeout_s,
            limiter=limiter,
        )


@asynccontextmanager
async def customer_pages(
    settings: Settings, store: Store
) -> AsyncIterator[AsyncIterator[list[dict[str, Any]]]]:
    """The account's customers, a page of 200 at a time, through the shared rate limit."""
    async with chartmogul_client(settings, store) as client:
        yield client.list_customers()
