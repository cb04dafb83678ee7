"""The relay's exceptions, in one place.

RelayError
 ├── WebhookError              an incoming request is refused (carries its HTTP status)
 │    ├── SourceDisabled       404: unknown source, or its secret is not configured
 │    ├── InvalidSignature     401
 │    ├── PayloadTooLarge      413 (the connection is closed: the rest of the body is unread)
 │    ├── BodyTimeout          408: the body did not arrive within RELAY_BODY_TIMEOUT_S (closed too)
 │    ├── MalformedPayload     400: not JSON / not XML
 │    ├── InvalidEvent         422: parses, but breaks the source's schema
 │    ├── QueueUnavailable     503: Redis cannot take the events now; the CRM retries
 │    └── StoreFailed          500: Redis answered, but refused the accept script (nothing stored)
 ├── NotReplicated            fewer Redis replicas confirmed a write than RELAY_REDIS_REPLICA_ACKS
 └── DeliveryError             a call to ChartMogul failed (raised in relay/chartmogul/client.py)
      ├── Rejected             400/402/404/422: the change is wrong; dead-letter it
      ├── AuthFailed           401/403: the credentials are wrong for every event
      └── Transient            429/5xx/timeouts/resets: try again later
           └── RateLimited     429
"""

from __future__ import annotations


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
    status_code = 422


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


class DeliveryError(RelayError):
    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class Rejected(DeliveryError):
    pass


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
