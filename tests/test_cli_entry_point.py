"""The real `relay` entry point, as a process: what in-process CLI tests cannot show (its exit
codes and one-line errors come from `relay.cli.main`, around the click group they invoke)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from relay.simulator.testing import SimulatorHandle
from tests.conftest import GENERIC_SECRET
from tests.servers import ServeProcess, free_port, wait_for


def relay_process(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RELAY_", "CHARTMOGUL_"))}
    return subprocess.run(
        [sys.executable, "-m", "relay", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,  # away from the checkout, so no `.env` there configures the command
    )


def test_a_mistyped_command_suggests_the_right_one(tmp_path: Path) -> None:
    done = relay_process(tmp_path, "stauts")

    assert done.returncode == 2
    assert "No such command 'stauts'. Did you mean 'status'?" in done.stderr


def test_a_missing_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = relay_process(tmp_path, "worker", RELAY_REDIS_URL="redis://127.0.0.1:1/0")

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: CHARTMOGUL_API_KEY is not set: the worker needs your ChartMogul API key to deliver changes"
    )
    assert done.stdout == ""


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The command's error: exactly one line on stderr, no traceback, nothing on stdout."""
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


REDIS_DOWN = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.mark.parametrize(
    ("command", "env", "named"),
    [
        (["status"], {"RELAY_RATE_LIMIT_PER_S": "abc"}, "RELAY_RATE_LIMIT_PER_S='abc' is not valid"),
        (["status"], {"RELAY_LOG_FORMAT": "pretty"}, "RELAY_LOG_FORMAT='pretty' is not valid"),
        (["status"], {"RELAY_LOG_LEVEL": "LOUD"}, "RELAY_LOG_LEVEL='LOUD' is not valid"),
        (["status"], {"RELAY_MAX_BODY_BYTES": "-5"}, "RELAY_MAX_BODY_BYTES='-5' is not valid"),
        (["status"], {"RELAY_REDIS_URL": "notaurl"}, "RELAY_REDIS_URL='notaurl' is not valid: a Redis URL"),
        (["serve"], {"RELAY_GENERIC_SECRET": "whsec_!!notbase64"}, "RELAY_GENERIC_SECRET is not valid"),
        (["serve"], {"RELAY_GENERIC_SECRET": "c2VjcmV0LWtleQ=="}, "starts with whsec_"),
        (["worker"], {"RELAY_DELIVERY_CONCURRENCY": "0"}, "RELAY_DELIVERY_CONCURRENCY='0' is not valid"),
        (["dlq", "list"], {"RELAY_CLOSE_SIGNATURE_KEY": "not-hex"}, "RELAY_CLOSE_SIGNATURE_KEY is not valid"),
    ],
)
def test_a_setting_the_relay_cannot_use_is_one_line_naming_it_and_exit_2(
    tmp_path: Path, command: list[str], env: dict[str, str], named: str
) -> None:
    done = relay_process(tmp_path, *command, **{"RELAY_REDIS_URL": REDIS_DOWN, **env})

    assert named in one_line_error(done)
    assert done.returncode == 2
    assert "!!notbase64" not in done.stderr and "c2VjcmV0" not in done.stderr  # a secret is never shown


@pytest.mark.parametrize("command", [["status"], ["dlq", "list"], ["events", "list"], ["links", "list"]])
def test_an_unreachable_redis_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    done = relay_process(tmp_path, *command, RELAY_REDIS_URL=REDIS_DOWN)

    line = one_line_error(done)
    assert line.startswith(f"Error: cannot reach Redis at {REDIS_DOWN} (RELAY_REDIS_URL)")
    assert done.returncode == 1


def test_a_worker_that_cannot_reach_redis_at_start_says_so_and_exits_1(tmp_path: Path) -> None:
    done = relay_process(tmp_path, "worker", RELAY_REDIS_URL=REDIS_DOWN, CHARTMOGUL_API_KEY="sim_key")

    assert "Traceback" not in done.stderr and "a bug in the relay" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after its JSON log lines
    assert last.startswith(f"Error: cannot reach Redis at {REDIS_DOWN} (RELAY_REDIS_URL)")
    assert "worker_started" not in done.stderr
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["serve", "--port", "99999"], "--port"),
        (["simulator", "--port", "0"], "--port"),
        (["dev", "--simulator-port", "70000"], "--simulator-port"),
        (["worker", "--metrics-port", "65536"], "--metrics-port"),
        (["send", "--source", "generic", "event.json", "--url", "notaurl"], "--url"),
    ],
)
def test_an_option_out_of_its_range_is_a_usage_error_naming_it(
    tmp_path: Path, command: list[str], option: str
) -> None:
    (tmp_path / "event.json").write_text("{}")

    done = relay_process(tmp_path, *command, RELAY_REDIS_URL=REDIS_DOWN)

    assert f"Invalid value for '{option}'" in done.stderr
    assert "Traceback" not in done.stderr and "a bug in the relay" not in done.stderr
    assert done.returncode == 2


def test_commands_reading_the_account_say_so_when_the_key_is_missing(tmp_path: Path) -> None:
    export = tmp_path / "companies.csv"
    export.write_text("Record ID,Company name\n1,Acme\n")

    for command in (
        ["links", "suggest", "--source", "hubspot", str(export)],
        ["sync", "--source", "hubspot", "--from-api", "--since", "24h", "--dry-run"],
    ):
        done = relay_process(tmp_path, *command, RELAY_REDIS_URL=REDIS_DOWN, RELAY_HUBSPOT_ACCESS_TOKEN="t")
        assert one_line_error(done) == (
            "Error: CHARTMOGUL_API_KEY is not set: "
            "this command reads your ChartMogul account's customers with your API key"
        ), command
        assert done.returncode == 2


def test_a_redis_password_never_shows_in_the_error(tmp_path: Path) -> None:
    done = relay_process(tmp_path, "status", RELAY_REDIS_URL="redis://:hunter2secret@127.0.0.1:1/0")

    assert "hunter2secret" not in done.stderr and ":***@" in one_line_error(done)


def test_a_wrong_chartmogul_key_is_one_line_and_exit_2(
    tmp_path: Path, redis_url: str, simulator: SimulatorHandle
) -> None:
    export = tmp_path / "companies.csv"
    export.write_text("Record ID,Company name\n1,Acme\n")
    env = {"RELAY_REDIS_URL": redis_url, "CHARTMOGUL_API_BASE": simulator.base_url}

    for command in (["sync", "--source", "hubspot", str(export), "--dry-run"], ["links", "suggest"]):
        if command[0] == "links":
            command += ["--source", "hubspot", str(export)]
        done = relay_process(tmp_path, *command, **env, CHARTMOGUL_API_KEY="wrong_key")
        assert "refused the API key (401): set CHARTMOGUL_API_KEY" in one_line_error(done)
        assert done.returncode == 2


def test_an_unreachable_chartmogul_is_one_line_and_exit_1(tmp_path: Path, redis_url: str) -> None:
    export = tmp_path / "companies.csv"
    export.write_text("Record ID,Company name\n1,Acme\n")
    nowhere = f"http://127.0.0.1:{free_port()}"

    done = relay_process(
        tmp_path,
        *("links", "suggest", "--source", "hubspot", str(export)),
        RELAY_REDIS_URL=redis_url,
        CHARTMOGUL_API_BASE=nowhere,
        CHARTMOGUL_API_KEY="sim_key",
        RELAY_HTTP_TIMEOUT_S="2",
    )

    assert f"cannot reach ChartMogul at {nowhere} (CHARTMOGUL_API_BASE)" in one_line_error(done)
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["simulator"], "--port"),
        (["serve"], "--port"),
        (["worker", "--metrics-port"], "--metrics-port"),
        (["dev", "--simulator-port", "1"], "--port"),  # the web port is checked first
    ],
)
def test_a_busy_port_is_refused_in_one_line_before_anything_starts(
    tmp_path: Path, redis_url: str, command: list[str], option: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [*command, str(port)] if command[-1] == "--metrics-port" else [*command, "--port", str(port)]
        done = relay_process(
            tmp_path,
            *args,
            RELAY_REDIS_URL=redis_url,
            RELAY_GENERIC_SECRET=GENERIC_SECRET,
            CHARTMOGUL_API_KEY="sim_key",
        )

    assert f"port {port} on " in one_line_error(done) and f"pick another with {option}" in done.stderr
    assert done.returncode == 2
    assert "running" not in done.stdout


def test_relay_dev_refuses_a_busy_simulator_port(tmp_path: Path, redis_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = relay_process(
            tmp_path,
            "dev",
            "--port",
            str(free_port()),
            "--simulator-port",
            str(port),
            RELAY_REDIS_URL=redis_url,
        )

    assert "pick another with --simulator-port" in one_line_error(done)
    assert done.returncode == 2 and "running" not in done.stdout


def test_relay_serve_warns_when_redis_does_not_answer_at_start_up(tmp_path: Path) -> None:
    server = ServeProcess(
        {"RELAY_REDIS_URL": REDIS_DOWN, "RELAY_GENERIC_SECRET": GENERIC_SECRET}, tmp_path / "web.log"
    )
    try:
        warned = wait_for(
            lambda: [line for line in server.log_lines() if line.get("event") == "redis_unavailable_at_start"]
        )
    finally:
        server.stop()

    [line] = warned
    assert line["level"] == "warning" and line["redis_url"] == REDIS_DOWN
    assert "RELAY_REDIS_URL" in line["action"]


def test_relay_dev_without_a_redis_it_can_start_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = relay_process(
        tmp_path,
        *("dev", "--port", str(free_port()), "--simulator-port", str(free_port())),
        RELAY_REDIS_URL="redis://127.0.0.2:1/0",  # not this machine's address: none is started
    )

    assert "Redis does not answer at 127.0.0.2:1 (RELAY_REDIS_URL): install redis-server" in one_line_error(
        done
    )
    assert done.returncode == 1 and "running" not in done.stdout
