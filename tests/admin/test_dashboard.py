"""rq-dashboard at /dashboard: the relay queue, its workers, and dead letters it can requeue.

End to end: a real worker dead-letters an event ChartMogul (the simulator) rejects; the
dashboard lists it as a failed job; its "Requeue" replays it through a worker, its "Delete"
takes it off the dashboard.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from relay.simulator.testing import SimulatorHandle
from tests.admin.helpers import ADMIN_TOKEN, AdminClient, request
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, wait_for
from tests.test_walking_relay import acme
from tests.webhooks import iso, send_generic


def dead_letter(admin: AdminClient, simulator: SimulatorHandle, event_id: str, owner: str) -> dict[str, Any]:
    simulator.set_behaviour(unknown_owner="reject")  # the docs' 400; recorded in 2023: 200, ignored
    customer = acme(simulator)
    event = {
        "id": event_id,
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"owner": owner},
    }
    assert send_generic(admin.base_url, GENERIC_SECRET, event).status == 202
    wait_for(lambda: admin.get(f"/admin/dlq/{event_id}").status == 200)
    return customer


def failed_jobs(admin: AdminClient) -> list[dict[str, Any]]:
    reply = admin.get("/dashboard/0/data/jobs/relay/failed/20/asc/1.json")
    assert reply.status == 200, reply.text
    return list(reply.body["jobs"])


def test_dashboard_lists_the_queue_workers_and_dead_letters(
    admin: AdminClient, worker: WorkerProcess, simulator: SimulatorHandle
) -> None:
    dead_letter(admin, simulator, "evt_dash", "nobody@example.com")

    page = admin.get("/dashboard/")
    queues = admin.get("/dashboard/0/data/queues.json").body["queues"]
    workers = wait_for(lambda: admin.get("/dashboard/0/data/workers.json").body["workers"])
    [job] = failed_jobs(admin)
    detail = admin.get(f"/dashboard/0/data/job/{job['id']}.json").body
    asset = admin.get("/dashboard/static/js/jquery-3.5.1.min.js")

    assert page.status == 200 and "RQ dashboard" in page.text
    assert [(q["name"], q["failed_job_registry_count"]) for q in queues] == [("relay", 1)]
    assert workers[0]["queues"] == ["relay"]
    assert job["id"] == "dlq-evt__dash"
    assert job["description"].startswith("dead letter evt_dash: rejected (400)")
    assert (detail["status"], detail["origin"]) == ("failed", "relay")
    assert asset.status == 200


def test_requeue_from_the_dashboard_replays_the_event(
    admin: AdminClient, worker: WorkerProcess, simulator: SimulatorHandle
) -> None:
    customer = dead_letter(admin, simulator, "evt_requeue", "sales@acme.test")
    simulator.add_user("sales@acme.test")  # the operator fixes the cause in ChartMogul

    reply = admin.post("/dashboard/job/dlq-evt__requeue/requeue")

    assert reply.status == 200 and reply.body == {"status": "OK"}
    wait_for(lambda: simulator.customer(customer["uuid"])["owner"] == "sales@acme.test")
    event = wait_for(
        lambda: (e := admin.get("/admin/events/evt_requeue").body)["event"]["status"] == "applied" and e
    )
    assert [h["what"] for h in event["history"]][-2:] == ["replayed", "applied"]
    assert admin.get("/admin/dlq").body["total"] == 0
    assert failed_jobs(admin) == []


def test_delete_from_the_dashboard_removes_the_job_only(
    admin: AdminClient, worker: WorkerProcess, simulator: SimulatorHandle
) -> None:
    dead_letter(admin, simulator, "evt_delete", "nobody@example.com")

    reply = admin.post("/dashboard/job/dlq-evt__delete/delete")

    assert reply.status == 200 and reply.body == {"status": "OK"}
    assert failed_jobs(admin) == []
    # The relay's DLQ is the truth: the event is still there to replay or purge.
    assert admin.get("/admin/dlq/evt_delete").body["event"]["status"] == "dead"


def test_replaying_through_the_relay_takes_the_job_off_the_dashboard(
    admin: AdminClient, worker: WorkerProcess, simulator: SimulatorHandle
) -> None:
    dead_letter(admin, simulator, "evt_cli", "nobody@example.com")
    assert len(failed_jobs(admin)) == 1
    # The cause is fixed first: else the worker may dead-letter (and mirror) it again at once.
    simulator.add_user("nobody@example.com")

    admin.post("/admin/dlq/replay", {"ids": ["evt_cli"]})

    assert failed_jobs(admin) == []


def test_browsers_use_basic_auth_and_changes_need_the_dashboard_header(admin: AdminClient) -> None:
    basic = "Basic " + base64.b64encode(f"ops:{ADMIN_TOKEN}".encode()).decode()
    wrong = "Basic " + base64.b64encode(b"ops:guess").decode()
    url: Callable[[str], str] = lambda path: admin.base_url + path  # noqa: E731

    page = request(url("/dashboard/"), headers={"Authorization": basic})
    challenge = request(url("/dashboard/"))
    refused = request(url("/dashboard/"), headers={"Authorization": wrong})
    cross_site = request(url("/dashboard/job/x/delete"), "POST", data=b"", headers={"Authorization": basic})
    from_page = request(
        url("/dashboard/job/x/delete"),
        "POST",
        data=b"",
        headers={"Authorization": basic, "X-Requested-With": "XMLHttpRequest"},
    )
    admin_api = request(url("/admin/status"), headers={"Authorization": basic})

    assert page.status == 200
    assert challenge.status == 401 and challenge.headers["www-authenticate"].startswith("Basic")
    assert refused.status == 401
    assert cross_site.status == 401 and "X-Requested-With" in cross_site.body["error"]
    assert from_page.status == 200 and from_page.body == {"status": "ERROR"}  # no such job
    assert admin_api.status == 401  # Basic is for the dashboard only


def test_the_workers_tab_shows_a_worker_busy_with_a_json_job(admin: AdminClient, redis_url: str) -> None:
    """rq-dashboard 0.9 reads workers with pickle and fails (500) on a busy rq 3 worker; ours does not."""
    client = redis.Redis.from_url(redis_url)
    # Busy long enough for a loaded CI machine to start the worker and poll the page.
    job = Queue("relay", connection=client, serializer=JSONSerializer).enqueue("time.sleep", 20)
    rq_bin = str(Path(sys.executable).parent / "rq")
    serializer = ["--serializer", "rq.serializers.JSONSerializer", "--worker-class", "rq.worker.SimpleWorker"]
    rq_worker = subprocess.Popen(
        [rq_bin, "worker", "--url", redis_url, "--burst", "relay", *serializer],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def busy_workers() -> list[dict[str, Any]]:
        workers = admin.get("/dashboard/0/data/workers.json").body["workers"]
        return [w for w in workers if w["state"] == "busy"]

    try:
        busy = wait_for(busy_workers, timeout_s=20)
    finally:
        rq_worker.kill()  # seen busy: the job need not end
        rq_worker.wait(timeout=30)
        client.close()

    assert busy[0]["current_job"]["job_id"] == job.id
    assert busy[0]["current_job"]["call_string"] == "time.sleep(20)"
