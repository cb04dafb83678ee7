"""The behaviour switches: `/_sim/behaviour`, reset, `create_simulator_app(behaviour=...)` and
`relay simulator --behaviour KEY=VALUE`."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from relay.simulator.behaviour import CHOICES, Behaviour
from relay.simulator.customers import InvalidSetup
from relay.simulator.testing import SimulatorHandle, running_simulator
from tests.simulator.conftest import CUSTOMER_UUID
from tests.simulator.test_server import _free_port, _wait_until_up

DEFAULTS = {
    "unknown_owner": "ignore",
    "lenient_values": True,
    "unknown_keys": "ignore",
    "omitted_attributes": "keep",
}


def test_the_defaults_are_the_recorded_behaviour(sim: SimulatorHandle) -> None:
    assert sim.behaviour() == DEFAULTS
    assert Behaviour().to_json() == DEFAULTS
    assert {name: choices[0] for name, choices in CHOICES.items()} == DEFAULTS


def test_setting_switches_keeps_the_others_and_reset_restores_them(
    sim: SimulatorHandle, customer: dict[str, Any]
) -> None:
    path = f"/v1/customers/{CUSTOMER_UUID}"
    assert sim.request("PATCH", path, {"owner": "nobody@example.com"}).status == 200

    answered = sim.set_behaviour(unknown_owner="reject")
    sim.set_behaviour(lenient_values=False)

    assert answered == {**DEFAULTS, "unknown_owner": "reject"}
    assert sim.behaviour() == {**DEFAULTS, "unknown_owner": "reject", "lenient_values": False}
    assert sim.request("PATCH", path, {"owner": "nobody@example.com"}).status == 400
    sim.reset()
    assert sim.behaviour() == DEFAULTS


def test_strict_puts_every_switch_on_the_docs_side(sim: SimulatorHandle) -> None:
    assert sim.strict() == {
        "unknown_owner": "reject",
        "lenient_values": False,
        "unknown_keys": "reject",
        "omitted_attributes": "delete",
    }


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"unknown_owner": "reject", "colour": "red"}, ["colour"]),
        ({"owner": "reject", "strict": True}, ["owner", "strict"]),
        ({"unknown_owner": "maybe"}, ["unknown_owner='maybe'", "ignore | reject"]),
        ({"lenient_values": "yes"}, ["lenient_values='yes'", "true | false"]),
        ({"lenient_values": 1}, ["lenient_values=1"]),
        (
            {"unknown_keys": None, "omitted_attributes": "drop"},
            ["unknown_keys=None", "omitted_attributes='drop'"],
        ),
    ],
)
def test_unknown_switches_or_values_are_a_400_naming_them_and_change_nothing(
    sim: SimulatorHandle, body: dict[str, Any], named: list[str]
) -> None:
    response = sim.request("POST", "/_sim/behaviour", body, api_key=None)

    assert response.status == 400
    assert all(name in response.body["error"] for name in named), response.body
    assert sim.behaviour() == DEFAULTS


@pytest.mark.parametrize("raw", [b"[]", b'"strict"', b"{nope"])
def test_a_body_that_is_not_an_object_is_a_400(sim: SimulatorHandle, raw: bytes) -> None:
    response = sim.request("POST", "/_sim/behaviour", raw=raw, api_key=None)

    assert response.status == 400
    assert "error" in response.body


def test_switches_given_at_start_are_what_reset_returns_to(
    sim_factory: Callable[..., SimulatorHandle],
) -> None:
    sim = sim_factory(behaviour={"unknown_owner": "reject"})
    sim.set_behaviour(unknown_owner="ignore")

    sim.reset()

    assert sim.behaviour() == {**DEFAULTS, "unknown_owner": "reject"}


def test_an_unknown_switch_at_start_is_refused() -> None:
    with pytest.raises(InvalidSetup, match="colour"), running_simulator(behaviour={"colour": "red"}):
        pass


def _start_cli(port: int, *behaviour: str) -> subprocess.Popen[str]:
    args = [arg for pair in behaviour for arg in ("--behaviour", pair)]
    return subprocess.Popen(
        [sys.executable, "-m", "relay", "simulator", "--port", str(port), "--api-key", "k", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_cli_takes_repeated_behaviour_switches() -> None:
    port = _free_port()
    process = _start_cli(port, "unknown_owner=reject", "lenient_values=false")
    sim = SimulatorHandle(f"http://127.0.0.1:{port}", "k")
    try:
        _wait_until_up(sim, process)
        switches = sim.behaviour()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)

    assert switches == {**DEFAULTS, "unknown_owner": "reject", "lenient_values": False}
    assert "unknown_owner=reject" in output


@pytest.mark.parametrize(("pair", "named"), [("colour=red", "colour"), ("unknown_owner", "KEY=VALUE")])
def test_the_cli_refuses_a_bad_switch_naming_it(pair: str, named: str) -> None:
    process = _start_cli(_free_port(), pair)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 2
    assert named in output
