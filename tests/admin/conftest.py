"""Fixtures for the operator surface: a web app with the admin token, an HTTP client for it,
and dead letters seeded through the store's own API (`with_store` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest

from relay.app import create_app
from relay.settings import Settings
from tests.admin.helpers import ADMIN_TOKEN, AdminClient
from tests.conftest import settings_from
from tests.servers import running_web_app

T = TypeVar("T")


@pytest.fixture
def admin_env(relay_env: dict[str, str]) -> dict[str, str]:
    return {**relay_env, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN}


@pytest.fixture
def admin_settings(admin_env: dict[str, str]) -> Settings:
    return settings_from(admin_env)


@pytest.fixture
def admin_web(admin_settings: Settings) -> Iterator[str]:
    with running_web_app(create_app(admin_settings)) as base_url:
        yield base_url


@pytest.fixture
def admin(admin_web: str) -> AdminClient:
    return AdminClient(admin_web)
