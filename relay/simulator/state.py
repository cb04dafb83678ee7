"""The one object an app instance keeps its state in, and the keys to reach it from a request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from relay.simulator.behaviour import Behaviour
from relay.simulator.faults import ConnectionCap, FaultDice, Faults, RateLimiter
from relay.simulator.store import Store


@dataclass(slots=True)
class SimState:
    api_key: str
    limiter: RateLimiter
    cap: ConnectionCap
    store: Store = field(default_factory=Store)
    faults: Faults = field(default_factory=Faults)
    dice: FaultDice = field(default_factory=FaultDice)
    # The switches `POST /_sim/reset` goes back to: the defaults, or `--behaviour` at start.
    initial_behaviour: Behaviour = field(default_factory=Behaviour)
    behaviour: Behaviour = field(default_factory=Behaviour)
    # Set when the server shuts down: requests held to simulate a timeout let go at once.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def reset(self) -> None:
        self.store.reset()
        self.faults = Faults()
        self.behaviour = self.initial_behaviour
        self.limiter.reset()


@dataclass(frozen=True, slots=True)
class Body:
    """A request's body, parsed once by the gate: `value` is None when absent or not JSON."""

    value: Any = None
    is_invalid_json: bool = False


SIM = web.AppKey("sim", SimState)
BODY = web.RequestKey("body", Body)
