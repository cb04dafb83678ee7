"""Signing a webhook body the way each source's sender does, with this machine's secret: what
`relay send` posts, so an operator can test a mapping end to end without writing a signer.

    source      what the sender adds                                     secret setting
    generic     Standard Webhooks: webhook-id, -timestamp, -signature    RELAY_GENERIC_SECRET
    hubspot     X-HubSpot-Signature-v3 over POST + URL + body + time     RELAY_HUBSPOT_CLIENT_SECRET
    pipedrive   HTTP Basic credentials                                   RELAY_PIPEDRIVE_BASIC_AUTH
    salesforce  its OrganizationId in the message (and the path token)   RELAY_SALESFORCE_ORG_ID
    close       close-sig-hash over close-sig-timestamp + body           RELAY_CLOSE_SIGNATURE_KEY

    <declared>  what its file's [source] auth says (bearer, header,      RELAY_SOURCE_<NAME>_SECRET
                basic, hmac-sha256)

A source declared by a file in RELAY_MAPPING_DIR is signed as its file says (`signer`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from relay.crms import BY_NAME
from relay.demo import signed_headers
from relay.mapping.config import MappingError
from relay.settings import MissingSetting, Settings, env_name, source_secret_env
from relay.sources import declared


@dataclass(frozen=True, slots=True)
class Signed:
    """A request as the source's sender would make it."""

    url: str
    headers: dict[str, str]
    body: bytes
    notes: list[str] = field(default_factory=list)  # what was changed on the way (said, never silent)


Signer = Callable[[Settings, str, bytes], Signed]


def secret(settings: Settings, source: str) -> str:
    """The source's configured secret; MissingSetting names the variable when it is not set."""
    value = settings.source_secret(source)
    if value is None:
        raise MissingSetting(
            env_name(BY_NAME[source].secret_setting),
            f"relay send signs with this machine's {BY_NAME[source].secret_label}",
        )
    return value.get_secret_value()


def endpoint(base_url: str, source: str) -> str:
    return f"{base_url.rstrip('/')}/webhooks/{source}"


def sign_generic(settings: Settings, base_url: str, body: bytes) -> Signed:
    headers = signed_headers(secret(settings, "generic"), body, msg_id=f"msg_{uuid.uuid4().hex}")
    return Signed(endpoint(base_url, "generic"), headers, body)


def sign_hubspot(settings: Settings, base_url: str, body: bytes) -> Signed:
    """v3: the URL HubSpot signs is the one the relay was addressed by; behind a proxy the
    relay rebuilds it from RELAY_PUBLIC_BASE_URL, so that is the one signed then."""
    key = secret(settings, "hubspot").encode()
    url = endpoint(base_url, "hubspot")
    signed_url = endpoint(settings.public_base_url, "hubspot") if settings.public_base_url else url
    stamp = str(int(time.time() * 1000))
    message = b"POST" + signed_url.encode() + body + stamp.encode()
    signature = base64.b64encode(hmac.digest(key, message, "sha256")).decode()
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return Signed(url, headers, body)


def sign_pipedrive(settings: Settings, base_url: str, body: bytes) -> Signed:
    credentials = base64.b64encode(secret(settings, "pipedrive").encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}
    return Signed(endpoint(base_url, "pipedrive"), headers, body)


_ORGANIZATION_ID = re.compile(rb"(<(?:[\w.-]+:)?OrganizationId>)([^<]*)(</(?:[\w.-]+:)?OrganizationId>)")


def sign_salesforce(settings: Settings, base_url: str, body: bytes) -> Signed:
    """Salesforce signs nothing: its proof is the org id in the message (set to this machine's
    when the file carries another) and, when configured, the secret path token."""
    org_id = secret(settings, "salesforce").strip()
    notes = []
    found = _ORGANIZATION_ID.search(body)
    if found is None:
        notes.append("the file has no OrganizationId: the relay will refuse it")
    elif found.group(2).decode(errors="replace").strip() != org_id:
        body = body[: found.start(2)] + org_id.encode() + body[found.end(2) :]
        notes.append("OrganizationId set to this machine's RELAY_SALESFORCE_ORG_ID")
    url = endpoint(base_url, "salesforce")
    if settings.salesforce_path_token is not None:
        url += "/" + settings.salesforce_path_token.get_secret_value()
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    return Signed(url, headers, body, notes)


def sign_close(settings: Settings, base_url: str, body: bytes) -> Signed:
    key = bytes.fromhex(secret(settings, "close").strip())
    stamp = str(int(time.time()))
    digest = hmac.new(key, stamp.encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "close-sig-hash": digest, "close-sig-timestamp": stamp}
    return Signed(endpoint(base_url, "close"), headers, body)


SIGNERS: dict[str, Signer] = {
    "generic": sign_generic,
    "hubspot": sign_hubspot,
    "pipedrive": sign_pipedrive,
    "salesforce": sign_salesforce,
    "close": sign_close,
}


def signer(settings: Settings, source: str) -> Signer:
    """How `source`'s sender signs: a built-in one, or a source declared by a file (MappingError
    when neither)."""
    if source in SIGNERS:
        return SIGNERS[source]
    scan = declared.scan(settings.mapping_dir)
    declaration = scan.declarations.get(source)
    if declaration is None:
        problems = next((p for f, p in scan.problems.items() if f.endswith(f"/{source}.toml")), None)
        raise MappingError(problems or [f"{source!r} is no source this relay knows (relay map check)"])

    def sign_declared(settings: Settings, base_url: str, body: bytes) -> Signed:
        value = settings.declared_secret(source)
        if value is None:
            raise MissingSetting(source_secret_env(source), f"relay send signs with {source}'s secret")
        headers = declared.sender_headers(declaration.spec.auth, body, value.get_secret_value())
        return Signed(endpoint(base_url, source), headers, body)

    return sign_declared
