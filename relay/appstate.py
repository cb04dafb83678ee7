"""What the web app holds while it runs; handlers of every surface (webhooks, admin) read it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from relay.queue import Queue, Waker
from relay.settings import Settings
from relay.sources import WebhookSource
from relay.store import Store


@dataclass
class AppState:
    settings: Settings
    sources: dict[str, WebhookSource]
    store: Store
    queue: Queue
    waker: Waker


def app_state(request: Request) -> AppState:
    return request.app.state.relay  # type: ignore[no-any-return]
