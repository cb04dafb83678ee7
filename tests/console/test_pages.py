"""The console's pages over real HTTP, against records seeded through the store's own API and
the simulator seeded with the demo customers: search, one event, one customer, editing,
replaying and purging dead letters, link suggestions, sync runs, the overview's numbers."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from relay.admin.advice import NEXT_STEPS
from relay.app import create_app
from relay.changes import CustomerChange, CustomerRef
from relay.events import ParsedEvent
from relay.simulator.testing import SimulatorHandle
from relay.store import EventStatus, Outcome, Store, now_ms
from tests.admin.helpers import UUID_B, generic_payload, parsed, seed_dead, settle_as_worker
from tests.cli import relay_cli
from tests.conftest import GENERIC_SECRET, settings_from
from tests.console.client import ConsoleClient
from tests.servers import event_record, running_web_app, wait_for
from tests.webhooks import post, send_generic

Run = Callable[[Callable[[Store], Any]], Any]
ROOT = Path(__file__).resolve().parents[2]
ACME = "cus_ab223d54-75b4-431b-adb2-eb6b9e234571"
GLOBEX = "cus_3c9e1f70-2b8a-4d6e-9f1a-5e7d2c4b8a01"


def crm_event(event_id: str, record: str, **fields: Any) -> ParsedEvent:
    """An event as the HubSpot source makes it: its customer named by the CRM record only."""
    change = CustomerChange(
        event_id=event_id,
        source="hubspot",
        occurred_at_ms=now_ms() - 1000,
        customer=CustomerRef(crm_record=record),
        fields=fields,
    )
    raw = {
        "objectId": int(record.rpartition(":")[2]),
        "propertyName": "city",
        "propertyValue": fields.get("city"),
    }
    return ParsedEvent(change=change, raw=orjson.dumps(raw).decode())


def listed_events(page: str) -> list[str]:
    """The event ids of a listing's rows, in order."""
    return re.findall(r'<td[^>]*><a class="mono" href="/console/events/[^"]+">([^<]+)</a></td>\s*</tr>', page)


def test_one_search_box_finds_events_by_any_name_of_their_customer(
    console: ConsoleClient, with_store: Run
) -> None:
    async def seed(store: Store) -> None:
        await store.ledger.accept_many([crm_event("hubspot:1", "hubspot:company:9001", city="Oakland")])
        await store.links.add({"hubspot:company:9001": ACME})
        await store.ledger.accept_many(
            [
                parsed(generic_payload("evt_acme", ACME, set={"company": "Acme Corp"})),
                parsed(
                    {
                        **generic_payload("evt_ext", ACME),
                        "customer": {"external_id": "crm-1002"},
                        "set": {"zip": "1"},
                    }
                ),
                parsed(
                    {
                        **generic_payload("evt_mail", ACME),
                        "customer": {"email": "jonas@globex.example"},
                        "set": {"zip": "2"},
                    }
                ),
                parsed(generic_payload("evt_other", UUID_B, set={"city": "Paris"})),
            ]
        )

    with_store(seed)

    def found(text: str, **filters: str) -> list[str]:
        page = console.get(
            "/console/events?" + "&".join(f"{k}={v}" for k, v in {"q": text, **filters}.items())
        )
        assert page.status == 200, page.text
        return listed_events(page.text)

    assert found("9001") == ["evt_acme", "hubspot:1"]  # the record's own event and its linked customer's
    assert found("hubspot:company:9001") == ["evt_acme", "hubspot:1"]
    assert found(ACME) == ["evt_acme", "hubspot:1"]
    assert found("crm-1002") == ["evt_ext"]
    assert found("jonas@globex.example") == ["evt_mail"]
    # No key is named so: the company name a change carries leads to its customer's events.
    assert found("acme") == ["evt_acme", "hubspot:1"]
    assert found("evt_other") == ["evt_other"]
    assert found("9001", source="hubspot") == ["hubspot:1"]
    assert found("", status="queued")[:2] == ["evt_other", "evt_mail"]
    assert found("nobody-at-all") == []
    assert "linked from hubspot:company:9001" in console.get("/console/events?q=9001").text


def test_events_page_through_with_cursors(console: ConsoleClient, with_store: Run) -> None:
    async def seed(store: Store) -> None:
        for n in range(60):
            await store.ledger.accept_many(
                [parsed(generic_payload(f"evt_{n:02}", ACME, set={"zip": str(n)}))]
            )

    with_store(seed)

    first = console.get("/console/events")
    older = re.search(r'href="(/console/events\?cursor=[^"]+)">Older', first.text)
    assert older is not None
    second = console.get(older.group(1).replace("&amp;", "&"))

    assert len(listed_events(first.text)) == 50 and len(listed_events(second.text)) == 10
    assert set(listed_events(first.text)) | set(listed_events(second.text)) == {
        f"evt_{n:02}" for n in range(60)
    }
    assert console.get("/console/events?cursor=garbage").status == 400
    assert "is not a time: give a duration ago" in console.get("/console/events?since=yesterday").text


def test_one_event_shows_what_was_sent_kept_and_said_and_never_a_secret(
    console: ConsoleClient, with_store: Run
) -> None:
    payload = generic_payload("evt_owner", ACME, set={"owner": "ghost@acme.example", "city": "Oslo"})
    # What a CRM's body may carry beside the change: a credential, a configured secret's value.
    sent = {
        **payload,
        "meta": {"api_key": "sk_live_should_not_show", "note": f"signed with {GENERIC_SECRET}"},
    }
    calls = {"patch": {"owner": "ghost@acme.example", "city": "Oslo"}}

    async def seed(store: Store) -> None:
        await store.ledger.accept_many([parsed(payload, raw=sent)])
        fields: dict[str, str | int] = {
            "reason": "not_applied",
            "error": "ChartMogul answered 200 but did not keep owner: sent 'ghost@acme.example', "
            "ChartMogul kept nothing",
            "http_status": 200,
            "applied_fields": "city",
            "not_applied": "owner: sent 'ghost@acme.example', ChartMogul kept nothing",
            "patch": orjson.dumps(calls).decode(),
        }
        dead = Outcome("evt_owner", EventStatus.DEAD, fields=fields, history={"reason": "not_applied"})
        await settle_as_worker(store, ACME, [dead])

    with_store(seed)
    page = console.get("/console/events/evt_owner").text

    assert "sk_live_should_not_show" not in page and GENERIC_SECRET not in page
    assert "&#34;api_key&#34;: &#34;[hidden]&#34;" in page and "[redacted]" in page
    assert f"PATCH</strong> /v1/customers/{ACME}" in page
    assert re.search(r"owner</th>.*?not kept</span> <span class=\"small\">owner: sent", page, re.S)
    assert re.search(r"city</th>.*?>kept</span>", page, re.S)
    assert "add the user" in page  # the fix for not_applied, in words
    assert [w for w in re.findall(r'class="what what-(\w+)"', page)] == ["accepted", "dead"]
    assert console.get("/console/events/no-such-event").status == 404


def test_a_customer_page_has_its_timeline_links_and_values_in_chartmogul(
    console: ConsoleClient, with_store: Run, simulator: SimulatorHandle
) -> None:
    async def seed(store: Store) -> None:
        await store.ledger.accept_many([crm_event("hubspot:7", "hubspot:company:9001", city="Oakland")])
        await store.links.add({"hubspot:company:9001": ACME})
        await store.ledger.accept_many([parsed(generic_payload("evt_acme", ACME, set={"zip": "94607"}))])
        await settle_as_worker(
            store,
            ACME,
            [Outcome("evt_acme", EventStatus.STALE, history={"why": "a newer change came first"})],
        )

    with_store(seed)

    page = console.get(f"/console/customers/{ACME}").text
    read = console.get(f"/console/customers/{ACME}?live=1").text
    by_record = console.get("/console/customers/crm%3Ahubspot%3Acompany%3A9001").text

    assert listed_events(page) == ["evt_acme", "hubspot:7"]
    assert "a newer change came first" in page and "hubspot:company:9001" in page
    assert "San Francisco" not in page and "San Francisco" in read and "high-value" in read
    assert simulator.requests()[-1]["path"] == f"/v1/customers/{ACME}"
    assert listed_events(by_record) == ["evt_acme", "hubspot:7"]
    unknown = console.get("/console/customers/crm%3Ahubspot%3Acompany%3A4242").text
    assert "No ChartMogul customer is known" in unknown


def test_an_edit_is_checked_by_chartmogul_rules_and_saved_only_when_it_passes(
    console: ConsoleClient, with_store: Run, redis_url: str
) -> None:
    async def seed(store: Store) -> None:
        await seed_dead(
            store,
            [parsed(generic_payload("evt_bad", ACME, set={"status": "Hot Lead", "city": "Oslo"}))],
            reason="invalid_change",
            http_status=None,
            error="status: status 'Hot Lead' is not a lead status",
        )

    with_store(seed)
    form = console.get("/console/dlq/evt_bad/edit")
    assert form.status == 200 and 'value="Hot Lead"' in form.text and 'value="Oslo"' in form.text
    base = {"customer.uuid": ACME, "fields.city": "Oslo"}

    refused = [
        console.post("/console/dlq/evt_bad/edit", {**base, "fields.status": "Hot Lead"}),
        console.post(
            "/console/dlq/evt_bad/edit",
            {**base, "fields.status": "Working Lead", "fields.country": "Germany"},
        ),
        console.post(
            "/console/dlq/evt_bad/edit", {**base, "fields.status": "Working Lead", "custom_set": "[1]"}
        ),
        console.post("/console/dlq/evt_bad/edit", {"fields.city": "Oslo"}),
    ]
    assert [r.status for r in refused] == [422] * 4
    assert "fields.status must be one of" in refused[0].text
    assert "country" in refused[1].text and 'value="Germany"' in refused[1].text  # the input is kept
    assert "must be a JSON object" in refused[2].text and "customer" in refused[3].text
    assert "edited" not in str(event_record(redis_url, "evt_bad"))

    saved = console.post(
        "/console/dlq/evt_bad/edit", {**base, "fields.status": "Working Lead", "tags_add": "vip, q4"}
    )

    assert saved.status == 303 and saved.headers["location"] == "/console/events/evt_bad?done=edited"
    change = orjson.loads(event_record(redis_url, "evt_bad")["change"])
    assert change["fields"] == {"status": "Working Lead", "city": "Oslo"} and change["tags_add"] == [
        "vip",
        "q4",
    ]
    page = console.get("/console/events/evt_bad?done=edited").text
    assert "The change is saved" in page and 'value="as_stored" selected' in page


def test_a_replay_shows_exactly_what_it_would_send_then_sends_that(
    console: ConsoleClient, with_store: Run, redis_url: str
) -> None:
    async def seed(store: Store) -> None:
        events = [parsed(generic_payload(f"evt_r{n}", ACME, set={"city": f"City {n}"})) for n in range(3)]
        await seed_dead(store, events, reason="retries_exhausted", http_status=503, error="503")

    with_store(seed)
    chosen = [("ids", "evt_r0"), ("ids", "evt_r2")]

    preview = console.post("/console/dlq/replay", chosen)
    plan = re.search(r'name="plan" value="(\w+)"', preview.text)
    assert preview.status == 200 and plan is not None
    assert "Replay 2 events" in preview.text and "City 0" in preview.text and "City 1" not in preview.text
    assert event_record(redis_url, "evt_r0")["status"] == EventStatus.DEAD  # a preview changes nothing

    stale = console.post("/console/dlq/replay", [*chosen, ("confirm", "1"), ("plan", "0" * 32)])
    assert "changed since the preview" in stale.text
    assert event_record(redis_url, "evt_r0")["status"] == EventStatus.DEAD

    started = console.post("/console/dlq/replay", [*chosen, ("confirm", "1"), ("plan", plan.group(1))])
    assert started.status == 303 and started.headers["location"].startswith("/console/jobs/")
    job = started.headers["location"]
    done = wait_for(lambda: "finished" in (page := console.get(job).text) and page, timeout_s=10)
    assert "2 of 2 done" in done and "data-live-done" in done
    assert [event_record(redis_url, f"evt_r{n}")["status"] for n in range(3)] == ["queued", "dead", "queued"]


def test_replaying_what_a_filter_shows(console: ConsoleClient, with_store: Run, redis_url: str) -> None:
    async def seed(store: Store) -> None:
        await seed_dead(store, [parsed(generic_payload("evt_a", ACME, set={"city": "A"}))], reason="rejected")
        await seed_dead(
            store, [parsed(generic_payload("evt_b", ACME, set={"city": "B"}))], reason="retries_exhausted"
        )

    with_store(seed)

    preview = console.post("/console/dlq/replay", {"scope": "filter", "reason": "retries_exhausted"})

    assert "Replay 1 event" in preview.text and "evt_b" in preview.text and "evt_a" not in preview.text
    assert console.post("/console/dlq/replay", {}).status == 400  # nothing chosen


def test_purge_asks_first(console: ConsoleClient, with_store: Run, redis_url: str) -> None:
    async def seed(store: Store) -> None:
        await seed_dead(store, [parsed(generic_payload("evt_p", ACME, set={"city": "P"}))])

    with_store(seed)

    asked = console.post("/console/dlq/purge", {"ids": "evt_p"})
    assert "Purge 1 dead letter?" in asked.text
    assert event_record(redis_url, "evt_p")["status"] == EventStatus.DEAD

    done = console.post("/console/dlq/purge", {"ids": "evt_p", "confirm": "1"})
    assert done.status == 303 and done.headers["location"] == "/console/dlq?purged=1"
    assert event_record(redis_url, "evt_p")["status"] == EventStatus.PURGED
    assert "Purged 1 dead letter(s)" in console.get("/console/dlq?purged=1").text


def test_dead_letters_are_grouped_by_reason_with_the_fix(console: ConsoleClient, with_store: Run) -> None:
    async def seed(store: Store) -> None:
        await seed_dead(store, [parsed(generic_payload("evt_1", ACME, set={"city": "A"}))], reason="rejected")
        await seed_dead(
            store, [parsed(generic_payload("evt_2", UUID_B, set={"city": "B"}))], reason="rejected"
        )
        await seed_dead(
            store, [parsed(generic_payload("evt_3", ACME, set={"zip": "C"}))], reason="customer_not_found"
        )

    with_store(seed)
    page = console.get("/console/dlq").text
    filtered = console.get("/console/dlq?reason=customer_not_found").text

    assert re.search(r'rejected</a> <span class="count">2</span>', page)
    assert re.search(r'customer_not_found</a> <span class="count">1</span>', page)
    assert html.escape(NEXT_STEPS["customer_not_found"].to_do).replace("`", "") in page.replace(
        "<code>", ""
    ).replace("</code>", "")
    assert "evt_3" in filtered and "evt_1" not in filtered and "Preview replay of all matching" in filtered


def test_link_suggestions_side_by_side_ambiguous_first_imported_with_one_confirm(
    console: ConsoleClient, simulator: SimulatorHandle, with_store: Run
) -> None:
    simulator.add_customer({"company": "Initech LLC", "email": "ops@initech.test"})  # a second "Initech"
    export = (ROOT / "deploy" / "examples" / "hubspot-companies.csv").read_bytes()

    async def seed(store: Store) -> None:
        await store.links.add({"hubspot:company:9002": GLOBEX})

    with_store(seed)
    page = console.upload("/console/links/suggest", {"source": "hubspot"}, "export", "companies.csv", export)

    assert page.status == 200, page.text
    kinds = re.findall(r'<tr class="row-(\w+)">', page.text)
    assert kinds == ["ambiguous", "match", "match", "match", "unmatched"]
    assert "Initech, Inc." in page.text and "Initech LLC" in page.text  # CRM name beside ChartMogul's
    assert "already linked" in page.text  # 9002
    ticked = re.findall(r'name="link" value="([^"]+)" checked', page.text)
    initech = re.findall(r'name="(choice\.[^"]+)" value="(hubspot:company:9003 cus_8f41[^"]+)"', page.text)
    assert len(ticked) == 2 and len(initech) == 1

    done = console.post("/console/links/import", [("link", v) for v in ticked] + initech)

    assert "Imported 3 links" in done.text
    assert "the workers re-queue their dead letters by themselves" in done.text  # RELAY_AUTO_REPLAY on

    async def links(store: Store) -> dict[str, str]:
        return await store.links.all()

    table = with_store(links)
    assert table["hubspot:company:9001"] == ACME and table["hubspot:company:9003"].startswith("cus_8f41")
    assert len(table) == 4
    bad = console.post("/console/links/import", {"link": "hubspot:company:1 not-a-uuid"})
    assert bad.status == 400


def test_past_sync_runs_with_what_each_wrote(
    console: ConsoleClient, console_env: dict[str, str], tmp_path: Path
) -> None:
    export = tmp_path / "companies.csv"
    export.write_text("Record ID,Company name,City\n9001,Acme Corp,Oakland\n")
    linked = relay_cli(console_env, "links", "import", str(_links_csv(tmp_path)))
    assert linked.returncode == 0, linked.stderr
    ran = relay_cli(console_env, "sync", "--source", "hubspot", str(export), "--yes")
    assert ran.returncode == 0, ran.stderr

    links_page = console.get("/console/links").text
    run = re.search(r'href="(/console/syncs/[^"]+)"', links_page)
    assert run is not None and "companies.csv" in links_page
    detail = console.get(run.group(1)).text

    assert re.findall(r'/console/events/(sync[^"]+)"', detail) and "city" in detail
    assert ACME in detail and console.get("/console/syncs/nope").status == 404


def _links_csv(tmp_path: Path) -> Path:
    path = tmp_path / "links.csv"
    path.write_text(f"source,crm_id,customer_uuid\nhubspot,9001,{ACME}\n")
    return path


def test_the_overview_counts_webhooks_per_source_in_the_last_hour(console: ConsoleClient) -> None:
    good = generic_payload("evt_hook", ACME, set={"city": "Oslo"})
    assert send_generic(console.base_url, GENERIC_SECRET, good).status == 202
    assert post(f"{console.base_url}/webhooks/generic", b"{}", {"webhook-id": "x"}).status == 401
    assert post(f"{console.base_url}/webhooks/hubspot", b"[]", {}).status == 401

    def counted() -> str | None:
        live = console.get("/console/overview/live").text
        return (
            live
            if re.search(r"generic</th><td class=\"num\">1</td><td class=\"num bad\">1</td>", live)
            else None
        )

    live = wait_for(counted, timeout_s=10)
    assert re.search(r"hubspot</th><td class=\"num\">0</td><td class=\"num bad\">1</td>", live)
    overview = console.get("/console").text
    assert (
        "/ 40 per s" in overview
        and "Workers" in overview
        and 'data-live-url="/console/overview/live"' in overview
    )


def test_a_source_declared_by_a_file_gets_link_suggestions_and_imports_too(
    console_env: dict[str, str], with_store: Run, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping"
    mapping.mkdir()
    (mapping / "zoho.toml").write_text((ROOT / "deploy/examples/sources/zoho.toml").read_text())
    env = {
        **console_env,
        "RELAY_MAPPING_DIR": str(mapping),
        "RELAY_SOURCE_ZOHO_SECRET": "zoho-token-0123456789",
    }
    export = b"Record Id,Account Name,Website\n4876876000000345001,Acme Corp,acme.example\n"

    async def seed(store: Store) -> None:
        await store.ledger.accept_many(
            [crm_event("zoho:1", "zoho:accounts:4876876000000345001", city="Oakland")]
        )

    with_store(seed)

    with running_web_app(create_app(settings_from(env))) as web:
        console = ConsoleClient(web)
        listed = console.get("/console/links").text
        page = console.upload("/console/links/suggest", {"source": "zoho"}, "export", "accounts.csv", export)
        ticked = re.findall(r'name="link" value="([^"]+)" checked', page.text)
        done = console.post("/console/links/import", [("link", v) for v in ticked])
        # The search box takes a declared source's bare record id, as a built-in one's.
        searched = listed_events(console.get("/console/events?q=4876876000000345001").text)

    assert searched == ["zoho:1"]

    assert '<option value="zoho"' in listed
    assert page.status == 200, page.text
    assert ticked == [f"zoho:accounts:4876876000000345001 {ACME}"]
    assert "Imported 1 link" in done.text

    async def links(store: Store) -> dict[str, str]:
        return await store.links.all()

    assert with_store(links)["zoho:accounts:4876876000000345001"] == ACME
