"""No secret leaks: after a full flow (events accepted, delivered, dead-lettered, replayed, admin
calls, CLI), no log line, no HTTP answer and no Redis key or value holds a secret's value."""

from __future__ import annotations

import base64
import contextlib
import logging
import zlib
from collections.abc import Callable, Iterator
from typing import Any, cast

import orjson
import pytest
import redis

from relay.app import create_app
from relay.settings import Settings
from relay.simulator.testing import SimulatorHandle
from tests.admin.helpers import ADMIN_TOKEN, AdminClient, relay_cli
from tests.conftest import GENERIC_SECRET, SIM_API_KEY
from tests.servers import WorkerProcess, running_web_app, wait_for
from tests.test_walking_relay import acme
from tests.webhooks import iso, post, send_generic


def secret_values() -> dict[str, bytes]:
    signing_key = GENERIC_SECRET.removeprefix("whsec_")
    return {
        "CHARTMOGUL_API_KEY": SIM_API_KEY.encode(),
        "RELAY_GENERIC_SECRET": GENERIC_SECRET.encode(),
        "RELAY_GENERIC_SECRET (key part)": signing_key.encode(),
        "RELAY_GENERIC_SECRET (decoded)": base64.b64decode(signing_key),
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN.encode(),
    }


def leaks(blob: bytes, where: str) -> list[str]:
    return [f"{name} in {where}" for name, value in secret_values().items() if value in blob]


def redis_dump(client: redis.Redis) -> Iterator[tuple[str, bytes]]:
    """Every key and value in the test database, type by type; compressed RQ job data unpacked."""
    # The client answers bytes (no decode_responses); redis-py types every answer bytes | str.
    for key in cast(Iterator[bytes], client.scan_iter(count=500)):
        kind = cast(bytes, client.type(key)).decode()
        values: list[bytes] = [key]
        if kind == "string":
            values.append(cast(bytes | None, client.get(key)) or b"")
        elif kind == "hash":
            fields = cast(dict[bytes, bytes], client.hgetall(key))
            for field, value in fields.items():
                values += [field, value]
            # Event records store payloads in 64-byte chunks: a secret could straddle two.
            values.append(b"".join(fields.values()))
        elif kind == "list":
            values += cast(list[bytes], client.lrange(key, 0, -1))
        elif kind == "set":
            values += list(cast(set[bytes], client.smembers(key)))
        elif kind == "zset":
            zset = cast(list[tuple[bytes, float]], client.zrange(key, 0, -1, withscores=True))
            values += [member for member, _ in zset]
        elif kind == "stream":
            for _, fields in cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(key)):
                for field, value in fields.items():
                    values += [field, value]
        for value in values:
            yield key.decode(errors="replace"), value
            with contextlib.suppress(zlib.error):
                yield key.decode(errors="replace"), zlib.decompress(value)


@pytest.fixture
def secret_env(relay_env: dict[str, str]) -> dict[str, str]:
    return {**relay_env, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN, "RELAY_LOG_LEVEL": "DEBUG"}


@pytest.fixture
def secret_web(secret_env: dict[str, str]) -> Iterator[str]:
    fields = {name.removeprefix("RELAY_").lower(): value for name, value in secret_env.items()}
    settings = Settings(_env_file=None, **fields)  # type: ignore[call-arg,arg-type]
    with running_web_app(create_app(settings)) as base_url:
        yield base_url


def test_no_secret_in_logs_answers_or_redis(
    secret_web: str,
    secret_env: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    simulator: SimulatorHandle,
    redis_url: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    worker = start_worker(RELAY_ADMIN_TOKEN=ADMIN_TOKEN, RELAY_LOG_LEVEL="DEBUG")
    admin = AdminClient(secret_web)
    simulator.set_behaviour(unknown_owner="reject")  # for the rejected PATCH below (the docs' 400)
    customer = acme(simulator)
    answers: list[tuple[str, str]] = []

    def send(event_id: str, **changes: Any) -> None:
        event = {"id": event_id, "occurred_at": iso(), "customer": {"uuid": customer["uuid"]}, **changes}
        answers.append((f"webhook {event_id}", send_generic(secret_web, GENERIC_SECRET, event).text))

    # Accepted and delivered; a duplicate; a forged one; one ChartMogul rejects.
    send("evt_s1", set={"city": "Oslo"}, tags={"add": ["vip"]})
    send("evt_s1", set={"city": "Oslo"}, tags={"add": ["vip"]})
    answers.append(
        ("forged", post(f"{secret_web}/webhooks/generic", b"{}", {"webhook-signature": "v1,x"}).text)
    )
    send("evt_s2", set={"owner": "sales@acme.test"})
    wait_for(lambda: admin.get("/admin/dlq/evt_s2").status == 200)
    # Fixed and replayed, through the admin API and the CLI.
    simulator.add_user("sales@acme.test")
    answers.append(("dry run", admin.post("/admin/dlq/replay", {"ids": ["evt_s2"], "dry_run": True}).text))
    answers.append(("replay", admin.post("/admin/dlq/replay", {"ids": ["evt_s2"]}).text))
    wait_for(lambda: simulator.customer(customer["uuid"])["owner"] == "sales@acme.test")
    send("evt_s3", set={"owner": "nobody@acme.test"})
    wait_for(lambda: admin.get("/admin/dlq/evt_s3").status == 200)
    for path in (
        "/admin/status",
        "/admin/events?since=1h",
        "/admin/events/evt_s1",
        "/admin/events/evt_s2",
        "/admin/dlq",
        "/admin/dlq/evt_s3",
        "/dashboard/",
        "/dashboard/0/data/queues.json",
        "/dashboard/0/data/workers.json",
        "/dashboard/0/data/jobs/relay/failed/8/asc/1.json",
        "/dashboard/0/data/job/dlq-evt__s3.json",
        "/metrics",
        "/readyz",
    ):
        answers.append((path, admin.get(path).text))
    for args in (
        ("status",),
        ("status", "--json"),
        ("dlq", "list"),
        ("events", "show", "evt_s2"),
        ("dlq", "replay", "evt_s3", "--dry-run"),
    ):
        done = relay_cli(secret_env, *args)
        answers.append((f"relay {' '.join(args)}", done.stdout + done.stderr))
    worker.stop()

    found: list[str] = []
    for where, text in answers:
        found += leaks(text.encode(), where)
    worker_log = worker.log_path.read_bytes()
    found += leaks(worker_log, "the worker's log")
    captured = capfd.readouterr()
    found += leaks((captured.out + captured.err).encode(), "the web app's output")
    found += leaks(
        "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records).encode(), "log records"
    )
    client = redis.Redis.from_url(redis_url)
    dumped = list(redis_dump(client))
    client.close()
    for key, value in dumped:
        found += leaks(value, f"Redis key {key}")

    assert leaks(b"x" + SIM_API_KEY.encode() + b"x", "a planted key")  # the search does find them
    assert found == []
    # The flow really ran: the places searched hold what they should.
    assert b"event_dead_lettered" in worker_log and b"evt_s2" in worker_log
    assert any(key == "relay:event:evt_s2" for key, _ in dumped)
    assert any(key.startswith("rq:job:dlq-evt__s3") for key, _ in dumped)
    assert any("evt_s1" in text for where, text in answers if where == "/admin/events?since=1h")


def test_settings_never_show_secret_values(secret_env: dict[str, str]) -> None:
    fields = {name.removeprefix("RELAY_").lower(): value for name, value in secret_env.items()}
    settings = Settings(_env_file=None, **fields)  # type: ignore[call-arg,arg-type]

    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump())]

    for text in shown:
        assert leaks(text.encode(), "settings") == []
    assert "**********" in repr(settings)
    assert orjson.loads(settings.model_dump_json())["admin_token"] == "**********"
