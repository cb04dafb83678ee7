"""What an operator's browser must not be made to do: change the queue through a GET (an
`<img src>` on any page), send a change from another site, or show the dashboard in a frame."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rq.registry import FailedJobRegistry

from relay.admin.dashboard import Dashboard
from relay.store import Store
from tests.admin.helpers import (
    ADMIN_TOKEN,
    UUID_A,
    AdminClient,
    Reply,
    generic_payload,
    parsed,
    request,
    seed_dead,
)

Run = Callable[[Callable[[Store], Any]], Any]
BASIC = "Basic " + base64.b64encode(f"ops:{ADMIN_TOKEN}".encode()).decode()
FROM_PAGE = {"Authorization": BASIC, "X-Requested-With": "XMLHttpRequest"}


def failed_job_ids(redis_url: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [str(j) for j in FailedJobRegistry("relay", connection=client).get_job_ids()]
    finally:
        client.close()


@pytest.fixture
def dead_job(with_store: Run, redis_url: str) -> str:
    async def seed(store: Store) -> None:
        await seed_dead(store, [parsed(generic_payload("evt_csrf", UUID_A, set={"city": "Oslo"}))])

    with_store(seed)
    [job_id] = failed_job_ids(redis_url)
    return job_id


def changing_paths(redis_url: str, job_id: str) -> list[str]:
    """Every rq-dashboard route that takes POST, with its arguments filled in."""
    dashboard = Dashboard(redis_url)
    try:
        rules = [r.rule for r in dashboard.flask.url_map.iter_rules() if "POST" in (r.methods or ())]
    finally:
        dashboard.close()
    filled = {"job_id": job_id, "queue_name": "relay", "registry_name": "failed"}
    return [
        "/dashboard" + re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: filled[m.group(1)], rule)
        for rule in rules
    ]


def test_no_get_changes_the_queue(admin: AdminClient, redis_url: str, dead_job: str) -> None:
    paths = changing_paths(redis_url, dead_job)
    evil = {"Authorization": BASIC, "Origin": "https://evil.example"}

    replies = {
        (method, path): request(admin.base_url + path, method, headers=evil)
        for path in paths
        for method in ("GET", "HEAD")
    }

    assert len(paths) >= 5 and "/dashboard/requeue/relay" in paths
    assert {key: r.status for key, r in replies.items()} == {key: 405 for key in replies}
    assert "POST" in replies[("GET", "/dashboard/requeue/relay")].body["error"]
    assert replies[("GET", "/dashboard/requeue/relay")].headers["allow"] == "POST, OPTIONS"
    assert failed_job_ids(redis_url) == [dead_job]  # nothing was requeued or deleted


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://ops.example"},
        {"Referer": "https://evil.example/cats.html"},
    ],
    ids=["origin", "null-origin", "fetch-site", "sibling-site", "referer"],
)
def test_changes_from_another_site_are_refused(
    admin: AdminClient, redis_url: str, dead_job: str, headers: dict[str, str]
) -> None:
    by_browser = request(
        f"{admin.base_url}/dashboard/job/{dead_job}/delete",
        "POST",
        data=b"",
        headers={**FROM_PAGE, **headers},
    )
    by_bearer = request(
        f"{admin.base_url}/admin/dlq/purge",
        "POST",
        body={"ids": ["evt_csrf"]},
        headers={**admin.headers(), **headers},
    )

    for reply in (by_browser, by_bearer):
        assert reply.status == 403, reply.text
        assert reply.body["error"].startswith("cross-origin request refused: ")
    assert failed_job_ids(redis_url) == [dead_job]


def test_changes_from_the_dashboard_itself_pass(admin: AdminClient, redis_url: str, dead_job: str) -> None:
    host = admin.base_url.removeprefix("http://")
    same = {**FROM_PAGE, "Origin": admin.base_url}
    behind_tls_proxy = {**FROM_PAGE, "Origin": f"https://{host}", "Referer": f"https://{host}/dashboard/"}
    # A proxy that rewrites Host: the browser's own Sec-Fetch-Site still says same-origin.
    host_rewritten = {**FROM_PAGE, "Origin": "https://ops.example", "Sec-Fetch-Site": "same-origin"}
    base = admin.base_url

    compact = request(f"{base}/dashboard/queue/relay/compact", "POST", data=b"", headers=same)
    empty = request(f"{base}/dashboard/queue/relay/queued/empty", "POST", data=b"", headers=host_rewritten)
    delete = request(f"{base}/dashboard/job/{dead_job}/delete", "POST", data=b"", headers=behind_tls_proxy)

    assert [(r.status, r.body) for r in (compact, empty, delete)] == [(200, {"status": "OK"})] * 3
    assert failed_job_ids(redis_url) == []


def framing(reply: Reply) -> tuple[str, str]:
    return reply.headers.get("x-frame-options", ""), reply.headers.get("content-security-policy", "")


def test_no_operator_page_can_be_framed(admin: AdminClient) -> None:
    base = admin.base_url
    replies = [
        request(f"{base}/dashboard/", headers={"Authorization": BASIC}),
        request(f"{base}/dashboard/0/data/queues.json", headers={"Authorization": BASIC}),
        request(f"{base}/dashboard/"),  # 401
        request(f"{base}/dashboard/no/such/page", headers={"Authorization": BASIC}),  # 404
        request(f"{base}/dashboard/requeue/relay", headers={"Authorization": BASIC}),  # 405
        request(f"{base}/admin/status", headers=admin.headers()),
        request(f"{base}/admin/status"),  # 401
    ]

    assert [r.status for r in replies] == [200, 200, 401, 404, 405, 200, 401]
    assert {framing(r) for r in replies} == {("DENY", "frame-ancestors 'none'")}
