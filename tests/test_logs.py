"""A crash's stack trace reaches the JSON log, as structured frames (not `"exc_info": true`),
from the relay's own loggers and from the libraries' (uvicorn, Flask, rq) alike."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from tests.admin.helpers import ADMIN_TOKEN, AdminClient, Reply, request
from tests.servers import ServeProcess, free_port, read_log_lines, wait_for


@pytest.fixture
def served(relay_env: dict[str, str], tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess({**relay_env, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN}, tmp_path / "web.log")
    yield server
    server.stop()


def frames(line: dict[str, Any]) -> list[str]:
    return [frame["name"] for exc in line["exception"] for frame in exc["frames"]]


def test_a_crash_in_the_web_app_logs_its_stack_trace(served: ServeProcess, redis_url: str) -> None:
    # A job hash rq cannot read (a date it cannot parse): the dashboard's job page crashes on it.
    client = redis.Redis.from_url(redis_url)
    client.hset(
        "rq:job:broken",
        mapping={"created_at": "yesterday", "data": "{}", "status": "failed", "origin": "relay"},
    )
    client.close()

    reply = AdminClient(served.base_url).get("/dashboard/0/data/job/broken.json")
    line = wait_for(
        lambda: next((x for x in served.log_lines() if x.get("event") == "dashboard_error"), None)
    )

    assert reply.status == 500 and reply.body == {"error": "internal error"}
    assert line["level"] == "error" and line["path"] == "/dashboard/0/data/job/broken.json"
    assert "exc_info" not in line
    exc = line["exception"][0]  # the one raised last (rq's date parser tries two formats)
    assert exc["exc_type"] == "ValueError" and "yesterday" in exc["exc_value"]
    assert "str_to_date" in frames(line)
    assert all("locals" not in f for e in line["exception"] for f in e["frames"])


def test_a_library_logging_an_exception_gets_its_stack_trace_too() -> None:
    code = """
import logging
from relay.logs import configure_logging
configure_logging(fmt="json")
def deliver():
    raise ConnectionResetError("peer went away")
try:
    deliver()
except OSError:
    logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    [line] = [orjson.loads(x) for x in done.stderr.splitlines()]

    assert line["event"] == "Exception in ASGI application" and "exc_info" not in line
    assert line["exception"][0]["exc_type"] == "ConnectionResetError"
    assert "deliver" in frames(line)


CRASHING_SERVER = """
import sys
import uvicorn
from starlette.routing import Route
from relay.app import create_app
from relay.cli.common import load_settings

async def crash(request):
    raise RuntimeError("a bug in a handler")

app = create_app(load_settings())
app.router.routes.append(Route("/crash", crash))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, access_log=False)
"""


def test_an_internal_error_is_logged_once_with_its_path(relay_env: dict[str, str], tmp_path: Path) -> None:
    """Starlette re-raises after the 500 so servers can log it: uvicorn's own line repeated ours."""
    port = free_port()
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", CRASHING_SERVER, str(port)],
            env={**os.environ, **relay_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            reply = wait_for(lambda: _get(f"http://127.0.0.1:{port}/crash"))
        finally:
            server.terminate()
            server.wait(timeout=15)
    errors = [x for x in read_log_lines(log_path) if x.get("level") != "info"]

    assert (reply.status, reply.body) == (500, {"error": "internal error"})
    assert [(x["event"], x.get("path")) for x in errors] == [("internal_error", "/crash")]
    assert errors[0]["exception"][0]["exc_value"] == "a bug in a handler"


def _get(url: str) -> Reply | None:
    try:
        return request(url)
    except OSError:  # not listening yet
        return None


def test_a_secret_in_an_exception_message_is_masked_in_the_log(served: ServeProcess, redis_url: str) -> None:
    """Tracebacks carry exception messages, which carry data: a secret there is masked as in /admin."""
    client = redis.Redis.from_url(redis_url)
    client.hset("rq:job:leaky", mapping={"created_at": ADMIN_TOKEN, "data": "{}", "status": "failed"})
    client.close()

    AdminClient(served.base_url).get("/dashboard/0/data/job/leaky.json")
    line = wait_for(
        lambda: next((x for x in served.log_lines() if x.get("event") == "dashboard_error"), None)
    )

    assert "time data '[redacted]'" in line["exception"][0]["exc_value"]
    assert ADMIN_TOKEN.encode() not in served.log_path.read_bytes()


def accepted_lines(server: ServeProcess) -> list[dict[str, Any]] | None:
    return [x for x in server.log_lines() if x.get("event") == "webhooks_accepted"] or None


def test_accepted_webhooks_are_counted_once_a_second_and_each_event_is_a_debug_line(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    """At INFO a busy relay says how many it accepted, not a line per event; DEBUG names each."""
    from tests.admin.helpers import generic_payload
    from tests.conftest import GENERIC_SECRET
    from tests.webhooks import send_generic

    uuid = "cus_00000000-0000-4000-8000-00000000aaaa"
    lines: dict[str, list[dict[str, Any]]] = {}
    for level in ("INFO", "DEBUG"):
        server = ServeProcess({**relay_env, "RELAY_LOG_LEVEL": level}, tmp_path / f"{level}.log")
        try:
            for i in range(3):
                event = generic_payload(f"evt_tally_{level}_{i}", uuid, set={"city": "Oslo"})
                assert send_generic(server.base_url, GENERIC_SECRET, event).status == 202
            again = generic_payload(f"evt_tally_{level}_0", uuid, set={"city": "Oslo"})
            assert send_generic(server.base_url, GENERIC_SECRET, again).status == 200
            counted = wait_for(functools.partial(accepted_lines, server))
            lines[level] = server.log_lines()
        finally:
            server.stop()
        assert sum(x["requests"] for x in counted) == 4
        assert sum(x["events"] for x in counted) == 4
        assert sum(x["duplicates"] for x in counted) == 1
        assert {x["source"] for x in counted} == {"generic"}

    def per_event(level: str) -> list[str]:
        return [x["event"] for x in lines[level] if x.get("event", "").startswith("event_")]

    assert per_event("INFO") == []
    assert per_event("DEBUG") == ["event_accepted"] * 3 + ["event_duplicate"]


def test_lines_of_one_loop_iteration_leave_in_one_write_and_errors_at_once() -> None:
    import asyncio
    import io

    from relay.logs import TickWriter

    class CountingFile(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    async def main() -> tuple[int, int, int, str]:
        file = CountingFile()
        writer = TickWriter(file)
        for i in range(3):
            writer.info(f"line {i}")
        before = file.writes  # nothing yet: the lines wait for the end of the iteration
        await asyncio.sleep(0)
        after_tick = file.writes
        writer.info("line 3")
        writer.error("trouble")  # flushes what waits, then itself, at once
        return before, after_tick, file.writes, file.getvalue()

    before, after_tick, total, text = asyncio.run(main())
    assert (before, after_tick, total) == (0, 1, 3)
    assert text.splitlines() == ["line 0", "line 1", "line 2", "line 3", "trouble"]
