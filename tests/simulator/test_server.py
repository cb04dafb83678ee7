"""run_simulator, the blocking entry point the CLI calls, in a child process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

from relay.simulator import DEMO_SEED_PATH
from relay.simulator.testing import SimulatorHandle

API_KEY = "sim_secret_key_do_not_log"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_up(sim: SimulatorHandle, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            sim.request("GET", "/_sim/faults", api_key=None)
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the simulator did not come up")


def test_run_simulator_serves_the_seed_and_logs_one_line_per_request_without_the_key() -> None:
    port = _free_port()
    code = (
        "from relay.simulator import run_simulator; "
        f"run_simulator('127.0.0.1', {port}, {API_KEY!r}, {str(DEMO_SEED_PATH)!r})"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    sim = SimulatorHandle(f"http://127.0.0.1:{port}", API_KEY)
    try:
        _wait_until_up(sim, process)
        pong = sim.request("GET", "/v1/ping")
        demo = sim.request("GET", "/v1/customers?external_id=crm-1001")
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)

    assert pong.body == {"data": "pong!"}
    assert demo.body["entries"][0]["company"] == "Acme Corp"
    assert process.returncode == 0
    assert 'GET /v1/ping HTTP/1.1" 200' in output
    assert "GET /v1/customers?external_id=crm-1001" in output
    assert API_KEY not in output
    assert "Basic" not in output
