"""The relay's exceptions, in one place.

RelayError
 ├── WebhookError              an incoming request is refused (carries its HTTP status)
 │    ├── SourceDisabled       404: unknown source, or its secret is not configured
 │    ├── InvalidSignature     401
 │    ├── PayloadTooLarge      413 (the connection is closed: the rest of the body is unread)
 │    ├── BodyTimeout          408: the body did not arrive within RELAY_BODY_TIMEOUT_S (closed too)
 │    ├── MalformedPayload     400: not JSON / not XML
 │    ├── InvalidEvent         422: parses, but breaks the source's schema (`limit`: breaks a
 │    │                        bound of relay/sources/limits.py, which refuses a batch whole)
 │    ├── QueueUnavailable     503: Redis cannot take the events now; the CRM retries
 │    └── StoreFailed          500: Redis answered, but refused the accept script (nothing stored)
 ├── NotReplicated            fewer Redis replicas confirmed a write than RELAY_REDIS_REPLICA_ACKS
 ├── StoreError                Redis failed a command (redis-py's errors, translated by the store)
 │    ├── StoreUnavailable     unreachable, timed out, or cannot take it now (loading, read-only,
 │    │                        out of memory, failing over): the same command may work later
 │    └── StoreRejected        Redis answered, and refused the command itself (a key of another
 │                             type, a script's error): our bug or a damaged database
 ├── CrmApiError               a read of a CRM's own API failed (`relay sync --from-api`, raised in
 │    │                        relay/sources/crmapi.py); the message is the operator's whole line
 │    ├── CrmAuthFailed        401/403: the token is wrong (the message names its variable)
 │    ├── CrmRefused           another 4xx: the request does not fit this account
 │    └── CrmUnavailable       unreachable, timed out, 5xx, or still 429 after waiting
 └── DeliveryError             a call to ChartMogul failed (raised in relay/chartmogul/client.py)
      ├── Rejected             400/402/404/422: the change is wrong; dead-letter it
      │    └── ExternalIdTaken 422 to a create: the data source has a customer with that external_id
      ├── AuthFailed           401/403: the credentials are wrong for every event
      └── Transient            429/5xx/timeouts/resets: try again later
           └── RateLimited     429

redis-py's errors are translated in two places only, both with `store_error` below: the store's
client (relay/store/client.py), for everything the relay keeps, and relay/queue.py, for what RQ
does with its own client. The rest of the code catches StoreUnavailable (or StoreError).
"""

from __future__ import annotations

from redis import exceptions as redis_errors


class RelayError(Exception):
    pass


class WebhookError(RelayError):
    status_code = 400
    close_connection = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SourceDisabled(WebhookError):
    status_code = 404


class InvalidSignature(WebhookError):
    status_code = 401


class PayloadTooLarge(WebhookError):
    status_code = 413
    close_connection = True


class BodyTimeout(WebhookError):
    status_code = 408
    close_connection = True


class MalformedPayload(WebhookError):
    status_code = 400


class InvalidEvent(WebhookError):
    """Inside a CRM's batch one event's problem makes that event a dead letter (`invalid_event`);
    a `limit` breach (relay/sources/limits.py) refuses the whole request."""

    status_code = 422

    def __init__(self, message: str, *, limit: bool = False) -> None:
        super().__init__(message)
        self.limit = limit


class QueueUnavailable(WebhookError):
    status_code = 503


class StoreFailed(WebhookError):
    status_code = 500


class NotReplicated(RelayError):
    """Redis WAIT: fewer replicas hold the write than required (the primary has it)."""

    def __init__(self, *, acked: int, wanted: int) -> None:
        super().__init__(f"{acked} of {wanted} Redis replicas confirmed the write in time")
        self.acked = acked
        self.wanted = wanted


class StoreError(RelayError):
    def __init__(self, message: str, *, cause: str = "") -> None:
        super().__init__(message)
        self.message = message
        # The foreign error's class name ("ConnectionError"), for logs and one-line errors.
        self.cause = cause or type(self).__name__


class StoreUnavailable(StoreError):
    pass


class StoreRejected(StoreError):
    pass


# Error replies that mean "not now" (a replica after failover, loading, out of memory, busy
# with a script, no primary): the same command succeeds later. redis-py names some of them.
_NOT_NOW = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError,
    redis_errors.MasterDownError,
    redis_errors.OutOfMemoryError,
    OSError,  # TimeoutError too (asyncio's is the builtin)
)
_NOT_NOW_REPLIES = (
    "BUSY",
    "NOREPLICAS",
    "MASTERDOWN",
    "TRYAGAIN",
    "LOADING",
    "CLUSTERDOWN",
    "READONLY",
    "OOM",
)


def store_error(exc: BaseException) -> StoreError:
    """redis-py's error (or the socket's under it) as the relay's: unavailable or rejected."""
    name = type(exc).__name__
    if isinstance(exc, _NOT_NOW) or str(exc).startswith(_NOT_NOW_REPLIES):
        return StoreUnavailable(f"Redis is unavailable ({name})", cause=name)
    return StoreRejected(f"Redis refused the command: {str(exc)[:300]}", cause=name)


class DeliveryError(RelayError):
    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class Rejected(DeliveryError):
    pass


class ExternalIdTaken(Rejected):
    """A customer was not created: its data source has one with that external_id already."""


class AuthFailed(DeliveryError):
    pass


class Transient(DeliveryError):
    def __init__(
        self, message: str, *, status: int | None = None, body: str = "", retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after_s = retry_after_s


class RateLimited(Transient):
    pass


class CrmApiError(RelayError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class CrmAuthFailed(CrmApiError):
    pass


class CrmRefused(CrmApiError):
    pass


class CrmUnavailable(CrmApiError):
    pass
