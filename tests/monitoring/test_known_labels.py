"""Every label value known in advance is on the first scrape, at 0: a series that only appears
with its first event hides that event from rate()/delta(), and so from the alerts."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from relay import metrics
from relay.sources import KNOWN_SOURCES
from relay.store import DEAD_LETTER_REASONS
from tests.servers import WorkerProcess, free_port, wait_for
from tests.webhooks import get


def first_scrape(url: str) -> dict[str, set[tuple[tuple[str, str], ...]]]:
    """Label sets of every sample, by sample name."""
    reply = wait_for(lambda: _answer(url), timeout_s=20)
    found: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for family in text_string_to_metric_families(reply):
        for sample in family.samples:
            found.setdefault(sample.name, set()).add(tuple(sorted(sample.labels.items())))
    return found


def _answer(url: str) -> str | None:
    try:
        reply = get(url)
    except OSError:
        return None
    return reply.text if reply.status == 200 else None


def test_web_exports_every_source_reason_and_state_from_the_first_scrape(web: str) -> None:
    found = first_scrape(f"{web}/metrics")

    for source in (*KNOWN_SOURCES, "unknown"):
        for name in ("webhooks_received", "events_received", "events_accepted", "events_duplicate"):
            assert (("source", source),) in found[f"relay_{name}_total"]
    for reason in metrics.REJECTION_REASONS:
        assert (("reason", reason), ("source", "hubspot")) in found["relay_webhooks_rejected_total"]
    assert {"invalid_signature", "source_disabled", "queue_unavailable"} <= set(metrics.REJECTION_REASONS)
    assert {dict(labels)["reason"] for labels in found["relay_dlq_events"]} >= set(DEAD_LETTER_REASONS)
    assert {dict(labels)["state"] for labels in found["relay_queue_customers"]} == set(
        metrics.CUSTOMER_STATES
    )


def test_a_worker_exports_every_expected_chartmogul_answer_from_the_first_scrape(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    port = free_port()
    start_worker("--metrics-port", str(port))

    found = first_scrape(f"http://127.0.0.1:{port}/metrics")

    statuses = {dict(labels)["status"] for labels in found["relay_deliveries_total"]}
    assert statuses == set(metrics.DELIVERY_STATUSES)
    assert {"200", "400", "429", "no_answer"} <= statuses
