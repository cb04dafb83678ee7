"""A dead letter `not_applied` (ChartMogul answered 200 but kept the owner unchanged, as recorded
in 2023) shows on every operator surface: the admin API's listing and status, and the dashboard."""

from __future__ import annotations

from relay.simulator.testing import SimulatorHandle
from tests.admin.helpers import AdminClient
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, wait_for
from tests.webhooks import iso, send_generic


def test_not_applied_is_listed_counted_and_on_the_dashboard(
    admin: AdminClient, worker: WorkerProcess, simulator: SimulatorHandle
) -> None:
    customer = simulator.add_customer({"company": "Seatless Owner Co"})  # unknown_owner: "ignore"
    event = {
        "id": "evt_seatless",
        "occurred_at": iso(),
        "customer": {"uuid": customer["uuid"]},
        "set": {"owner": "nobody@example.com"},
    }
    assert send_generic(admin.base_url, GENERIC_SECRET, event).status == 202

    wait_for(lambda: admin.get("/admin/dlq/evt_seatless").status == 200)
    listed = admin.get("/admin/dlq?reason=not_applied").body["dead_letters"]
    status = admin.get("/admin/status").body
    jobs = admin.get("/dashboard/0/data/jobs/relay/failed/20/asc/1.json").body["jobs"]

    assert [d["event_id"] for d in listed] == ["evt_seatless"]
    assert listed[0]["not_applied"] == "owner: sent 'nobody@example.com', ChartMogul kept nothing"
    assert admin.get("/admin/dlq?reason=rejected").body["dead_letters"] == []
    assert status["dlq_by_reason"] == {"not_applied": 1}
    assert [job["description"].split(" ChartMogul")[0] for job in jobs] == [
        "dead letter evt_seatless: not_applied (200)"
    ]
