"""Issue 11 §1's property: whatever ids the sources send — ':' and every other separator the key
scheme uses, one source's id spelled like another's — what is accepted is stored, exactly, and
delivered. Every source through its real signed format, one web app, then one worker."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.crms import KNOWN_SOURCES
from relay.simulator.testing import SimulatorHandle
from relay.store import keys
from tests.conftest import GENERIC_SECRET
from tests.servers import WorkerProcess, wait_for
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import (
    account_notification,
    fixture_json,
    hubspot_event,
    outbound_message,
    send_close,
    send_hubspot,
    send_pipedrive,
    send_salesforce,
)
from tests.sources.test_end_to_end import acme, link
from tests.webhooks import Answer, iso, send_generic

CLOSE_LEAD = "lead_IIDHIStmFcFQZZP0BRe99V1MCoXWz2PGCm6EDmR9v2O"
SF_ACCOUNT = "0015e00000AbCdEAAV"
HUBSPOT_COMPANY = 1246965
CRM_RECORDS = (
    f"hubspot:company:{HUBSPOT_COMPANY}",
    "pipedrive:organization:42",
    f"salesforce:account:{SF_ACCOUNT}",
    f"close:lead:{CLOSE_LEAD}",
)
CRMS = tuple(name for name in KNOWN_SOURCES if name != "generic")

# The characters each source lets through in an id (generic: its EventId pattern).
crm_id = st.text("ab09_-", min_size=1, max_size=10)
salesforce_id = st.text("aZ09", min_size=1, max_size=10)
generic_id = st.one_of(
    st.text("ab09_.-:", min_size=1, max_size=12),
    # Spelled like another source's event, or like a key's own words.
    st.builds(
        lambda word, rest: f"{word}:{rest}",
        st.sampled_from([*KNOWN_SOURCES, "crm", "ext", "email", "history", "event", "pending", "uuid"]),
        st.text("ab09_.-:", max_size=8),
    ),
)
sends = st.lists(
    st.one_of(
        st.tuples(st.just("generic"), generic_id),
        st.tuples(st.sampled_from(["hubspot", "pipedrive", "close"]), crm_id),
        st.tuples(st.just("salesforce"), salesforce_id),
    ),
    min_size=1,
    max_size=6,
)


def sender(web: str, uuid: str) -> Callable[[str, str], Answer]:
    close_doc = fixture_json("close_lead_updated.json")
    pipedrive_doc = fixture_json("pipedrive_organization_change.json")
    # One time for every HubSpot event: the same id then carries the same content, a duplicate.
    hubspot_at_ms = int(time.time() * 1000)

    def send(source: str, given_id: str) -> Answer:
        if source == "generic":
            event = {"id": given_id, "occurred_at": iso(), "customer": {"uuid": uuid}, "set": {"city": "G"}}
            return send_generic(web, GENERIC_SECRET, event, msg_id=f"msg_{given_id}")
        if source == "hubspot":
            event = hubspot_event(0, HUBSPOT_COMPANY, "city", "H", occurredAt=hubspot_at_ms)
            return send_hubspot(web, [{**event, "eventId": given_id}])
        if source == "pipedrive":
            doc = copy.deepcopy(pipedrive_doc)
            doc["meta"]["id"] = given_id
            return send_pipedrive(web, doc)
        if source == "close":
            doc = copy.deepcopy(close_doc)
            doc["event"]["id"] = given_id
            return send_close(web, doc)
        body = account_notification(given_id, SF_ACCOUNT, BillingCity="S")
        return send_salesforce(web, outbound_message(body))

    return send


def test_accepted_equals_stored_equals_delivered(
    web: str,
    simulator: SimulatorHandle,
    redis_client: redis.Redis,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    customer = acme(simulator)
    link(redis_client, *CRM_RECORDS, uuid=customer["uuid"])
    send = sender(web, customer["uuid"])
    accepted: set[str] = set()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(sends)
    def property(batch: list[tuple[str, str]]) -> None:
        for source, given_id in batch:
            event_id = given_id if source == "generic" else f"{source}:{given_id}"
            answer = send(source, given_id)
            if source == "generic" and given_id.startswith(tuple(f"{crm}:" for crm in CRMS)):
                assert answer.status == 422, (source, given_id, answer.text)
                continue
            assert answer.status in (200, 202), (source, given_id, answer.text)
            if source == "hubspot":  # named by its eventId and its content's digest
                assert answer.body["event_id"].startswith(f"{event_id}."), answer.text
                event_id = answer.body["event_id"]
            if isinstance(answer.body, dict) and "status" in answer.body:
                expected = "duplicate" if event_id in accepted else "accepted"
                assert answer.body["status"] == expected, (source, given_id, answer.text)
            if isinstance(answer.body, dict) and "event_id" in answer.body:
                assert answer.body["event_id"] == event_id
            accepted.add(event_id)
        assert stored_event_ids(redis_client) == sorted(accepted)

    property()

    start_worker()

    def settled() -> dict[str, int]:
        statuses: dict[str, int] = {}
        for event_id in accepted:
            status = str(redis_client.hget(keys.event(event_id), "status"))
            statuses[status] = statuses.get(status, 0) + 1
        return statuses if set(statuses) <= {"applied", "stale"} else {}

    done = wait_for(settled, timeout_s=60)
    assert sum(done.values()) == len(accepted) and not redis_client.zcard(keys.DLQ), done
