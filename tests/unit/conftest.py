"""Unit tests run the code under test directly; where it keeps state, against the real test Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from relay.store import Store

T = TypeVar("T")


@pytest.fixture
def with_store(redis_url: str) -> Callable[[Callable[[Store], Awaitable[T]]], T]:
    """Run `work(store)` on a fresh event loop with a Store on the (flushed) test Redis."""

    def run(work: Callable[[Store], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            store = Store.from_url(redis_url)
            try:
                return await work(store)
            finally:
                await store.aclose()

        return asyncio.run(main())

    return run
