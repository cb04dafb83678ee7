"""Parsing never stalls the event loop (issue 11 §3): each source's worst body, sent by four
senders at once over loopback to a real `relay serve`, while /healthz is polled.

Threshold reasoning: the machine is shared and loaded, so /healthz is first polled alone for 2 s
(the baseline: same server, same pacing, same moment); under the flood its p99 may exceed the
baseline's p99 by at most 50 ms. The senders keep the issue's pace (four at about 5 requests/s
each): an unpaced flood of even tiny requests saturates any single-process server, which is
capacity, not stalling. Before the limits, one stranger's 1 MiB Salesforce body held the loop ~210 ms and
Close/Pipedrive's wide bodies ~225 ms each, so a flood pushed /healthz p99 far past that; now a
large body is parsed in a worker thread and stops at the first limit, and the loop only waits
for the GIL between the thread's slices (5 ms) or one orjson call (about 10 ms for 1 MiB).
Bounded: 4 senders go round the 10 worst cases (each built and signed once, sent again and
again: all are refused, so a repeat is as costly as the first) for 4 s, at most 40 rounds.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.servers import ServeProcess
from tests.sources import worst_cases as worst
from tests.sources.conftest import CRM_SECRETS
from tests.webhooks import post

WORST_CASES: list[worst.WorstCase] = [
    worst.generic_custom_300_deep,
    worst.hubspot_value_300_deep,
    worst.close_58k_changed_fields,
    worst.pipedrive_60k_previous,
    worst.pipedrive_previous_1000_deep,
    worst.pipedrive_previous_wide_nested,
    worst.salesforce_5000_deep,
    worst.salesforce_wide,
    worst.salesforce_149k_deep_wrong_org,
    worst.salesforce_wide_wrong_org,
]
SENDERS = 4
SENDER_RATE_PER_S = 5.0  # the attack: four senders at about 5 requests/s each
MAX_ROUNDS = 40
FLOOD_S = 4.0
BASELINE_S = 2.0
ALLOWED_EXTRA_MS = 50.0


@pytest.fixture
def served(relay_env: dict[str, str], tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess({**relay_env, **CRM_SECRETS, "RELAY_LOG_LEVEL": "WARNING"}, tmp_path / "web.log")
    yield server
    server.stop()


class HealthPoller:
    """GET /healthz over one keep-alive connection, back to back, until stopped."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.latencies_ms: list[float] = []
        self.stopped = threading.Event()

    def once(self) -> None:
        started = time.perf_counter()
        self.connection.request("GET", "/healthz")
        response = self.connection.getresponse()
        response.read()
        assert response.status == 200
        self.latencies_ms.append((time.perf_counter() - started) * 1000)

    def run(self) -> None:
        while not self.stopped.is_set():
            self.once()
            self.stopped.wait(0.005)  # pacing, not synchronisation


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def test_floods_of_each_worst_case_do_not_stall_healthz(served: ServeProcess) -> None:
    baseline = HealthPoller(served.port)
    for _ in range(20):  # warm the connection and the server up
        baseline.once()
    baseline.latencies_ms = []
    polling = threading.Thread(target=baseline.run)
    polling.start()
    baseline.stopped.wait(BASELINE_S)  # polled as during the flood, for comparable noise
    baseline.stopped.set()
    polling.join()
    baseline.connection.close()
    poller = HealthPoller(served.port)
    requests = [case(served.base_url) for case in WORST_CASES] * MAX_ROUNDS
    statuses: list[int] = []

    def send(request: worst.Request) -> None:
        sent = time.monotonic()
        if sent - started < FLOOD_S:
            statuses.append(post(*request).status)
            time.sleep(max(0.0, 1 / SENDER_RATE_PER_S - (time.monotonic() - sent)))  # pacing

    thread = threading.Thread(target=poller.run)
    thread.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(SENDERS) as senders:
            list(senders.map(send, requests))
    finally:
        poller.stopped.set()
        thread.join()
        poller.connection.close()
    flood_s = time.monotonic() - started

    assert len(statuses) >= len(WORST_CASES), statuses
    assert all(400 <= s < 500 for s in statuses), statuses  # every worst case refused, none a 500
    assert len(poller.latencies_ms) >= 50, f"only {len(poller.latencies_ms)} polls in {flood_s:.1f} s"
    during, before = p99(poller.latencies_ms), p99(baseline.latencies_ms)
    report = (
        f"/healthz p99 {during:.1f} ms during the flood ({len(statuses)} requests in {flood_s:.1f} s, "
        f"max {max(poller.latencies_ms):.1f} ms), {before:.1f} ms before"
    )
    print(report)
    assert during <= before + ALLOWED_EXTRA_MS, report
