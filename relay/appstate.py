"""What the web app holds while it runs; handlers of every surface (webhooks, admin) read it."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from relay.logs import Tally, get_logger
from relay.queue import Queue, Waker
from relay.settings import Settings
from relay.sources import WebhookSource
from relay.store import Store
from relay.store.traffic import TrafficTally


@dataclass
class AppState:
    settings: Settings
    sources: dict[str, WebhookSource]
    # Built-in and declared sources: what a secret would enable (the others are unknown).
    known_sources: frozenset[str]
    store: Store
    queue: Queue
    waker: Waker
    # Webhook requests accepted and refused per source, added to Redis once a second (the console).
    traffic: TrafficTally
    # Accepted webhooks per source, logged once a second ("webhooks_accepted").
    accepted: Tally = field(
        default_factory=lambda: Tally(get_logger("relay.web"), "webhooks_accepted", key="source")
    )


def app_state(request: Request) -> AppState:
    return request.app.state.relay  # type: ignore[no-any-return]
