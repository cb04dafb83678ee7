"""The aiohttp application: the API routes behind the gate, plus the control routes."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from relay.simulator import api, attributes, control, data_sources
from relay.simulator.behaviour import Behaviour
from relay.simulator.faults import ConnectionCap, RateLimiter
from relay.simulator.gate import api_gate
from relay.simulator.seed import apply_seed
from relay.simulator.state import SIM, SimState
from relay.simulator.values import is_country, us_state_codes


def create_simulator_app(
    api_key: str,
    *,
    seed: dict[str, Any] | None = None,
    rate_limit_per_s: float = 40.0,
    max_connections: int = 20,
    behaviour: Behaviour | dict[str, Any] | None = None,
) -> web.Application:
    """A ChartMogul stand-in accepting `api_key`. `rate_limit_per_s=float("inf")` turns the limit off.

    `seed` is the content of a seed file (see `load_seed`); it is copied, not kept. `behaviour`
    sets switches (behaviour.py) that `POST /_sim/reset` returns to; InvalidSetup when unknown.
    """
    if not isinstance(behaviour, Behaviour):
        behaviour = Behaviour().updated(behaviour or {})
    sim = SimState(
        api_key=api_key,
        limiter=RateLimiter(rate_limit_per_s),
        cap=ConnectionCap(max_connections),
        initial_behaviour=behaviour,
        behaviour=behaviour,
    )
    if seed is not None:
        apply_seed(sim.store, copy.deepcopy(seed))
    app = web.Application(middlewares=[api_gate])
    app[SIM] = sim
    app.add_routes(api.routes)
    app.add_routes(attributes.routes)
    app.add_routes(data_sources.routes)
    app.add_routes(control.routes)
    app.on_startup.append(_warm_up)
    app.on_shutdown.append(_release_held_requests)
    return app


async def _warm_up(app: web.Application) -> None:
    """Load pycountry's tables now rather than on the first PATCH."""
    us_state_codes()
    is_country("US")


async def _release_held_requests(app: web.Application) -> None:
    app[SIM].stopping.set()
