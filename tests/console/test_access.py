"""Who gets in and what may change: every console URL asks for credentials (401 with a Basic
challenge), the viewer token reads but never changes, and no POST without the form's CSRF
token changes anything (403)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from pydantic import SecretStr
from starlette.routing import Mount, Route

from relay.console.access import Csrf, Role
from relay.console.app import pages
from relay.store import EventStatus, Store, keys
from tests.admin.helpers import ADMIN_TOKEN, UUID_A, generic_payload, parsed, seed_dead
from tests.console.client import VIEWER_TOKEN, ConsoleClient
from tests.servers import event_record

Run = Callable[[Callable[[Store], Any]], Any]


def links_of(redis_url: str) -> dict[str, str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return client.hgetall(keys.LINKS)  # type: ignore[return-value]
    finally:
        client.close()


def console_urls() -> list[tuple[str, str]]:
    """(method, path) of every console route, its parameters filled in."""
    urls = [("GET", "/console")]
    for route in pages():
        if isinstance(route, Mount):
            urls.append(("GET", f"/console{route.path}/console.css"))
            continue
        assert isinstance(route, Route)
        path = "/console" + re.sub(r"\{[^}]+\}", "x", route.path)
        urls += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return urls


@pytest.fixture
def dead_letter(with_store: Run) -> str:
    async def seed(store: Store) -> None:
        await seed_dead(store, [parsed(generic_payload("evt_keep", UUID_A, set={"city": "Oslo"}))])

    with_store(seed)
    return "evt_keep"


def test_the_walk_finds_every_kind_of_console_url() -> None:
    urls = console_urls()

    assert ("POST", "/console/dlq/replay") in urls and ("GET", "/console/events/x") in urls
    assert len([u for u in urls if u[0] == "POST"]) == 5
    assert len(urls) >= 17


@pytest.mark.parametrize("token", [None, "wrong-token", ADMIN_TOKEN + "x"], ids=["none", "wrong", "longer"])
def test_every_console_url_asks_for_credentials(console_web: str, token: str | None) -> None:
    client = ConsoleClient(console_web, token=token)
    replies = {
        (method, path): client.get(path) if method == "GET" else client.post(path, {"ids": "x"}, csrf=None)
        for method, path in [*console_urls(), ("GET", "/console/no/such/page")]
    }

    assert {url: r.status for url, r in replies.items()} == {url: 401 for url in replies}
    challenges = {r.headers.get("www-authenticate") for r in replies.values()}
    assert challenges == {'Basic realm="relay console", charset="UTF-8"'}


def test_the_console_is_off_without_an_admin_token(web: str) -> None:
    assert ConsoleClient(web).get("/console").status == 404
    assert ConsoleClient(web).get("/console/events").status == 404


def test_the_viewer_sees_every_page_but_no_action(console_web: str, dead_letter: str) -> None:
    viewer = ConsoleClient(console_web, token=VIEWER_TOKEN)

    dlq = viewer.get("/console/dlq")
    event = viewer.get(f"/console/events/{dead_letter}")

    assert dlq.status == event.status == 200
    assert "read-only" in dlq.text and dead_letter in dlq.text
    assert "Preview replay" not in dlq.text and "/edit" not in dlq.text and "Purge" not in event.text


def test_the_viewer_token_changes_nothing_even_with_a_csrf_token(
    console_web: str, redis_url: str, dead_letter: str
) -> None:
    viewer = ConsoleClient(console_web, token=VIEWER_TOKEN)
    token = viewer.get("/console/dlq").csrf_token
    fields = {"ids": dead_letter, "confirm": "1"}

    replies = [
        viewer.post(path, fields, csrf=token) for path in ("/console/dlq/purge", "/console/dlq/replay")
    ]

    assert [r.status for r in replies] == [403, 403]
    assert "read-only" in replies[0].text
    assert event_record(redis_url, dead_letter)["status"] == EventStatus.DEAD


def test_a_post_without_a_valid_csrf_token_is_403_and_changes_nothing(
    console: ConsoleClient, redis_url: str, dead_letter: str
) -> None:
    csrf = Csrf(SecretStr(ADMIN_TOKEN))
    stale = csrf.issue(Role.ADMIN, now_s=time.time() - 13 * 3600)
    viewers = csrf.issue(Role.VIEWER)
    forged = csrf.issue(Role.ADMIN)[:-4] + "0000"
    purge = {"ids": dead_letter, "confirm": "1"}
    edit = {"fields.city": "Bergen", "customer.uuid": UUID_A}
    link = {"link": f"hubspot:company:77 {UUID_A}"}

    replies = [
        console.post("/console/dlq/purge", purge, csrf=None),
        console.post("/console/dlq/purge", purge, csrf=""),
        console.post("/console/dlq/purge", purge, csrf=stale),
        console.post("/console/dlq/purge", purge, csrf=viewers),
        console.post("/console/dlq/purge", purge, csrf=forged),
        console.post("/console/dlq/replay", purge, csrf=None),
        console.post(f"/console/dlq/{dead_letter}/edit", edit, csrf=None),
        console.post("/console/links/import", link, csrf=None),
        console.post("/console/links/suggest", {"source": "hubspot"}, csrf=None),
    ]

    assert [r.status for r in replies] == [403] * len(replies)
    assert all("CSRF token is missing or out of date" in r.text for r in replies)
    record = event_record(redis_url, dead_letter)
    assert record["status"] == EventStatus.DEAD and "Bergen" not in str(record)
    assert links_of(redis_url) == {}
    # The same purge with the page's own token goes through: the refusals were the token's.
    done = console.post("/console/dlq/purge", purge)
    assert done.status == 303 and event_record(redis_url, dead_letter)["status"] == EventStatus.PURGED


def test_a_change_sent_from_another_site_is_refused(
    console: ConsoleClient, redis_url: str, dead_letter: str
) -> None:
    reply = console.post(
        "/console/dlq/purge", {"ids": dead_letter, "confirm": "1"}, **{"Sec-Fetch-Site": "cross-site"}
    )

    assert reply.status == 403 and "cross-origin request refused" in reply.text
    assert event_record(redis_url, dead_letter)["status"] == EventStatus.DEAD


def test_console_pages_cannot_be_framed_nor_load_anything_from_elsewhere(console: ConsoleClient) -> None:
    reply = console.get("/console/events")

    assert reply.headers["x-frame-options"] == "DENY"
    policy = reply.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert reply.headers["cache-control"] == "no-store"
