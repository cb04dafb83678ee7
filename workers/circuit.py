"""The circuit breaker for bad credentials.

A 401/403 from ChartMogul means the API key is wrong (or the account's trial expired) for
every event, not just this one: dead-lettering the backlog would be wrong. The circuit opens,
every worker stops claiming customers (events stay queued), /readyz and metrics report it,
and one worker at a time probes GET /v1/ping with backoff until it answers 200. The state is
the store's (relay/store/circuit.py); this module decides when it changes.
"""

from __future__ import annotations

from relay.chartmogul.client import ChartMogulClient
from relay.exceptions import AuthFailed, DeliveryError
from relay.logs import get_logger
from relay.store.circuit import CircuitState

log = get_logger("relay.circuit")


class Circuit:
    def __init__(
        self, state: CircuitState, client: ChartMogulClient, *, max_probe_interval_s: float = 60.0
    ) -> None:
        self.state = state
        self.client = client
        self.max_probe_interval_s = max_probe_interval_s

    async def is_open(self) -> bool:
        return await self.state.is_open()

    async def open(self, reason: str) -> None:
        if await self.state.open(reason):
            log.error("circuit_open", reason=reason, action="delivery paused; events stay queued")

    async def probe_if_due(self) -> bool:
        """Probe ChartMogul if the circuit is open and no other worker probed recently.
        Returns True when the circuit closed."""
        interval_s = await self.state.probe_turn(max_interval_s=self.max_probe_interval_s)
        if interval_s is None:
            return False
        try:
            await self.client.ping()
        except AuthFailed as exc:
            log.error("circuit_still_open", error=exc.message, next_probe_in_s=interval_s)
            return False
        except DeliveryError as exc:
            log.warning("circuit_probe_failed", error=exc.message)
            return False
        await self.state.close()
        log.info("circuit_closed", action="delivery resumes")
        return True
