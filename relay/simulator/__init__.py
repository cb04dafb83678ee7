"""A ChartMogul stand-in for tests, benchmarks and local demos.

It serves the part of ChartMogul's API the relay uses (`/v1/customers...`, `/v1/ping`) and
enforces the "Update a Customer" contract, with switchable faults, a rate limit and a cap on
parallel connections. Control endpoints under `/_sim/` set it up and show what it received.

    app.py        create_simulator_app: routes + gate
    gate.py       what every API request passes: log, connection cap, latency, auth, rate, faults
    api.py        the /v1 routes
    rules.py      PATCH validation, all-or-nothing
    control.py    the /_sim routes
    store.py      customers, users, custom attribute definitions, request log (in memory)
    customers.py  the customer object in response shape
    faults.py     fault settings, rate limiter, connection cap
    seed.py       seed files; demo_seed.json is the one `relay dev` uses
    server.py     run_simulator (the CLI entry)
    testing.py    running_simulator: a live simulator in a background thread, for tests
"""

from relay.simulator.app import create_simulator_app
from relay.simulator.seed import DEMO_SEED_PATH, load_seed
from relay.simulator.server import run_simulator

__all__ = ["DEMO_SEED_PATH", "create_simulator_app", "load_seed", "run_simulator"]
