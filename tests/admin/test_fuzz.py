"""Fuzzing the public endpoints over real HTTP: whatever the path, query, headers or body, the
answer is never a 5xx and never shows a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from relay.app import create_app
from relay.demo import signed_headers
from relay.settings import Settings
from relay.store import Store
from tests.admin.helpers import ADMIN_TOKEN, UUID_A, Reply, generic_payload, parsed, request, seed_dead
from tests.conftest import GENERIC_SECRET, TEST_REDIS_URL
from tests.servers import running_web_app

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Header values http.client can send: printable latin-1, no CR/LF.
HEADER_TEXT = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=60
)
SEGMENT = st.text(max_size=30)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
INT = st.integers(-(2**63), 2**63 - 1)
AUTH = st.one_of(
    st.just(f"Bearer {ADMIN_TOKEN}"),
    st.just(f"Bearer {ADMIN_TOKEN}"),
    st.just(f"bearer {ADMIN_TOKEN}"),
    st.builds(lambda s: f"Bearer {s}", HEADER_TEXT),
    st.builds(lambda s: f"Basic {s}", HEADER_TEXT),
    HEADER_TEXT,
)


@pytest.fixture(scope="module")
def fuzz_web() -> Iterator[str]:
    """One web app for all examples (admin token on), with one dead letter to act on and a
    worker heartbeat (so /readyz is ready: its 503 is no failure)."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    worker = Worker(
        [Queue("relay", connection=client, serializer=JSONSerializer)], connection=client, name="fuzz"
    )
    worker.register_birth()

    async def seed() -> None:
        store = Store.from_url(TEST_REDIS_URL)
        try:
            event = parsed(generic_payload("evt_fuzz", UUID_A, set={"owner": "nobody@acme.test"}))
            await seed_dead(store, [event])
        finally:
            await store.aclose()

    asyncio.run(seed())
    settings_ = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=TEST_REDIS_URL,
        generic_secret=SecretStr(GENERIC_SECRET),
        admin_token=SecretStr(ADMIN_TOKEN),
        chartmogul_api_key=SecretStr("sim_key_unused"),
    )
    with running_web_app(create_app(settings_)) as base_url:
        yield base_url
    client.flushdb()
    client.close()


def check(reply: Reply) -> None:
    assert reply.status < 500, reply.text
    assert "Traceback" not in reply.text


def quoted(segment: str) -> str:
    return urllib.parse.quote(segment, safe="") or "x"


@FUZZ
@given(
    source=st.sampled_from(["generic", "hubspot", "zoho"]) | SEGMENT,
    body=st.binary(max_size=300) | JSON.map(lambda doc: __import__("orjson").dumps(doc)),
    sign=st.booleans(),
    headers=st.dictionaries(
        st.sampled_from(
            ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "x-hubspot-signature"]
        ),
        HEADER_TEXT,
        max_size=3,
    ),
)
def test_webhooks_never_fail_with_a_5xx(
    fuzz_web: str, source: str, body: bytes, sign: bool, headers: dict[str, str]
) -> None:
    if sign:
        with contextlib.suppress(UnicodeDecodeError):
            headers = {**headers, **signed_headers(GENERIC_SECRET, body, msg_id="msg_fuzz")}
    check(request(f"{fuzz_web}/webhooks/{quoted(source)}", "POST", data=body, headers=headers))


@FUZZ
@given(
    path=st.sampled_from(["/healthz", "/readyz", "/metrics"]),
    query=st.dictionaries(st.sampled_from(["check", "x"]) | SEGMENT, SEGMENT, max_size=3),
    method=st.sampled_from(["GET", "HEAD", "POST", "DELETE"]),
)
def test_health_never_fails_with_a_5xx(fuzz_web: str, path: str, query: dict[str, str], method: str) -> None:
    url = f"{fuzz_web}{path}?{urllib.parse.urlencode(query)}"
    check(request(url, method, data=b"" if method == "POST" else None))


ADMIN_PARAMS = ["customer", "status", "source", "reason", "since", "until", "limit", "cursor"]


@FUZZ
@given(
    path=st.sampled_from(["/admin/status", "/admin/events", "/admin/dlq", "/admin/events/", "/admin/dlq/"]),
    tail=st.sampled_from(["evt_fuzz", ""]) | SEGMENT,
    query=st.dictionaries(
        st.sampled_from(ADMIN_PARAMS) | SEGMENT,
        HEADER_TEXT | st.sampled_from(["1h", "7d", "400", "dead"]),
        max_size=4,
    ),
    auth=AUTH,
)
def test_admin_reads_never_fail_with_a_5xx(
    fuzz_web: str, path: str, tail: str, query: dict[str, str], auth: str
) -> None:
    if path.endswith("/"):
        path += quoted(tail)
    url = f"{fuzz_web}{path}?{urllib.parse.urlencode(query)}"
    check(request(url, headers={"Authorization": auth}))


def bulk_body() -> st.SearchStrategy[Any]:
    filters = st.fixed_dictionaries(
        {},
        optional={name: st.text(max_size=12) | INT | st.none() | JSON for name in ADMIN_PARAMS[:6]},
    )
    return (
        st.fixed_dictionaries(
            {},
            optional={
                "ids": st.lists(st.sampled_from(["evt_fuzz", "evt_none"]) | st.text(max_size=20), max_size=3)
                | JSON,
                "filter": filters | JSON,
                "dry_run": st.booleans() | JSON,
                "as_stored": st.booleans(),
                "force": st.booleans(),
                "limit": INT | JSON,
            },
        )
        | JSON
    )


EDIT_BODY = (
    st.fixed_dictionaries(
        {},
        optional={
            "set": st.dictionaries(
                st.sampled_from(["fields.city", "fields.owner", "tags_add", "customer.uuid", "fields"])
                | st.text(max_size=15),
                JSON,
                max_size=3,
            ),
            "unset": st.lists(st.text(max_size=15), max_size=2),
            "change": JSON,
        },
    )
    | JSON
)


@FUZZ
@given(
    target=st.sampled_from(["replay", "purge", "edit"]),
    body=bulk_body(),
    edit=EDIT_BODY,
    raw=st.none() | st.binary(max_size=100),
    auth=AUTH,
)
def test_admin_changes_never_fail_with_a_5xx(
    fuzz_web: str, target: str, body: Any, edit: Any, raw: bytes | None, auth: str
) -> None:
    import orjson

    headers = {"Authorization": auth, "content-type": "application/json"}
    if target == "edit":
        data = raw if raw is not None else orjson.dumps(edit)
        reply = request(f"{fuzz_web}/admin/dlq/evt_fuzz/change", "PUT", data=data, headers=headers)
    else:
        if isinstance(body, dict):
            body = {**body, "dry_run": True}  # keep the one dead letter for the next examples
        data = raw if raw is not None else orjson.dumps(body)
        reply = request(f"{fuzz_web}/admin/dlq/{target}", "POST", data=data, headers=headers)
    check(reply)
