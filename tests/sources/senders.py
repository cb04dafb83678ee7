"""Sending webhooks the way each CRM does: real HTTP, each CRM's own signature or credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import orjson

from relay.settings import source_secret_env
from relay.sources.base import content_digest
from relay.sources.declared import load_declaration, sender_headers
from tests.webhooks import Answer, post

FIXTURES = Path(__file__).with_name("fixtures")

HUBSPOT_SECRET = "hs-client-secret-6f1d2c3b-aaaa-4bbb-8ccc-0123456789ab"
PIPEDRIVE_USER, PIPEDRIVE_PASSWORD = "relay", "pd-pass-9c1e7f2a"
SALESFORCE_ORG_ID = "00D5e000000AbCdEAK"
CLOSE_KEY = "6a3f0c1e9b2d4f5a8c7e6d5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f"


def batch_answer(*, accepted: int = 0, duplicates: int = 0, ignored: int = 0, dead_lettered: int = 0) -> Any:
    """A batch's answer: how many of its events were accepted, duplicates, ignored, dead-lettered."""
    return {
        "status": "accepted",
        "accepted": accepted,
        "duplicates": duplicates,
        "ignored": ignored,
        "dead_lettered": dead_lettered,
    }


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return orjson.loads(fixture_bytes(name))


# --- HubSpot --------------------------------------------------------------------------------


def hubspot_v3_headers(
    url: str,
    body: bytes,
    *,
    secret: str = HUBSPOT_SECRET,
    timestamp_ms: int | None = None,
    method: str = "POST",
) -> dict[str, str]:
    """HubSpot's v3 signature, computed as its docs describe (independently of the relay)."""
    stamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    message = method.encode() + url.encode() + body + stamp.encode()
    signature = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp,
    }


def hubspot_v1_headers(body: bytes, *, secret: str = HUBSPOT_SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature": hashlib.sha256(secret.encode() + body).hexdigest(),
        "X-HubSpot-Signature-Version": "v1",
    }


def hubspot_v2_headers(url: str, body: bytes, *, secret: str = HUBSPOT_SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature": hashlib.sha256(secret.encode() + b"POST" + url.encode() + body).hexdigest(),
        "X-HubSpot-Signature-Version": "v2",
    }


def send_hubspot(base_url: str, events: list[dict[str, Any]] | bytes, **kw: Any) -> Answer:
    body = events if isinstance(events, bytes) else orjson.dumps(events)
    url = f"{base_url}/webhooks/hubspot"
    return post(url, body, hubspot_v3_headers(url, body, **kw))


def hubspot_event_id(event: dict[str, Any]) -> str:
    """The relay's id of a HubSpot event: its eventId (not unique) and a digest of its content
    without attemptNumber (relay/sources/hubspot/events.py)."""
    content = orjson.dumps({k: v for k, v in event.items() if k != "attemptNumber"})
    return f"hubspot:{event['eventId']}.{content_digest(content)}"


def hubspot_event(event_id: int, object_id: int, name: str, value: Any, **extra: Any) -> dict[str, Any]:
    """One `company.propertyChange` event as HubSpot sends it (now, unless occurredAt is given)."""
    return {
        "eventId": event_id,
        "subscriptionId": 2793105,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "company.propertyChange",
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
        "propertyName": name,
        "propertyValue": value,
        **extra,
    }


def hubspot_kind(event_id: int, subscription: str, **fields: Any) -> dict[str, Any]:
    """An event with no property (a merge, an association, a deletion, …) as HubSpot sends it, a
    second ago; `fields` are its own (an association names fromObjectId/toObjectId, no objectId)."""
    return {
        "eventId": event_id,
        "subscriptionId": 2793107,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(time.time() * 1000) - 1000,
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "changeSource": "CRM_UI",
        **fields,
    }


# --- Pipedrive ------------------------------------------------------------------------------


def pipedrive_headers(user: str = PIPEDRIVE_USER, password: str = PIPEDRIVE_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {token}"}


def send_pipedrive(
    base_url: str, doc: dict[str, Any] | bytes, headers: dict[str, str] | None = None
) -> Answer:
    body = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return post(f"{base_url}/webhooks/pipedrive", body, pipedrive_headers() if headers is None else headers)


# --- Salesforce -----------------------------------------------------------------------------


def send_salesforce(base_url: str, body: bytes) -> Answer:
    return post(
        f"{base_url}/webhooks/salesforce",
        body,
        {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )


def outbound_message(notifications: str, *, org_id: str = SALESFORCE_ORG_ID) -> bytes:
    """A SOAP Outbound Message around `notifications` (the <Notification> elements)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org_id}</OrganizationId>
   <ActionId>04k5e000000AbCdAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/61.0/00D5e000000AbCd</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/61.0/00D5e000000AbCd</PartnerUrl>
   {notifications}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


def account_notification(notification_id: str, account_id: str, **fields: str) -> str:
    values = "".join(f"<sf:{name}>{value}</sf:{name}>" for name, value in fields.items())
    return (
        f"<Notification><Id>{notification_id}</Id>"
        '<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{account_id}</sf:Id>{values}</sObject></Notification>"
    )


# --- Close ----------------------------------------------------------------------------------


def close_headers(body: bytes, *, key: str = CLOSE_KEY, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(bytes.fromhex(key), stamp.encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "close-sig-hash": digest, "close-sig-timestamp": stamp}


def send_close(base_url: str, doc: dict[str, Any] | bytes, **kw: Any) -> Answer:
    body = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return post(f"{base_url}/webhooks/close", body, close_headers(body, **kw))


# --- Sources declared by a file (deploy/examples/sources/) -----------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "sources"
# Each shipped example's secret, as its sender would be configured with it.
DECLARED_SECRETS = {
    "salesforce-flow": "sf-flow-bearer-token-6b1e0c9a2d",
    "zoho": "zoho-header-token-3f8a2c71e4",
    "freshsales": "relay:fs-basic-pass-9d2e7a41c0",
    "pipedrive-automations": "relay:pd-auto-pass-5c0b8e3f17",
    "zapier": "zapier-bearer-token-2a7d9f0e6b",
    "make": "make-hmac-key-8e4c1b7a3d90",
}


def declared_env(mapping_dir: Path, *names: str) -> dict[str, str]:
    """Settings serving the shipped examples `names` from `mapping_dir` (copied there)."""
    env = {"RELAY_MAPPING_DIR": str(mapping_dir)}
    for name in names:
        (mapping_dir / f"{name}.toml").write_text((EXAMPLES / f"{name}.toml").read_text())
        env[source_secret_env(name)] = DECLARED_SECRETS[name]
    return env


def example_body(name: str) -> Any:
    """The shipped sample body of example `name`."""
    return orjson.loads((EXAMPLES / f"{name}.json").read_bytes())


def send_declared(base_url: str, name: str, doc: Any, *, secret: str | None = None) -> Answer:
    """POST `doc` to declared source `name` as its sender would (its auth, the example's secret)."""
    body = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    auth = load_declaration(EXAMPLES / f"{name}.toml").spec.auth
    headers = sender_headers(auth, body, secret or DECLARED_SECRETS[name])
    return post(f"{base_url}/webhooks/{name}", body, headers)
