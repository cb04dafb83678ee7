"""A ChartMogul stand-in for tests, benchmarks and local demos.

It serves the part of ChartMogul's API the relay uses (`/v1/customers...`, `/v1/ping`) and
answers it the way the real API was recorded answering (ChartMogul's own client libraries keep
those recordings), not the way a strict reading of the docs would; where the two disagree a
behaviour switch picks the side (behaviour.py). Switchable faults, a rate limit and a cap on
parallel connections come on top. Control endpoints under `/_sim/` set it up and show what it
received.

Switches and their defaults (the recorded side; behaviour.py gives the evidence for each):
`unknown_owner=ignore` (docs: reject), `lenient_values=true` (docs: false), `unknown_keys=ignore`
(docs: reject), `omitted_attributes=keep` (docs: delete). Set them with `POST /_sim/behaviour`,
`relay simulator --behaviour KEY=VALUE` or `running_simulator(behaviour=...)`.

    app.py        create_simulator_app: routes + gate
    gate.py       what every API request passes: log, connection cap, latency, auth, rate, faults
    api.py        the /v1 routes
    rules.py      PATCH validation, all-or-nothing, as strict as the switches say
    control.py    the /_sim routes
    attributes.py the /v1/customers/{uuid}/attributes... and /contacts routes
    behaviour.py  switches where the docs and the recorded real API disagree, with their evidence
    pages.py      cursor pagination in ChartMogul's page shape
    store.py      customers, contacts, users, custom attribute definitions, request log (in memory)
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
