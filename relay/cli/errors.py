"""Every mistake an operator can make with `relay` ends in one line, never a traceback.

    exit 2  bad input: a setting the relay cannot use, a missing one, a mapping file that does
            not parse, a key ChartMogul or a CRM refuses, a port already in use
    exit 1  something the relay cannot reach now: Redis, ChartMogul, a CRM's API

The `relay` group (relay/cli/__init__.py) turns these exceptions into `Failed` wherever a
command raises them; click prints "Error: <the line>" and exits with its code.
"""

from __future__ import annotations

import socket

import click

from relay.exceptions import (
    AuthFailed,
    CrmApiError,
    CrmUnavailable,
    DeliveryError,
    StoreError,
    StoreUnavailable,
    Transient,
)
from relay.mapping.config import MappingError
from relay.settings import InvalidSettings, MissingSetting, get_settings, redacted_url
from relay.sources.close import CloseKeyError

BAD_INPUT = 2
UNREACHABLE = 1


class Failed(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click's class default is 1


# What the group translates; anything else is a bug of ours, and main() says so in one line.
TRANSLATED = (
    InvalidSettings,
    MissingSetting,
    MappingError,
    CloseKeyError,
    StoreError,
    DeliveryError,
    CrmApiError,
)


def one_line(exc: Exception) -> Failed:
    """The line (and exit status) an operator sees for one of TRANSLATED."""
    if isinstance(exc, InvalidSettings | MissingSetting | MappingError | CloseKeyError):
        return Failed(str(exc), BAD_INPUT)
    if isinstance(exc, CrmApiError):  # its message names the CRM, the address and the variable
        return Failed(exc.message, UNREACHABLE if isinstance(exc, CrmUnavailable) else BAD_INPUT)
    if isinstance(exc, StoreError):
        where = redacted_url(get_settings().redis_url)
        if isinstance(exc, StoreUnavailable):
            return Failed(
                f"cannot reach Redis at {where} (RELAY_REDIS_URL): {exc.cause}; "
                "start Redis, or point RELAY_REDIS_URL at a running one",
                UNREACHABLE,
            )
        return Failed(f"Redis at {where} refused a command: {exc.message}", UNREACHABLE)
    assert isinstance(exc, DeliveryError)
    base = get_settings().chartmogul_api_base
    if isinstance(exc, AuthFailed):
        return Failed(
            f"ChartMogul at {base} refused the API key ({exc.status}): set CHARTMOGUL_API_KEY to an "
            "API key of the account (ChartMogul: Profile → API keys)",
            BAD_INPUT,
        )
    if isinstance(exc, Transient):
        return Failed(
            f"cannot reach ChartMogul at {base} (CHARTMOGUL_API_BASE): {exc.message}; check the "
            "address, or try again later",
            UNREACHABLE,
        )
    return Failed(f"ChartMogul at {base} (CHARTMOGUL_API_BASE) refused the request: {exc.message}", BAD_INPUT)


def require_free_port(host: str, port: int, option: str = "--port") -> None:
    """Refuse a port something already listens on, before starting anything."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn and aiohttp bind
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise port_in_use(host, port, option, exc) from None


def port_in_use(host: str, port: int, option: str, exc: OSError) -> Failed:
    why = "is in use" if exc.errno in (98, 48) else f"cannot be used ({exc.strerror})"
    return Failed(
        f"port {port} on {host} {why}: stop what runs there, or pick another with {option}", BAD_INPUT
    )
