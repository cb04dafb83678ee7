"""The `relay` command run in-process with click's CliRunner: what an operator sees, without a
Python start-up per call. Tests where the process itself is the point start `python -m relay`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from click.testing import CliRunner

from relay.cli import cli
from relay.settings import get_settings
from tests.servers import wait_for


@dataclass(frozen=True)
class Ran:
    """One command's exit code and output, named as for a finished process."""

    returncode: int
    stdout: str
    stderr: str


def relay_cli(env: Mapping[str, str | None], *args: str, input: str | None = None) -> Ran:
    """Run `relay ARGS` against `env` (on top of this process's environment; None unsets).

    An exception the command does not handle is raised here, so the test fails with it where
    an operator would have seen a traceback."""
    with fresh_process_state():
        result = CliRunner().invoke(
            cli, list(args), env=dict(env), input=input, prog_name="relay", catch_exceptions=False
        )
    return Ran(result.exit_code, result.stdout, result.stderr)


def relay_state(env: Mapping[str, str | None]) -> dict[str, Any]:
    """What `relay status --json` shows: the operator's view of queues, circuit and workers."""
    done = relay_cli(env, "status", "--json")
    assert done.returncode == 0, done.stderr
    state: dict[str, Any] = orjson.loads(done.stdout)
    return state


def wait_until_nothing_to_deliver(env: Mapping[str, str | None]) -> None:
    """Wait until `relay status` shows no customer ready, being delivered or waiting for a retry:
    every event is settled, and no delivery happens until something new arrives."""

    def idle() -> bool:
        state = relay_state(env)
        return (state["ready"], state["delivering"], state["retrying"]) == (0, 0, 0)

    try:
        wait_for(idle)
    except AssertionError:
        raise AssertionError(f"still something to deliver: {relay_state(env)}") from None


@contextmanager
def fresh_process_state() -> Iterator[None]:
    """What a new process would start without: cached settings (each command reads its env
    afresh), and logging set up by an earlier command. The command's own logging set-up points
    at the runner's streams, so the test process's is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    structlog_config = structlog.get_config()
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**structlog_config)
