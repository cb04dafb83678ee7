"""Status codes and bytes (issue 11 §5): a signed body that is not UTF-8 is a 400, never a 401
nor an event stored with U+FFFD in place of what was signed; a Standard Webhooks signature list
verifies when any one entry is valid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson
import pytest
import redis

from tests.conftest import GENERIC_SECRET
from tests.sources.conftest import stored_event_ids
from tests.sources.senders import fixture_json, send_close, send_pipedrive
from tests.webhooks import iso, post

# Valid JSON whose string holds a byte that is not UTF-8 (Latin-1 é).
LATIN1_CITY = b"Montr\xe9al"


def standard_signature(body: bytes, msg_id: str, stamp: str, secret: str = GENERIC_SECRET) -> str:
    """`v1,<base64 HMAC-SHA256(key, id.timestamp.body)>` computed over the raw bytes, as the
    Standard Webhooks spec defines it (independently of the relay and of the library)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, msg_id.encode() + b"." + stamp.encode() + b"." + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def post_generic(
    base_url: str, body: bytes, signature: str | None = None, msg_id: str = "msg_1"
) -> tuple[int, str]:
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": signature or standard_signature(body, msg_id, stamp),
    }
    answer = post(f"{base_url}/webhooks/generic", body, headers)
    return answer.status, answer.text


def generic_body(event_id: str, city: bytes = b"Berlin") -> bytes:
    return (
        b'{"id":"' + event_id.encode() + b'","occurred_at":"' + iso().encode() + b'",'
        b'"customer":{"uuid":"cus_0001"},"set":{"city":"' + city + b'"}}'
    )


def test_a_signed_generic_body_that_is_not_utf8_is_a_400(web: str, redis_client: redis.Redis) -> None:
    status, text = post_generic(web, generic_body("evt_latin1", LATIN1_CITY))

    assert status == 400, text
    assert "UTF-8" in text
    assert stored_event_ids(redis_client) == []


def test_a_malformed_signature_entry_ahead_of_a_valid_one_verifies(web: str) -> None:
    body = generic_body("evt_list")
    stamp = str(int(time.time()))
    valid = standard_signature(body, "msg_list", stamp)
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_list",
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,!!notbase64!! v1 v2,abc {valid}",
    }

    answer = post(f"{web}/webhooks/generic", body, headers)

    assert answer.status == 202, answer.text


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("v1,!!notbase64!!", id="malformed-only"),
        pytest.param("v1," + base64.b64encode(b"x" * 32).decode(), id="wrong"),
        pytest.param("v2,{valid}", id="valid-under-another-version"),
    ],
)
def test_no_valid_entry_is_still_a_401(web: str, signature: str) -> None:
    body = generic_body("evt_bad")
    stamp = str(int(time.time()))
    valid = standard_signature(body, "msg_bad", stamp).removeprefix("v1,")
    headers = {
        "webhook-id": "msg_bad",
        "webhook-timestamp": stamp,
        "webhook-signature": signature.replace("{valid}", valid),
    }

    answer = post(f"{web}/webhooks/generic", body, headers)

    assert answer.status == 401, answer.text


def test_close_refuses_a_body_that_is_not_utf8(web: str, redis_client: redis.Redis) -> None:
    doc = fixture_json("close_lead_updated.json")
    doc["event"]["date_created"] = iso().removesuffix("Z")
    body = orjson.dumps(doc).replace(b'"data":{', b'"data":{"description":"' + LATIN1_CITY + b'",', 1)

    answer = send_close(web, body)

    assert answer.status == 400, answer.text
    assert "UTF-8" in answer.text
    assert stored_event_ids(redis_client) == []


def test_pipedrive_refuses_a_body_that_is_not_utf8(web: str, redis_client: redis.Redis) -> None:
    doc = fixture_json("pipedrive_organization_change.json")
    doc["meta"]["timestamp"] = iso()
    body = orjson.dumps(doc).replace(b'"data":{', b'"data":{"notes":"' + LATIN1_CITY + b'",', 1)

    answer = send_pipedrive(web, body)

    assert answer.status == 400, answer.text
    assert "UTF-8" in answer.text
    assert stored_event_ids(redis_client) == []
