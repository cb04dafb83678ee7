"""`relay simulator`: serve the simulator until interrupted, one log line per request."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web

from relay.simulator.app import create_simulator_app
from relay.simulator.behaviour import Behaviour, parse_assignments
from relay.simulator.seed import load_seed

# Address, request line, status, size, duration. Deliberately no headers: never the Authorization one.
ACCESS_LOG_FORMAT = '%a "%r" %s %bB %Tfs'
SHUTDOWN_TIMEOUT_S = 5.0

logger = logging.getLogger("relay.simulator")


def run_simulator(
    host: str, port: int, api_key: str, seed_path: str | None, behaviour: Sequence[str] = ()
) -> None:
    """Blocks until SIGINT/SIGTERM. The API key is never logged. `behaviour`: `KEY=VALUE` switches."""
    seed = load_seed(seed_path) if seed_path else None
    switches = Behaviour().updated(parse_assignments(behaviour))
    app = create_simulator_app(api_key, seed=seed, behaviour=switches)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logger.info(
        "ChartMogul simulator on http://%s:%d (seed: %s; behaviour: %s; control endpoints under /_sim/)",
        host,
        port,
        seed_path or "none",
        ", ".join(f"{k}={v}" for k, v in switches.to_json().items()),
    )
    web.run_app(
        app,
        host=host,
        port=port,
        access_log_format=ACCESS_LOG_FORMAT,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        print=None,
    )
