"""Sources declared by a file: any CRM or tool that can POST JSON, configured, not coded.

`RELAY_MAPPING_DIR/<name>.toml` holding a [source] table makes `POST /webhooks/<name>` live
once `RELAY_SOURCE_<NAME>_SECRET` is set (the name upper-cased, `-` as `_`); without it the
endpoint answers 404 like any unconfigured source.

    # zoho.toml
    [source]
    auth = "header"                        # bearer | header | basic | hmac-sha256 (auth.py)
    secret_header = "X-Relay-Token"
    event_id = ["account.id", "account.modified_time"]
    occurred_at = "account.modified_time"  # ISO 8601 (naive: UTC), or epoch seconds/milliseconds
    record_id = "account.id"
    object = "Accounts"

    [objects.Accounts]                     # the shipped mapping files' syntax (relay/mapping/config.py)
    "account.name" = { field = "company" }

spec.py     the [source] table          auth.py     verifying a sender, and signing as one
source.py   reading and mapping events  catalog.py  finding, loading and checking the files

Everything else works as for the built-in sources: links and link properties, look-ups by
external_id or email, lead statuses, owners, transforms, stale checks, the event log, the DLQ
and replay through the current file, metrics labelled with the name.
"""

from relay.sources.declared.auth import sender_headers
from relay.sources.declared.catalog import (
    Declaration,
    Scan,
    declaring_files,
    load_declaration,
    scan,
    secret_problem,
)
from relay.sources.declared.source import DeclaredSource
from relay.sources.declared.spec import AUTH_KINDS, Auth, SourceSpec

__all__ = [
    "AUTH_KINDS",
    "Auth",
    "Declaration",
    "DeclaredSource",
    "Scan",
    "SourceSpec",
    "declaring_files",
    "load_declaration",
    "scan",
    "secret_problem",
    "sender_headers",
]
