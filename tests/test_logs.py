"""A crash's stack trace reaches the JSON log, as structured frames (not `"exc_info": true`),
from the relay's own loggers and from the libraries' (uvicorn, Flask, rq) alike."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from tests.admin.helpers import ADMIN_TOKEN, AdminClient
from tests.servers import ServeProcess, wait_for


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
