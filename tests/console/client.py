"""An operator's browser without the browser: the console over real HTTP, its forms posted as
a browser posts them (urlencoded, or multipart with a file), redirects not followed."""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from urllib3.filepost import encode_multipart_formdata

from tests.admin.helpers import ADMIN_TOKEN

VIEWER_TOKEN = "view_test_token_7c2e91aa"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
Fields = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]

    @property
    def csrf_token(self) -> str:
        found = CSRF.search(self.text)
        if found is None:
            raise AssertionError(f"no CSRF token on the page (status {self.status})")
        return found.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def basic(token: str, user: str = "ops") -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


class ConsoleClient:
    def __init__(self, base_url: str, token: str | None = ADMIN_TOKEN) -> None:
        self.base_url = base_url
        self.token = token

    def _send(self, path: str, method: str, data: bytes | None, headers: Mapping[str, str]) -> Page:
        sent = dict(headers)
        if self.token is not None:
            sent["Authorization"] = basic(self.token)
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=sent)
        try:
            with _OPENER.open(request, timeout=30) as response:
                status, raw, got = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            status, raw, got = exc.code, exc.read(), dict(exc.headers)
        return Page(status, raw.decode(errors="replace"), {k.lower(): v for k, v in got.items()})

    def get(self, path: str) -> Page:
        return self._send(path, "GET", None, {})

    def csrf_token(self) -> str:
        return self.get("/console/links").csrf_token  # the upload form is always there

    def post(self, path: str, fields: Fields = (), *, csrf: str | None = "fetch", **headers: str) -> Page:
        """POST a form; `csrf="fetch"` adds a token from a page, None sends none."""
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        if csrf is not None:
            pairs.append(("csrf_token", self.csrf_token() if csrf == "fetch" else csrf))
        body = urlencode(pairs).encode()
        return self._send(
            path, "POST", body, {"Content-Type": "application/x-www-form-urlencoded", **headers}
        )

    def upload(self, path: str, fields: Mapping[str, str], name: str, filename: str, content: bytes) -> Page:
        parts: dict[str, str | tuple[str, bytes, str]] = {**fields, "csrf_token": self.csrf_token()}
        parts[name] = (filename, content, "text/csv")
        body, content_type = encode_multipart_formdata(parts)
        return self._send(path, "POST", body, {"Content-Type": content_type})
