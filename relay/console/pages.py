"""Rendering the console's pages: templates, their filters, every answer's headers, the errors
an operator can cause, and reading a form (with its CSRF token checked).

Every page passes the admin surface's redactor last, so no configured secret value reaches a
browser whatever carried it into a page (a CRM payload, an error text).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relay.admin import queries, render
from relay.admin.redaction import Redactor
from relay.appstate import AppState, app_state
from relay.console.access import CSRF_FIELD, Csrf, Role, role_of
from relay.exceptions import StoreUnavailable
from relay.logs import get_logger
from relay.settings import Settings
from relay.store import now_ms
from relay.times import iso

log = get_logger("relay.console")

CONTEXT_SCOPE_KEY = "relay.console.context"
# Only the relay's own files: no inline script or style, no other origin, no framing.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
MAX_FORM_FIELDS = 5000
NAV = (
    ("overview", "/console", "Overview"),
    ("events", "/console/events", "Events"),
    ("dlq", "/console/dlq", "Dead letters"),
    ("links", "/console/links", "Links & syncs"),
)


@dataclass(slots=True)
class ConsoleContext:
    settings: Settings
    csrf: Csrf
    # Bulk replays running in this process (held until done: the loop keeps weak references).
    tasks: set[Any] = field(default_factory=set)


def context(request: Request) -> ConsoleContext:
    found = request.scope[CONTEXT_SCOPE_KEY]
    if not isinstance(found, ConsoleContext):
        raise TypeError("the console's context is missing from the scope")
    return found


def relay(request: Request) -> AppState:
    return app_state(request)


# --- templates ----------------------------------------------------------------------------------


def _json(doc: Any) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def _ago(ms: int | None, now_ms: int) -> str:
    return render.duration(max(0.0, (now_ms - ms) / 1000)) + " ago" if ms else "never"


def _url(path: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")


def quoted(value: str) -> str:
    """A value as one URL path segment ('/' and ':' escaped too)."""
    return quote(str(value), safe="")


ENV = Environment(
    loader=PackageLoader("relay.console", "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(ms: int | None) -> str:
    """`2026-12-01 10:05:03` (UTC; the ISO time with milliseconds is in the element's title)."""
    moment = iso(ms)
    return moment[:19].replace("T", " ") if moment else "—"


_TICKS = re.compile(r"`([^`]+)`")


def _ticks(text: str) -> Markup:
    """README-style text: `code` in backticks becomes <code>, the rest is escaped."""
    return Markup(_TICKS.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))


ENV.filters.update(
    iso=iso,
    when=_when,
    pretty=_json,
    compact=lambda doc: orjson.dumps(doc).decode(),
    value=lambda v: v if isinstance(v, str) else orjson.dumps(v).decode(),
    reject_keys=lambda doc, *names: {k: v for k, v in doc.items() if k not in names},
    ticks=_ticks,
    u=quoted,
    duration=render.duration,
)
ENV.globals.update(ago=_ago, since=render.ago, url=_url, NAV=NAV)


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    role = role_of(request.scope)
    console = context(request)
    html = ENV.get_template(template).render(
        request=request,
        role=role.value,
        can_change=role is Role.ADMIN,
        csrf_field=CSRF_FIELD,
        csrf_token=console.csrf.issue(role),
        now_ms=now_ms(),
        **values,
    )
    redactor: Redactor = request.app.state.redactor
    return HTMLResponse(redactor.text(html), status_code=status_code, headers=page_headers())


def fragment(request: Request, template: str, **values: Any) -> Response:
    """Part of a page, which the page's script swaps in (the overview, a bulk replay)."""
    html = ENV.get_template(template).render(now_ms=now_ms(), **values)
    redactor: Redactor = request.app.state.redactor
    return HTMLResponse(redactor.text(html), headers=page_headers())


def page_headers() -> dict[str, str]:
    return {"cache-control": "no-store", "content-security-policy": CSP, "referrer-policy": "same-origin"}


def see_other(location: str) -> Response:
    """After a change: the browser GETs the page that shows it (a reload does not post again)."""
    return RedirectResponse(location, status_code=303, headers=page_headers())


# --- errors -------------------------------------------------------------------------------------


class ConsoleError(Exception):
    """An answer other than the page: the status and what to tell the operator."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def not_found(what: str) -> ConsoleError:
    return ConsoleError(404, what)


Handler = Callable[[Request], Awaitable[Response]]


def handler(func: Handler) -> Handler:
    """A bad query or form → its 4xx page saying why; Redis down → 503; nothing else is caught."""

    @functools.wraps(func)
    async def wrapped(request: Request) -> Response:
        try:
            return await func(request)
        except ConsoleError as exc:
            return error_page(request, exc.status_code, exc.message)
        except queries.QueryError as exc:
            return error_page(request, 400, str(exc))
        except StoreUnavailable as exc:
            log.error("console_redis_unavailable", error=type(exc).__name__, path=request.url.path)
            return error_page(request, 503, "Redis is unavailable; try again in a moment.")

    return wrapped


TITLES = {400: "Not understood", 403: "Refused", 404: "Not found", 413: "Too large", 503: "Unavailable"}


def error_page(request: Request, status_code: int, message: str) -> Response:
    title = TITLES.get(status_code, "Error")
    return page(request, "error.html", status_code, title=title, message=message, nav="")


# --- forms --------------------------------------------------------------------------------------


async def checked_form(request: Request) -> FormData:
    """The form a console page posted; 403 (nothing changes) without a valid CSRF token."""
    try:
        form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=1)
    except (HTTPException, MultiPartException) as exc:
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise ConsoleError(400, f"the form could not be read: {detail}") from None
    token = form.get(CSRF_FIELD)
    if not context(request).csrf.valid(role_of(request.scope), token if isinstance(token, str) else None):
        await form.close()
        raise ConsoleError(
            403,
            "This form's CSRF token is missing or out of date, so nothing was changed. "
            "Go back, reload the page and send it again.",
        )
    return form


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]
