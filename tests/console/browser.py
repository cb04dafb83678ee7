"""A real browser for the console's tests: Debian's `chromium`, driven by selenium through
Debian's `chromium-driver`. Installed with apt-get when missing (as .ci/run does); the tests
skip, saying why, only where neither is installed nor installable.

Screenshots: with RELAY_CONSOLE_SCREENSHOTS=<dir> (`make screenshots`), the tests save each page
they walk through as <dir>/<name>.png, the whole page at a laptop's width.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.servers import wait_for

# As root on a machine with a closed network: no sandbox, and none of the background
# connections Chromium makes on its own (they are refused here and slow every start).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
LAPTOP = (1280, 900)
PHONE = (390, 844)
MAX_SHOT_HEIGHT = 2600
_install_tried = False


def binaries() -> tuple[str, str]:
    """(chromium, chromedriver), installing Debian's packages once if they are missing."""
    global _install_tried
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if None in found and not _install_tried and shutil.which("apt-get") and os.geteuid() == 0:
        _install_tried = True
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
        ):
            subprocess.run(argv, env=env, capture_output=True, timeout=900, check=False)
        found = shutil.which("chromium"), shutil.which("chromedriver")
    chromium, driver = found
    if chromium is None or driver is None:
        pytest.skip(
            "no browser: chromium and chromium-driver are not installed and could not be installed "
            "here (apt-get install chromium chromium-driver, as .ci/run does)"
        )
    return chromium, driver


def open_chromium(user_data_dir: Path, *, token: str | None, size: tuple[int, int] = LAPTOP) -> WebDriver:
    """A fresh headless Chromium; with `token`, every request it sends carries it as the HTTP
    Basic password (what a browser sends once its operator answered the login prompt)."""
    chromium, driver_path = binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    options.add_argument(f"--user-data-dir={user_data_dir}")
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(30)
    # The viewport exactly (a headless window is at least 500 px wide), a phone's as a phone's.
    metrics = {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    if token is not None:
        credentials = base64.b64encode(f"ops:{token}".encode()).decode()
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {credentials}"}}
        )
    return driver


@contextlib.contextmanager
def browsers() -> Iterator[Callable[..., WebDriver]]:
    """`open(token=…, size=…)` opens a Chromium; every one opened is closed at the end."""
    with contextlib.ExitStack() as stack:

        def open_one(*, token: str | None, size: tuple[int, int] = LAPTOP) -> WebDriver:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="relay-chromium-"))
            driver = open_chromium(Path(directory), token=token, size=size)
            stack.callback(driver.quit)
            return driver

        yield open_one


def screenshot(driver: WebDriver, name: str) -> None:
    """The whole page as <RELAY_CONSOLE_SCREENSHOTS>/<name>.png (nothing without the setting)."""
    folder = os.environ.get("RELAY_CONSOLE_SCREENSHOTS")
    if not folder:
        return
    content = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    width = driver.execute_script("return window.innerWidth")
    clip = {"x": 0, "y": 0, "width": width, "height": min(content["height"], MAX_SHOT_HEIGHT), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def text(driver: WebDriver) -> str:
    """The page's visible text; "" while a navigation replaces the page."""
    try:
        return str(driver.find_element(By.TAG_NAME, "body").text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def wait_for_text(driver: WebDriver, wanted: str, *, timeout_s: float = 20, reload: bool = False) -> str:
    """The page's text once it shows `wanted` (reloading it meanwhile when `reload`)."""

    def shows() -> str | None:
        if reload:
            driver.refresh()
        body = text(driver)
        return body if wanted in body else None

    return str(wait_for(shows, timeout_s=timeout_s, interval_s=0.3))


def link(driver: WebDriver, href: str, *, timeout_s: float = 15) -> WebElement:
    """The link to `href`, once the page shows it."""

    def found() -> WebElement | None:
        links = driver.find_elements(By.CSS_SELECTOR, f'a[href="{href}"]')
        return links[0] if links else None

    return wait_for(found, timeout_s=timeout_s, interval_s=0.1)  # type: ignore[no-any-return]


def button(driver: WebDriver, label: str, *, timeout_s: float = 15) -> WebElement:
    """The button labelled so, once the page (perhaps still loading after a click) shows it."""

    def found() -> WebElement | None:
        try:
            buttons = driver.find_elements(By.CSS_SELECTOR, "button")
            return next((b for b in buttons if b.text.strip() == label), None)
        except StaleElementReferenceException:  # the page was replaced meanwhile
            return None

    try:
        return wait_for(found, timeout_s=timeout_s, interval_s=0.1)  # type: ignore[no-any-return]
    except AssertionError:
        raise AssertionError(f"no button {label!r} on {driver.current_url}") from None
