"""Every rq-dashboard route, every method it takes and GET, with odd arguments, on an empty
relay and on one with dead letters, a queued job and a worker: never a 5xx.

The routes come from rq-dashboard's own Flask url_map, so a route a new version adds is walked
too. Each route is asked with a valid baseline and then with one argument changed at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from werkzeug.routing import Rule

from relay.admin.dashboard import Dashboard
from relay.app import create_app
from relay.settings import Settings
from relay.store import Store
from tests.admin.helpers import (
    UUID_A,
    UUID_B,
    AdminClient,
    Reply,
    generic_payload,
    parsed,
    request,
    seed_dead,
)
from tests.servers import WorkerProcess, free_port, running_web_app, wait_for

# Values each URL argument is tried with; the first is the baseline.
ARGUMENTS: dict[str, list[str]] = {
    "instance_number": ["0", "1", "99"],
    "queue_name": ["relay", "no-such-queue", "%2E%2E"],
    "registry_name": [
        "failed",
        "queued",
        "started",
        "deferred",
        "finished",
        "scheduled",
        "canceled",
        "bogus",
    ],
    "per_page": ["8", "0", "-1", "x", "99999999999999999999"],
    "order": ["asc", "dsc", "sideways"],
    "page": ["1", "0", "-3", "99", "x"],
    "filename": ["js/jquery-3.5.1.min.js", "no/such.js", "../web.py"],
    "job_id": ["JOB", "no-such-job", "a:b", "%00"],
}
SAFE = ("GET", "HEAD", "OPTIONS")
Run = Callable[[Callable[[Store], Any]], Any]


def dashboard_rules(redis_url: str) -> list[Rule]:
    dashboard = Dashboard(redis_url)
    try:
        return list(dashboard.flask.url_map.iter_rules())
    finally:
        dashboard.close()


def paths(rule: Rule, job_id: str) -> Iterator[str]:
    names = re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule.rule)
    unknown = set(names) - set(ARGUMENTS)
    assert not unknown, f"a new rq-dashboard route argument needs values here: {unknown}"
    baseline = {name: ARGUMENTS[name][0] for name in names}
    variants = [baseline] + [{**baseline, name: value} for name in names for value in ARGUMENTS[name][1:]]
    for variant in variants:
        path = rule.rule
        for name, value in variant.items():
            path = re.sub(rf"<(?:[^:<>]+:)?{name}>", job_id if value == "JOB" else value, path)
        yield "/dashboard" + path


def walk(admin: AdminClient, rules: list[Rule], job_id: str) -> list[str]:
    """Ask everything; the failures as 'METHOD path -> status'. Safe methods go first, as
    the changes (delete, empty, requeue) take the data away."""
    asked: list[tuple[str, str]] = []
    for rule in rules:
        methods = sorted({"GET", *(rule.methods or ())})
        asked += [(method, path) for method in methods for path in paths(rule, job_id)]
    asked.sort(key=lambda a: (a[0] not in SAFE, "/queue/" in a[1] or "/requeue/" in a[1]))
    failures = []
    for method, path in asked:
        data = b"" if method not in SAFE else None
        reply: Reply = request(admin.base_url + path, method, data=data, headers=admin.headers())
        if reply.status >= 500:
            failures.append(f"{method} {path} -> {reply.status} {reply.text[:120]}")
    return failures


def seed_data(redis_url: str, with_store: Run, start_worker: Callable[..., WorkerProcess]) -> str:
    """Two dead letters (failed jobs), a job waiting on a queue no worker takes, a worker."""

    async def seed(store: Store) -> None:
        await seed_dead(store, [parsed(generic_payload("evt_walk_1", UUID_A, set={"city": "Oslo"}))])
        await seed_dead(store, [parsed(generic_payload("evt_walk_2", UUID_B, set={"city": "Rome"}))])

    with_store(seed)
    client = redis.Redis.from_url(redis_url)
    try:
        Queue("spare", connection=client, serializer=JSONSerializer).enqueue("time.sleep", 1)
        start_worker()
        wait_for(lambda: client.smembers("rq:workers"))
        return str(FailedJobRegistry("relay", connection=client).get_job_ids()[0])
    finally:
        client.close()


@pytest.mark.parametrize("with_data", [False, True], ids=["empty", "with_data"])
def test_no_dashboard_route_answers_a_server_error(
    admin: AdminClient, redis_url: str, request: pytest.FixtureRequest, with_data: bool
) -> None:
    rules = dashboard_rules(redis_url)
    job_id = "no-such-job"
    if with_data:
        job_id = seed_data(
            redis_url, request.getfixturevalue("with_store"), request.getfixturevalue("start_worker")
        )

    failures = walk(admin, rules, job_id)

    assert len(rules) >= 20
    assert failures == [], "\n".join(failures)


def test_concurrent_dashboard_requests_keep_their_redis_connection(admin: AdminClient) -> None:
    """The dashboard polls several JSON routes at once; upstream swaps a Redis client on the
    shared Flask app per request, so one request's teardown closed another's connection."""
    paths = ["/dashboard/0/data/queues.json", "/dashboard/0/data/workers.json", "/dashboard/0/view/jobs"]

    def ask(n: int) -> int:
        return request(admin.base_url + paths[n % len(paths)], headers=admin.headers()).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(ask, range(240)))

    assert {s: statuses.count(s) for s in set(statuses)} == {200: 240}


def test_redis_unreachable_answers_503_not_500(admin_settings: Settings) -> None:
    down = admin_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with running_web_app(create_app(down)) as base_url:
        admin = AdminClient(base_url)
        replies = [admin.get("/dashboard/0/data/queues.json"), admin.post("/dashboard/requeue/relay")]

    assert [(r.status, r.body) for r in replies] == [
        (503, {"error": "Redis is unavailable; retry later"})
    ] * 2


def test_deleting_a_job_that_finished_meanwhile_answers_409_not_500(
    admin: AdminClient, redis_url: str
) -> None:
    """A running job finishes while the dashboard deletes it: rq lists the job's execution, then
    finds its record gone (a ValueError, once a 500 in CI). Here the job is left in that state:
    its execution listed, the execution's record deleted."""
    client = redis.Redis.from_url(redis_url)
    try:
        job = Queue("relay", connection=client, serializer=JSONSerializer).enqueue("time.sleep", 1)
        started = StartedJobRegistry("relay", connection=client)
        client.zadd(started.key, {f"{job.id}:finished-meanwhile": 9_999_999_999})  # job:execution
        client.zadd(job.execution_registry.key, {"finished-meanwhile": 9_999_999_999})

        replies = [
            admin.post(f"/dashboard/job/{job.id}/delete"),
            admin.post("/dashboard/queue/relay/started/empty"),
        ]
    finally:
        client.close()

    assert [r.status for r in replies] == [409, 409]
    assert "finished while it was being deleted" in replies[0].body["error"]
