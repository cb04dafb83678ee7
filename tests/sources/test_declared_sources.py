"""Issue 21: a source declared by a file receives, verifies and records events like a built-in CRM.

the examples      each shipped example's sample body, signed as its sender signs it, is accepted
auth              every kind refuses a missing or wrong secret (401), in constant time
one object        what the relay cannot read is a 422 naming the path; nothing is stored
an array          each event its own outcome: accepted, ignored, dead letter invalid_event
namespaces        a declared name is its own metrics label; generic ids may not read as its ids
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from relay.store import keys
from relay.store.records import DeadLetterReason
from tests.conftest import GENERIC_SECRET
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import (
    DECLARED_SECRETS,
    batch_answer,
    declared_env,
    example_body,
    send_declared,
)
from tests.webhooks import get, iso, post, send_generic

EXAMPLES = tuple(DECLARED_SECRETS)
# What each example's sample body is recorded as.
EXAMPLE_EVENTS = {
    "salesforce-flow": ["salesforce-flow:0a3c1f2e5b7d4e8f9a0123456789abcd-01"],
    "zoho": ["zoho:4876876000000345001/2025-03-01T15:30:00+05:30"],
    "freshsales": ["freshsales:70000123456/2025-03-01T10:00:00Z"],
    "pipedrive-automations": ["pipedrive-automations:42/2025-03-01 10:00:00"],
    "zapier": ["zapier:61234567/1740823200"],
    "make": [
        "make:b3c1e9a2-4f6d-4c8b-9e2a-7d5f1c3b8a60/2025-03-01T10:00:00.000Z",
        "make:e7a4d2c9-1b3f-4e6a-8c5d-2f9b0a1e3c47/2025-03-01T10:05:00.000Z",
    ],
}
Web = Callable[..., str]


@pytest.fixture
def web_with(start_web: Web, tmp_path: Path) -> Callable[..., str]:
    """A web app serving the shipped examples `names` (with their secrets)."""

    def start(*names: str, **changes: str | None) -> str:
        return start_web(**{**declared_env(tmp_path, *names), **changes})

    return start


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_body_is_accepted_as_its_sender_sends_it(
    web_with: Callable[..., str], redis_client: redis.Redis, name: str
) -> None:
    web = web_with(name)

    answer = send_declared(web, name, example_body(name))
    again = send_declared(web, name, example_body(name))

    assert answer.status == 202, answer.text
    events = EXAMPLE_EVENTS[name]
    if len(events) == 1:
        assert answer.body == {"status": "accepted", "event_id": events[0]}
        assert (again.status, again.body["status"]) == (200, "duplicate")
    else:
        assert answer.body == batch_answer(accepted=len(events))
        assert again.body == batch_answer(duplicates=len(events))
    assert stored_event_ids(redis_client) == sorted(events)
    record = redis_client.hgetall(keys.event(events[0]))
    assert record["source"] == name and record["status"] == "queued"


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("salesforce-flow", {}),
        ("salesforce-flow", {"Authorization": "Bearer sf-flow-bearer-token-6b1e0c9a2X"}),
        ("salesforce-flow", {"Authorization": "Basic sf-flow-bearer-token-6b1e0c9a2d"}),
        ("zoho", {"X-Relay-Token": "zoho-header-token-3f8a2c71e"}),
        ("zoho", {"Authorization": "Bearer zoho-header-token-3f8a2c71e4"}),
        ("freshsales", {"Authorization": "Basic " + base64.b64encode(b"relay:wrong-password").decode()}),
        ("freshsales", {"Authorization": "Basic not-base64!"}),
        ("make", {"X-Relay-Signature": "sha256=" + "0" * 64}),
        ("make", {"X-Relay-Signature": "not hex at all"}),
        ("make", {}),
    ],
)
def test_a_missing_or_wrong_secret_is_401_and_stores_nothing(
    web_with: Callable[..., str], redis_client: redis.Redis, name: str, headers: dict[str, str]
) -> None:
    web = web_with(name)
    body = orjson.dumps(example_body(name))

    answer = post(f"{web}/webhooks/{name}", body, {"Content-Type": "application/json", **headers})

    assert answer.status == 401, answer.text
    assert DECLARED_SECRETS[name] not in answer.text
    assert stored_event_ids(redis_client) == []


def test_basic_and_bearer_refusals_say_how_to_authenticate(web_with: Callable[..., str]) -> None:
    web = web_with("freshsales", "zapier")
    for name, scheme in (("freshsales", "Basic"), ("zapier", "Bearer")):
        request = urllib.request.Request(f"{web}/webhooks/{name}", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        assert refused.value.headers["WWW-Authenticate"] == f'{scheme} realm="chartmogul-relay"'
        with refused.value as answer:
            assert scheme in orjson.loads(answer.read())["error"]


def make_signature(body: bytes, *, encoding: str, prefix: str = "") -> str:
    """The signature as Make computes it: sha256(body; encoding; key), independently of the relay."""
    digest = hmac.new(DECLARED_SECRETS["make"].encode(), body, hashlib.sha256).digest()
    return prefix + (digest.hex() if encoding == "hex" else base64.b64encode(digest).decode())


@pytest.mark.parametrize("prefix", ["", "sha256=", "SHA256="])
def test_an_hmac_signature_is_checked_over_the_raw_body_with_or_without_its_prefix(
    web_with: Callable[..., str], prefix: str
) -> None:
    web = web_with("make")
    body = orjson.dumps(example_body("make"), option=orjson.OPT_INDENT_2)  # as Make formats it
    headers = {"Content-Type": "application/json"}

    signed = post(
        f"{web}/webhooks/make",
        body,
        {**headers, "X-Relay-Signature": make_signature(body, encoding="hex", prefix=prefix)},
    )
    tampered = body.replace(b"Boston", b"Boston ")
    refused = post(
        f"{web}/webhooks/make",
        tampered,
        {**headers, "X-Relay-Signature": make_signature(body, encoding="hex")},
    )

    assert signed.status == 202, signed.text
    assert refused.status == 401 and refused.body["error"] == "invalid signature in X-Relay-Signature"


def test_a_base64_signature_when_the_file_says_base64(start_web: Web, tmp_path: Path) -> None:
    env = declared_env(tmp_path, "make")
    declared = tmp_path / "make.toml"
    declared.write_text(declared.read_text().replace('encoding = "hex"', 'encoding = "base64"'))
    web = start_web(**env)
    body = orjson.dumps(example_body("make"))

    base64_signed = post(
        f"{web}/webhooks/make", body, {"X-Relay-Signature": make_signature(body, encoding="base64")}
    )
    hex_signed = post(
        f"{web}/webhooks/make", body, {"X-Relay-Signature": make_signature(body, encoding="hex")}
    )

    assert base64_signed.status == 202, base64_signed.text
    assert hex_signed.status == 401


def test_without_its_secret_a_declared_source_answers_404_like_a_built_in_one(
    web_with: Callable[..., str],
) -> None:
    web = web_with("zoho", RELAY_SOURCE_ZOHO_SECRET=None)

    unconfigured = send_declared(web, "zoho", example_body("zoho"))
    unknown = post(f"{web}/webhooks/zoho-crm", orjson.dumps(example_body("zoho")))

    assert unconfigured.status == 404
    assert unconfigured.body["error"] == "source 'zoho' is not configured (its secret is not set)"
    assert (unknown.status, unknown.body["error"]) == (404, "source 'zoho-crm' is unknown")


@pytest.mark.parametrize(
    ("drop", "error"),
    [
        ("event.id", "event_id: nothing at 'event.id'"),
        ("event.time", "occurred_at: nothing at 'event.time'"),
        ("record.Id", "record_id: nothing at 'record.Id'"),
        ("record.attributes", "object_path: nothing at 'record.attributes.type'"),
    ],
)
def test_one_event_the_relay_cannot_read_is_a_422_naming_the_path(
    web_with: Callable[..., str], redis_client: redis.Redis, drop: str, error: str
) -> None:
    web = web_with("salesforce-flow")
    doc = example_body("salesforce-flow")
    parent, _, key = drop.partition(".")
    del doc[parent][key]

    answer = send_declared(web, "salesforce-flow", doc)

    assert (answer.status, answer.body) == (422, {"error": error})
    assert stored_event_ids(redis_client) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"time": "last Tuesday"}, "event.time 'last Tuesday' is not a time"),
        ({"time": "2099-01-01T00:00:00Z"}, "event.time '2099-01-01T00:00:00Z' is more than 300 s ahead"),
        ({"id": True}, "event_id: 'event.id' must be a string or a whole number, not bool"),
        ({"id": "invalid-0123456789abcdef"}, "ids starting with 'invalid-' are the relay's own"),
    ],
)
def test_an_unusable_value_is_a_422_naming_the_path_and_what_is_wrong(
    web_with: Callable[..., str], change: dict[str, Any], error: str
) -> None:
    web = web_with("salesforce-flow")
    doc = example_body("salesforce-flow")
    doc["event"].update(change)

    answer = send_declared(web, "salesforce-flow", doc)

    assert answer.status == 422 and error in answer.body["error"], answer.text


def test_a_record_id_that_would_break_a_record_key_is_refused(web_with: Callable[..., str]) -> None:
    web = web_with("salesforce-flow")
    doc = example_body("salesforce-flow")
    doc["record"]["Id"] = "001:other:key"

    answer = send_declared(web, "salesforce-flow", doc)

    assert answer.status == 422 and "record_id: 'record.Id' holds '001:other:key'" in answer.body["error"]


def test_in_an_array_each_event_has_its_own_outcome(
    web_with: Callable[..., str], redis_client: redis.Redis
) -> None:
    web = web_with("make")
    company, person = example_body("make")
    no_time = {k: v for k, v in copy.deepcopy(person).items() if k != "updated_at"}
    deal = {**copy.deepcopy(company), "object": "deals", "record_id": "d-1"}
    batch = [company, no_time, deal, "not an event", person]

    answer = send_declared(web, "make", batch)

    assert answer.status == 202, answer.text
    assert answer.body == batch_answer(accepted=2, ignored=1, dead_lettered=2)
    dead = [str(e) for e in redis_client.zrange(keys.DLQ, 0, -1)]
    records = {e: redis_client.hgetall(keys.event(e)) for e in dead}
    assert {r["reason"] for r in records.values()} == {DeadLetterReason.INVALID_EVENT.value}
    errors = sorted(r["error"] for r in records.values())
    assert errors == [
        "event [1]: event_id: nothing at 'updated_at'",
        "event [3]: an event must be a JSON object",
    ]
    ignored = redis_client.hgetall(keys.event("make:d-1/2025-03-01T10:00:00.000Z"))
    assert ignored["status"] == "ignored"
    assert "'deals' records are not mapped (the file maps: companies, people)" in ignored["reason"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"[]", 422, "the array holds no events"),
        (b'"a string"', 422, "body must be a JSON object (one event) or a JSON array of events"),
        (b"{not json", 400, "body is not valid JSON"),
    ],
)
def test_bodies_no_event_can_come_from_are_refused(
    web_with: Callable[..., str], body: bytes, status: int, error: str
) -> None:
    web = web_with("make")

    answer = send_declared(web, "make", body)

    assert answer.status == status and error in answer.body["error"], answer.text


def test_more_than_100_events_refuse_the_array(
    web_with: Callable[..., str], redis_client: redis.Redis
) -> None:
    web = web_with("zapier")
    event = example_body("zapier")[0]
    batch = [{**event, "company_id": str(n)} for n in range(101)]

    answer = send_declared(web, "zapier", batch)

    assert answer.status == 422 and "at most 100 events" in answer.body["error"]
    assert stored_event_ids(redis_client) == []


def test_a_generic_id_that_reads_as_a_declared_sources_id_is_refused(
    web_with: Callable[..., str], redis_client: redis.Redis
) -> None:
    web = web_with("zoho")
    zoho_id = EXAMPLE_EVENTS["zoho"][0]
    generic = {
        "id": "zoho:1",
        "occurred_at": iso(),
        "customer": {"uuid": "cus_ns-1"},
        "set": {"city": "Berlin"},
    }

    refused = send_generic(web, GENERIC_SECRET, generic)
    real = send_declared(web, "zoho", example_body("zoho"))

    assert refused.status == 422 and "zoho" in refused.body["error"], refused.text
    assert (real.status, stored_event_ids(redis_client)) == (202, [zoho_id])


def counter(text: str, name: str, labels: str) -> float:
    found = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.M)
    assert found, f"{name}{{{labels}}} is not exported"
    return float(found.group(1))


def test_metrics_count_a_declared_source_under_its_own_name(web_with: Callable[..., str]) -> None:
    web = web_with("zapier")
    before = get(f"{web}/metrics").text
    received = counter(before, "relay_webhooks_received_total", 'source="zapier"')  # 0 from the start
    refused = counter(before, "relay_webhooks_rejected_total", 'reason="invalid_signature",source="zapier"')

    send_declared(web, "zapier", example_body("zapier"))
    send_declared(web, "zapier", example_body("zapier"), secret="zapier-wrong-token-0000000000")

    after = get(f"{web}/metrics").text
    assert counter(after, "relay_webhooks_received_total", 'source="zapier"') == received + 2
    assert counter(after, "relay_events_accepted_total", 'source="zapier"') >= 1
    refused_after = counter(
        after, "relay_webhooks_rejected_total", 'reason="invalid_signature",source="zapier"'
    )
    assert refused_after == refused + 1
