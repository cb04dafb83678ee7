"""The baseline the relay is measured against: one plain RQ job per event, a blocking PATCH."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any


def patch_customer(base_url: str, api_key: str, uuid: str, body: dict[str, Any]) -> int:
    token = base64.b64encode(f"{api_key}:".encode()).decode()
    request = urllib.request.Request(
        f"{base_url}/v1/customers/{uuid}",
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)
