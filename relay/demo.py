"""Signed demo events: what `relay dev` prints so a person can try the relay with one paste."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import orjson
from standardwebhooks.webhooks import Webhook


def signed_headers(secret: str, body: bytes, *, msg_id: str, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers for `body`, as a CRM (or our generic sender) would send them."""
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def demo_event(customer_uuid: str, *, at: datetime | None = None) -> bytes:
    at = at or datetime.now(UTC)
    stamp = at.strftime("%Y%m%dT%H%M%S")
    return orjson.dumps(
        {
            "id": f"evt_demo_{stamp}",
            "occurred_at": at.isoformat().replace("+00:00", "Z"),
            "customer": {"uuid": customer_uuid},
            "set": {"city": "Berlin", "country": "DE", "primary_contact": {"title": "CFO"}},
            "tags": {"add": ["relay-demo"]},
        }
    )


def demo_curl(base_url: str, secret: str, customer_uuid: str) -> str:
    """A copy-paste curl that sends one signed demo event (valid for 5 minutes)."""
    at = datetime.now(UTC)
    body = demo_event(customer_uuid, at=at)
    headers = signed_headers(secret, body, msg_id=f"msg_demo_{int(at.timestamp())}", at=at)
    parts = ["curl", "-sS", "-X", "POST", f"{base_url.rstrip('/')}/webhooks/generic"]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    parts += ["--data-binary", body.decode()]
    return " ".join(shlex.quote(p) for p in parts)
