"""What every API request passes: request log, faults, rate limit, connection cap."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import orjson
import pytest

from relay.simulator.testing import SimResponse, SimulatorHandle, running_simulator
from tests.simulator.conftest import CUSTOMER_UUID

LOG_KEYS = {"method", "path", "query", "status", "body", "idempotency_key", "at"}


def _fire(sim: SimulatorHandle, count: int, workers: int, path: str = "/v1/ping") -> list[SimResponse]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda _: sim.request("GET", path), range(count)))


# request log


def test_the_request_log_records_api_requests_oldest_first(
    sim: SimulatorHandle, customer: dict[str, Any]
) -> None:
    sim.request("GET", "/v1/ping")
    sim.request(
        "PATCH", f"/v1/customers/{CUSTOMER_UUID}", {"company": "Acme"}, headers={"Idempotency-Key": "evt_1"}
    )
    sim.request("GET", "/v1/customers?external_id=34916129&data_source_uuid=ds_x")
    sim.request("GET", "/v1/ping", api_key="wrong")

    log = sim.requests()

    assert [set(entry) for entry in log] == [LOG_KEYS] * 4
    assert [(entry["method"], entry["path"], entry["status"]) for entry in log] == [
        ("GET", "/v1/ping", 200),
        ("PATCH", f"/v1/customers/{CUSTOMER_UUID}", 200),
        ("GET", "/v1/customers", 200),
        ("GET", "/v1/ping", 401),
    ]
    assert log[1]["body"] == {"company": "Acme"}
    assert log[1]["idempotency_key"] == "evt_1"
    assert log[0]["body"] is None
    assert log[0]["idempotency_key"] is None
    assert log[2]["query"] == {"external_id": "34916129", "data_source_uuid": "ds_x"}
    assert all(datetime.fromisoformat(entry["at"]).tzinfo is not None for entry in log)


def test_the_request_log_never_holds_the_api_key(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    sim.request("GET", f"/v1/customers/{CUSTOMER_UUID}")
    sim.request("PATCH", f"/v1/customers/{CUSTOMER_UUID}", {"status": "Active"})

    raw = orjson.dumps(sim.requests()).decode()

    assert len(sim.requests()) == 2
    assert sim.api_key not in raw
    assert "Authorization" not in raw
    assert "Basic " not in raw


def test_control_requests_are_not_logged(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    sim.stored_customer(CUSTOMER_UUID)
    sim.set_faults(latency_ms=0)

    assert sim.requests() == []


def test_a_body_that_is_not_json_is_logged_as_null(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    sim.request("PATCH", f"/v1/customers/{CUSTOMER_UUID}", raw=b"{oops")

    assert sim.requests()[-1]["body"] is None
    assert sim.requests()[-1]["status"] == 400


# faults


def test_an_injected_status_answers_every_request(sim: SimulatorHandle, customer: dict[str, Any]) -> None:
    sim.set_faults(status=500, rate=1.0)

    ping = sim.request("GET", "/v1/ping")
    patch = sim.request("PATCH", f"/v1/customers/{CUSTOMER_UUID}", {"company": "Changed"})

    assert ping.status == 500
    # the proxy's page, as recorded, not a JSON error
    assert ping.body == "500 Internal Server Error"
    assert ping.headers["Content-Type"].startswith("text/plain")
    assert patch.status == 500
    assert "Retry-After" not in patch.headers
    assert sim.stored_customer(CUSTOMER_UUID)["company"] == customer["company"]
    assert [entry["status"] for entry in sim.requests()] == [500, 500]


def test_the_rate_defaults_to_every_request(sim: SimulatorHandle) -> None:
    sim.set_faults(status=502)

    assert {sim.request("GET", "/v1/ping").status for _ in range(5)} == {502}


def test_a_zero_rate_never_fails(sim: SimulatorHandle) -> None:
    sim.set_faults(status=500, rate=0.0)

    assert {sim.request("GET", "/v1/ping").status for _ in range(5)} == {200}


def test_retry_after_is_sent_when_given(sim: SimulatorHandle) -> None:
    sim.set_faults(status=429, retry_after=2)

    response = sim.request("GET", "/v1/ping")

    assert response.status == 429
    assert response.headers["Retry-After"] == "2"
    assert response.body == {
        "code": 429,
        "message": "Your request rate has exceeded our rate limit.",
        "param": None,
    }


def test_latency_is_applied_to_every_api_request(sim: SimulatorHandle) -> None:
    sim.set_faults(latency_ms=200)

    started = time.monotonic()
    response = sim.request("GET", "/v1/ping")
    elapsed_s = time.monotonic() - started
    control_started = time.monotonic()
    sim.requests()
    control_elapsed_s = time.monotonic() - control_started

    assert response.status == 200
    assert 0.19 <= elapsed_s < 2.0
    assert control_elapsed_s < 0.19


def test_clearing_faults_serves_again(sim: SimulatorHandle) -> None:
    sim.set_faults(status=503, latency_ms=10)
    assert sim.request("GET", "/v1/ping").status == 503

    sim.clear_faults()

    assert sim.request("GET", "/v1/ping").status == 200
    assert sim.request("GET", "/_sim/faults", api_key=None).body == {
        "status": None,
        "rate": 1.0,
        "latency_ms": 0.0,
        "retry_after": None,
        "timeout_rate": 0.0,
        "answer_latency_ms": 0.0,
        "only": None,
    }


def test_faults_limited_to_one_route_leave_the_others_alone(sim: SimulatorHandle) -> None:
    sim.set_faults(status=503, only="PATCH /v1/customers/cus_x")

    assert sim.request("GET", "/v1/ping").status == 200
    assert sim.request("PATCH", "/v1/customers/cus_x", {"city": "X"}).status == 503
    assert sim.request("GET", "/v1/customers/cus_x").status == 404  # served, as usual


def test_a_late_answer_comes_after_the_request_took_effect(sim: SimulatorHandle) -> None:
    sim.set_faults(answer_latency_ms=2000, only="POST /v1/data_sources")
    impatient = SimulatorHandle(sim.base_url, sim.api_key, timeout_s=0.5)

    with pytest.raises((TimeoutError, socket.timeout)):
        impatient.request("POST", "/v1/data_sources", {"name": "Made while nobody listened"})

    names = [s["name"] for s in sim.request("GET", "/v1/data_sources").body["data_sources"]]
    assert "Made while nobody listened" in names


def test_control_endpoints_are_exempt_from_faults(sim: SimulatorHandle) -> None:
    sim.set_faults(status=500, latency_ms=300, timeout_rate=1.0)

    started = time.monotonic()
    created = sim.add_customer({"company": "Under Faults"})

    assert created["company"] == "Under Faults"
    assert time.monotonic() - started < 0.25


@pytest.mark.parametrize(
    "faults",
    [
        {"status": "500"},
        {"status": 42},
        {"rate": 1.5},
        {"latency_ms": -1},
        {"timeout_rate": 2},
        {"answer_latency_ms": -5},
        {"only": "/v1/customers"},
        {"colour": "red"},
    ],
)
def test_bad_fault_settings_are_refused(sim: SimulatorHandle, faults: dict[str, Any]) -> None:
    response = sim.request("POST", "/_sim/faults", faults, api_key=None)

    assert response.status == 400
    assert "error" in response.body


def test_a_timed_out_request_is_never_answered(sim_factory: Callable[..., SimulatorHandle]) -> None:
    sim = sim_factory(max_connections=1)
    sim.set_faults(timeout_rate=1.0)
    impatient = SimulatorHandle(sim.base_url, sim.api_key, timeout_s=0.3)

    with pytest.raises((TimeoutError, socket.timeout)):
        impatient.request("GET", "/v1/ping")
    sim.clear_faults()
    # once the client has gone, the held request stops counting as a connection
    time.sleep(0.5)

    assert sim.request("GET", "/v1/ping").status == 200
    assert [entry["status"] for entry in sim.requests()] == [None, 200]


def test_shutdown_lets_held_requests_go_at_once() -> None:
    outcome: list[object] = []
    with running_simulator() as sim:
        sim.set_faults(timeout_rate=1.0)
        patient = SimulatorHandle(sim.base_url, sim.api_key, timeout_s=30)

        def wait_for_answer() -> None:
            try:
                outcome.append(patient.request("GET", "/v1/ping").status)
            except OSError as exc:
                outcome.append(exc)

        client = threading.Thread(target=wait_for_answer)
        client.start()
        while not sim.requests():
            time.sleep(0.02)
        started = time.monotonic()
    stop_s = time.monotonic() - started
    client.join(5)

    assert stop_s < 3.0
    assert not client.is_alive()
    assert len(outcome) == 1


# rate limit and connection cap


def test_more_than_the_rate_per_second_is_429(sim_factory: Callable[..., SimulatorHandle]) -> None:
    sim = sim_factory()  # the default: 40 requests per second

    responses = _fire(sim, 60, workers=10)
    statuses = [response.status for response in responses]
    refused = [response for response in responses if response.status == 429]

    assert statuses.count(200) >= 40
    assert set(statuses) == {200, 429}
    assert refused[0].body == {
        "code": 429,
        "message": "Your request rate has exceeded our rate limit.",
        "param": None,
    }
    time.sleep(1.1)
    assert sim.request("GET", "/v1/ping").status == 200


def test_the_429_body_is_chartmogul_s(sim_factory: Callable[..., SimulatorHandle]) -> None:
    sim = sim_factory(rate_limit_per_s=2)

    statuses = [sim.request("GET", "/v1/ping") for _ in range(3)]

    assert [response.status for response in statuses] == [200, 200, 429]
    assert statuses[2].body == {
        "code": 429,
        "message": "Your request rate has exceeded our rate limit.",
        "param": None,
    }
    assert sim.requests()[-1]["status"] == 429


def test_more_connections_than_allowed_is_503(sim_factory: Callable[..., SimulatorHandle]) -> None:
    sim = sim_factory(max_connections=2)
    sim.set_faults(latency_ms=500)

    responses = _fire(sim, 5, workers=5)
    statuses = [response.status for response in responses]

    assert 200 in statuses
    assert statuses.count(503) >= 1
    assert statuses.count(200) <= 2
    refused = next(response for response in responses if response.status == 503)
    assert refused.body["code"] == 503
    assert refused.body["param"] is None
    assert sorted(entry["status"] for entry in sim.requests()) == sorted(statuses)
