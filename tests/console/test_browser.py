"""The operator's paths through the console in a real Chromium, end to end: `relay serve`, a
`relay worker` and the ChartMogul simulator (the demo customers), webhooks sent as the CRMs
send them. Each path ends in what ChartMogul holds, not in what a page says."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from relay.simulator.testing import SimulatorHandle
from relay.store import EventStatus, Store
from tests.admin.helpers import ADMIN_TOKEN as ADMIN
from tests.admin.helpers import generic_payload, parsed, seed_dead
from tests.cli import relay_cli
from tests.conftest import GENERIC_SECRET
from tests.console.browser import PHONE, button, link, screenshot, text, wait_for_text
from tests.console.client import ConsoleClient
from tests.servers import ServeProcess, WorkerProcess, event_record, wait_for
from tests.sources.senders import hubspot_event, hubspot_event_id, send_hubspot
from tests.webhooks import iso, send_generic

Run = Callable[[Callable[[Store], Any]], Any]
ROOT = Path(__file__).resolve().parents[2]
EXPORT = ROOT / "deploy" / "examples" / "hubspot-companies.csv"
ACME = "cus_ab223d54-75b4-431b-adb2-eb6b9e234571"
GLOBEX = "cus_3c9e1f70-2b8a-4d6e-9f1a-5e7d2c4b8a01"
INITECH = "cus_8f41d2a6-7c3e-4b19-a0d5-6e2f9b7c1d34"
UMBRELLA = "cus_d07b5e93-1a6f-4c82-b3e4-92a8f0c6e5b7"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def served(
    request: pytest.FixtureRequest,
    console_env: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> Iterator[str]:
    """`relay serve` and `relay worker`, as an operator runs them (with the settings a test
    passes as the fixture's parameter); yields the web app's URL."""
    changed: dict[str, str] = getattr(request, "param", {})
    serve = ServeProcess({**console_env, **changed}, tmp_path / "serve.log")
    start_worker(**changed)
    try:
        yield serve.base_url
    finally:
        serve.stop()


def test_find_an_event_by_its_crm_record_then_its_customer_and_what_chartmogul_holds(
    served: str, browser: Any, simulator: SimulatorHandle, with_store: Run
) -> None:
    async def link_9001(store: Store) -> None:
        await store.links.add({"hubspot:company:9001": ACME})

    with_store(link_9001)
    by_uuid = {"id": "evt_vip", "occurred_at": iso(), "customer": {"uuid": ACME}, "tags": {"add": ["vip"]}}
    assert send_generic(served, GENERIC_SECRET, by_uuid).status == 202  # the same customer, another source
    oakland = hubspot_event(501, 9001, "city", "Oakland")
    assert send_hubspot(served, [oakland]).status == 202
    oakland_id = hubspot_event_id(oakland)
    wait_for(lambda: simulator.stored_customer(ACME)["city"] == "Oakland", timeout_s=20)
    wait_for(lambda: "vip" in simulator.stored_customer(ACME)["attributes"]["tags"], timeout_s=20)
    driver = browser(token=ADMIN)

    driver.get(f"{served}/console/events")
    search = driver.switch_to.active_element  # the search box has the focus: type and press Enter
    assert search.get_attribute("id") == "q"
    search.send_keys("9001", Keys.ENTER)
    body = wait_for_text(driver, oakland_id)
    assert "linked from hubspot:company:9001" in body and "applied" in body
    screenshot(driver, "events")

    driver.find_element(By.CSS_SELECTOR, f'.found a[href="/console/customers/{ACME}"]').click()
    body = wait_for_text(driver, "Timeline")
    assert oakland_id in body and "evt_vip" in body and "hubspot:company:9001" in body
    driver.find_element(By.LINK_TEXT, "Read its current values from ChartMogul").click()
    body = wait_for_text(driver, "high-value")  # a tag only ChartMogul's answer shows
    assert "Oakland" in body and "Acme Corp" in body and "high-value" in body and "vip" in body
    screenshot(driver, "customer")

    driver.find_element(By.CSS_SELECTOR, f'a[href="/console/events/{quote(oakland_id)}"]').click()
    body = wait_for_text(driver, "What the CRM sent")
    assert '"objectId": 9001' in body and "PATCH /v1/customers/" + ACME in body
    kept = driver.find_element(By.ID, "h-kept").find_element(By.XPATH, "..").text
    assert "city" in kept and "kept" in kept and "not kept" not in kept
    screenshot(driver, "event")


def test_fix_a_dead_letter_by_editing_it_and_replaying_it_from_the_page(
    served: str, browser: Any, simulator: SimulatorHandle, redis_url: str
) -> None:
    hot = {"id": "evt_hot", "occurred_at": iso(), "customer": {"uuid": ACME}, "set": {"status": "Hot Lead"}}
    ghost = {
        "id": "evt_ghost",
        "occurred_at": iso(),
        "customer": {"uuid": GLOBEX},
        "set": {"owner": "ghost@globex.example"},
    }
    for event in (hot, ghost):
        assert send_generic(served, GENERIC_SECRET, event).status == 202
    wait_for(lambda: event_record(redis_url, "evt_hot").get("reason") == "invalid_change", timeout_s=20)
    wait_for(lambda: event_record(redis_url, "evt_ghost").get("reason") == "not_applied", timeout_s=20)
    driver = browser(token=ADMIN)

    driver.get(f"{served}/console/dlq")
    body = text(driver)
    assert "invalid_change" in body and "fix the mapping" in body and "add the user" in body
    screenshot(driver, "dead-letters")
    link(driver, "/console/dlq/evt_hot/edit").click()
    wait_for_text(driver, "Edit the stored change")
    status = driver.find_element(By.ID, "fields.status")
    status.clear()
    status.send_keys("Qualified")  # not a lead status: refused, nothing saved
    button(driver, "Save the change").click()
    assert "Not saved" in wait_for_text(driver, "fields.status must be one of")
    status = driver.find_element(By.ID, "fields.status")
    status.clear()
    status.send_keys("Working Lead")
    screenshot(driver, "dead-letter-edit")
    button(driver, "Save the change").click()

    wait_for_text(driver, "The change is saved")
    assert (
        Select(driver.find_element(By.ID, "mode")).first_selected_option.get_attribute("value") == "as_stored"
    )
    button(driver, "Preview replay").click()
    body = wait_for_text(driver, "Replay preview")
    assert '"status": "Working Lead"' in body and "would replay 1" in body
    assert event_record(redis_url, "evt_hot")["status"] == EventStatus.DEAD
    screenshot(driver, "replay-preview")
    button(driver, "Replay 1 event").click()

    wait_for_text(driver, "finished")
    assert "1 of 1 done" in text(driver) and "replayed 1" in text(driver)
    wait_for(lambda: simulator.stored_customer(ACME)["status"] == "Working Lead", timeout_s=20)
    driver.get(f"{served}/console/events/evt_hot")
    body = wait_for_text(driver, "applied", reload=True)
    assert "edited" in body and "replayed" in body


# Automatic replays off: the operator's own way (with them on, the workers re-queue these dead
# letters once the links are in: tests/sources/test_auto_replay_end_to_end.py).
@pytest.mark.parametrize("served", [{"RELAY_AUTO_REPLAY": "0"}], indirect=True)
def test_import_links_from_an_export_then_bulk_replay_with_a_preview(
    served: str, browser: Any, simulator: SimulatorHandle, redis_url: str, console_env: dict[str, str]
) -> None:
    simulator.add_customer({"company": "Initech LLC", "email": "ops@initech.test"})  # two "Initech"s
    events = [hubspot_event(600 + n, 9002 + n, "city", f"Replayed {n}") for n in range(3)]
    assert send_hubspot(served, events).status == 202

    def reasons() -> list[str | None]:
        return [event_record(redis_url, hubspot_event_id(event)).get("reason") for event in events]

    wait_for(lambda: reasons() == ["customer_not_found"] * 3)
    driver = browser(token=ADMIN)

    driver.get(f"{served}/console/links")
    Select(driver.find_element(By.ID, "source")).select_by_value("hubspot")
    driver.find_element(By.ID, "export").send_keys(str(EXPORT))
    button(driver, "Suggest links").click()
    wait_for_text(driver, "Link suggestions")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.links tbody tr")
    assert rows[0].get_attribute("class") == "row-ambiguous" and "Initech LLC" in rows[0].text
    driver.find_element(
        By.CSS_SELECTOR, f'input[type="radio"][value="hubspot:company:9003 {INITECH}"]'
    ).click()
    screenshot(driver, "links")
    button(driver, "Import the ticked links").click()

    imported = wait_for_text(driver, "Imported")
    assert "Imported 4 links" in imported and "automatic replays are off" in imported
    button(driver, "Preview replay of the customer_not_found dead letters").click()
    body = wait_for_text(driver, "Replay preview")
    assert "would replay 3" in body and '"city": "Replayed 2"' in body
    button(driver, "Replay 3 events").click()

    body = wait_for_text(driver, "finished")
    progress = driver.find_element(By.ID, "progress")
    assert (progress.get_attribute("value"), progress.get_attribute("max")) == ("3", "3")
    assert "replayed 3" in body
    screenshot(driver, "bulk-replay")

    def cities() -> list[str]:
        return [simulator.stored_customer(uuid)["city"] for uuid in (GLOBEX, INITECH, UMBRELLA)]

    wait_for(lambda: cities() == [f"Replayed {n}" for n in range(3)], timeout_s=20)

    # A sync run after the links: the page lists it with what it wrote.
    ran = relay_cli(console_env, "sync", "--source", "hubspot", str(EXPORT), "--yes")
    assert ran.returncode == 0, ran.stderr
    driver.get(f"{served}/console/links")
    driver.find_element(By.CSS_SELECTOR, 'a[href^="/console/syncs/"]').click()
    body = wait_for_text(driver, "What it wrote")
    assert "hubspot-companies.csv" in body and "sync:" in body
    screenshot(driver, "sync-run")


def test_without_credentials_or_a_csrf_token_nothing_is_shown_or_changed(
    served: str, browser: Any, with_store: Run, redis_url: str
) -> None:
    async def seed(store: Store) -> None:
        await seed_dead(store, [parsed(generic_payload("evt_keep", ACME, set={"city": "Oslo"}))])

    with_store(seed)
    stranger = browser(token=None)
    stranger.get(f"{served}/console/dlq")
    assert "evt_keep" not in stranger.page_source and "Dead letters" not in text(stranger)
    refused = ConsoleClient(served, token=None).get("/console/dlq")
    assert refused.status == 401 and refused.headers["www-authenticate"].startswith(
        'Basic realm="relay console"'
    )

    driver = browser(token=ADMIN)
    driver.get(f"{served}/console/dlq")
    driver.find_element(By.CSS_SELECTOR, 'input[name="ids"][value="evt_keep"]').click()
    driver.execute_script(
        "document.querySelectorAll('#ticked input[name=csrf_token]').forEach(function (e) { e.remove(); })"
    )
    button(driver, "Purge ticked…").click()

    assert "CSRF token is missing or out of date" in wait_for_text(driver, "Refused")
    assert event_record(redis_url, "evt_keep")["status"] == EventStatus.DEAD
    driver.get(f"{served}/console/dlq")  # the page's own form, token and all, does it
    driver.find_element(By.CSS_SELECTOR, 'input[name="ids"][value="evt_keep"]').click()
    button(driver, "Purge ticked…").click()
    button(driver, "Purge 1 for good").click()
    wait_for_text(driver, "Purged 1 dead letter(s)")
    assert event_record(redis_url, "evt_keep")["status"] == EventStatus.PURGED


PAGES = (
    "/console",
    "/console/events",
    "/console/events/evt_fit",
    f"/console/customers/{ACME}",
    "/console/dlq",
)
LABELLESS = """
return Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(function (e) { return e.type !== 'hidden' && e.type !== 'submit'; })
  .filter(function (e) { return !(e.labels && e.labels.length) && !e.getAttribute('aria-label'); })
  .map(function (e) { return e.name || e.id; });
"""


def test_every_page_is_labelled_usable_by_keyboard_fits_a_phone_and_the_overview_refreshes_itself(
    served: str, browser: Any, with_store: Run
) -> None:
    async def seed(store: Store) -> None:
        await seed_dead(
            store, [parsed(generic_payload("evt_fit", ACME, set={"city": "Oslo", "zip": "0150"}))]
        )

    with_store(seed)
    phone = browser(token=ADMIN, size=PHONE)
    phone.get(f"{served}/console")
    assert phone.execute_script("return window.innerWidth") == PHONE[0]
    for path in (*PAGES, "/console/dlq/evt_fit/edit", "/console/links"):
        phone.get(served + path)
        overflow = phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone"
        assert phone.execute_script(LABELLESS) == [], f"{path} has controls without a label"
    phone.get(f"{served}/console/events")
    screenshot(phone, "phone-events")

    driver = browser(token=ADMIN)
    driver.get(f"{served}/console/dlq")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert driver.switch_to.active_element.text == "Skip to content"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    assert driver.switch_to.active_element.get_attribute("id") == "main"

    driver.get(f"{served}/console")
    driver.execute_script("window.notReloaded = true")
    before = driver.find_element(By.CSS_SELECTOR, ".updated time").get_attribute("datetime")
    hook = generic_payload("evt_live", ACME, set={"city": "Bergen"})
    assert send_generic(served, GENERIC_SECRET, hook).status == 202

    def refreshed() -> bool:
        shown = driver.find_element(By.ID, "live").text
        return "generic 1 0" in shown and driver.execute_script("return window.notReloaded === true")

    wait_for(refreshed, timeout_s=20, interval_s=0.5)
    assert driver.find_element(By.CSS_SELECTOR, ".updated time").get_attribute("datetime") != before
    screenshot(driver, "overview")
