"""Fixtures for the console: the web app with an admin and a viewer token over the simulator
seeded with the demo customers (`make dev`'s), and a client that browses it over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from relay.app import create_app
from relay.settings import Settings
from relay.simulator.seed import DEMO_SEED_PATH, load_seed
from relay.simulator.testing import SimulatorHandle, running_simulator
from tests.admin.helpers import ADMIN_TOKEN
from tests.conftest import SIM_API_KEY, settings_from
from tests.console.browser import browsers
from tests.console.client import VIEWER_TOKEN, ConsoleClient
from tests.servers import running_web_app
from tests.sources.senders import HUBSPOT_SECRET


@pytest.fixture
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(api_key=SIM_API_KEY, seed=load_seed(DEMO_SEED_PATH)) as sim:
        yield sim


@pytest.fixture
def console_env(relay_env: dict[str, str]) -> dict[str, str]:
    return {
        **relay_env,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_CONSOLE_VIEWER_TOKEN": VIEWER_TOKEN,
        "RELAY_HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
    }


@pytest.fixture
def console_settings(console_env: dict[str, str]) -> Settings:
    return settings_from(console_env)


@pytest.fixture
def console_web(console_settings: Settings) -> Iterator[str]:
    with running_web_app(create_app(console_settings)) as base_url:
        yield base_url


@pytest.fixture
def console(console_web: str) -> ConsoleClient:
    return ConsoleClient(console_web)


@pytest.fixture
def browser() -> Iterator[Callable[..., WebDriver]]:
    """`browser(token=…, size=…)`: a real Chromium (tests/console/browser.py), closed after the test."""
    with browsers() as open_one:
        yield open_one
