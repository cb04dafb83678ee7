"""A live simulator for tests: real HTTP on loopback, served from a background thread.

    with running_simulator(seed=...) as sim:
        sim.add_user("owner@example.com")
        customer = sim.add_customer({"company": "Acme Corp"})
        ...  # point the code under test at sim.base_url with sim.api_key
        assert sim.requests()[-1]["status"] == 200

The helpers are synchronous (stdlib urllib, proxies bypassed) so they work from any test.
`customer()` goes through the API, so it is logged, rate limited and subject to faults;
`stored_customer()` reads the same object over the control endpoints instead.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from relay.simulator.app import create_simulator_app
from relay.simulator.behaviour import Behaviour

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 2.0

_DEFAULT = object()


class SimulatorCallError(RuntimeError):
    """A helper call got an answer it did not expect."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {path} answered {status}: {body!r}")
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class SimResponse:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class SimulatorHandle:
    base_url: str
    api_key: str
    timeout_s: float = 10.0

    # set-up

    def add_customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        return self._control("POST", "/_sim/customers", customer, expect=201)  # type: ignore[no-any-return]

    def add_data_source(self, name: str, uuid: str | None = None) -> dict[str, Any]:
        """A data source customers can be created under (`POST /v1/customers`)."""
        body = {"name": name, **({"uuid": uuid} if uuid else {})}
        return self._control("POST", "/_sim/data_sources", body, expect=201)  # type: ignore[no-any-return]

    def add_user(self, email: str) -> None:
        self._control("POST", "/_sim/users", {"email": email}, expect=201)

    def add_custom_attribute(self, key: str, type: str = "String") -> None:
        self._control("POST", "/_sim/custom_attributes", {"key": key, "type": type}, expect=201)

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """status, rate, latency_ms, retry_after, timeout_rate; replaces the current settings."""
        return self._control("POST", "/_sim/faults", faults)  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self._control("DELETE", "/_sim/faults")

    def set_behaviour(self, **switches: Any) -> dict[str, Any]:
        """Sets the switches given (relay/simulator/behaviour.py), e.g. `unknown_owner="reject"`;
        answers all of them. `reset()` goes back to the ones the simulator started with."""
        return self._control("POST", "/_sim/behaviour", switches)  # type: ignore[no-any-return]

    def strict(self) -> dict[str, Any]:
        """Every switch on the docs' side: what tests of the relay's safety nets run against."""
        return self.set_behaviour(**Behaviour.strict().to_json())

    def behaviour(self) -> dict[str, Any]:
        return self._control("GET", "/_sim/behaviour")  # type: ignore[no-any-return]

    def reset(self) -> None:
        self._control("POST", "/_sim/reset")

    # inspection

    def customer(self, uuid: str) -> dict[str, Any]:
        """`GET /v1/customers/{uuid}` with the API key; raises SimulatorCallError unless 200."""
        response = self.request("GET", f"/v1/customers/{uuid}")
        if response.status != 200:
            raise SimulatorCallError("GET", f"/v1/customers/{uuid}", response.status, response.body)
        return response.body  # type: ignore[no-any-return]

    def stored_customer(self, uuid: str) -> dict[str, Any]:
        """The stored customer via `/_sim/`: not logged, never faulted."""
        return self._control("GET", f"/_sim/customers/{uuid}")  # type: ignore[no-any-return]

    def primary_contact(self, uuid: str) -> dict[str, Any] | None:
        """The contact PATCH `primary_contact` left (never part of the customer object), or None."""
        response = self.request("GET", f"/_sim/customers/{uuid}/primary_contact", api_key=None)
        return response.body if response.status == 200 else None

    def requests(self) -> list[dict[str, Any]]:
        """Every API request received, oldest first."""
        return self._control("GET", "/_sim/requests")  # type: ignore[no-any-return]

    # raw HTTP

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        api_key: Any = _DEFAULT,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> SimResponse:
        """Any request, `body` sent as JSON (or `raw` bytes as they are); `api_key=None` sends no
        Authorization header. Never raises on a status."""
        key = self.api_key if api_key is _DEFAULT else api_key
        all_headers = {"Accept": "application/json", **(headers or {})}
        if key is not None:
            all_headers["Authorization"] = "Basic " + b64encode(f"{key}:".encode()).decode()
        data = raw
        if body is not None:
            data = orjson.dumps(body)
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.base_url + path, data=data, headers=all_headers, method=method)
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as answer:
                return SimResponse(answer.status, _parse(answer.read()), dict(answer.headers))
        except urllib.error.HTTPError as error:
            with error:
                return SimResponse(error.code, _parse(error.read()), dict(error.headers))

    def _control(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        response = self.request(method, path, body, api_key=None)
        if response.status != expect:
            raise SimulatorCallError(method, path, response.status, response.body)
        return response.body


@contextmanager
def running_simulator(
    api_key: str = "sim_test_key", seed: dict[str, Any] | None = None, **kw: Any
) -> Iterator[SimulatorHandle]:
    """A simulator on 127.0.0.1 on a free port; `kw` goes to create_simulator_app
    (`behaviour=Behaviour.strict()` or `behaviour={"unknown_owner": "reject"}` for switches)."""
    with serving(create_simulator_app(api_key, seed=seed, **kw)) as base_url:
        yield SimulatorHandle(base_url=base_url, api_key=api_key)


@contextmanager
def serving(app: web.Application, name: str = "chartmogul-simulator") -> Iterator[str]:
    """Any aiohttp app (the simulator, a CRM stand-in) on 127.0.0.1 on a free port, from a
    background thread; yields its base URL."""
    server = _ServerThread(app, name)
    server.start_and_wait()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


class _ServerThread(threading.Thread):
    """Runs the app on its own event loop until stop()."""

    def __init__(self, app: web.Application, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._app = app
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0

    def start_and_wait(self) -> None:
        self.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"{self.name} did not start in time")
        if self._error is not None:
            raise RuntimeError(f"{self.name} failed to start") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(STOP_TIMEOUT_S)

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # handed to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await runner.cleanup()


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
