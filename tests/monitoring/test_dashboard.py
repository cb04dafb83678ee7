"""The Grafana board says, panel by panel, which process serves what it shows."""

from __future__ import annotations

import json
import re

from tests.monitoring.tools import DASHBOARD

WEB = "relay-web /metrics"
WORKER = "relay worker --metrics-port"
WORKER_METRICS = re.compile(
    r"relay_(deliveries|delivery_|patch_events|rate_limit_wait|fields_not_applied|dlq_replayed|unmatched)"
)


def test_each_panel_names_the_process_that_serves_it() -> None:
    panels = [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]

    for panel in panels:
        exprs = " ".join(t["expr"] for t in panel["targets"])
        served_by = WORKER if WORKER_METRICS.search(exprs) else WEB
        assert served_by in panel.get("description", "") or "web pod's own" in panel["description"], panel
    shown = {
        WORKER if WORKER_METRICS.search(" ".join(t["expr"] for t in p["targets"])) else WEB for p in panels
    }
    assert shown == {WEB, WORKER}
