"""The console's routes, behind its guard: /console and everything under it, only when an admin
token is set (like /admin and /dashboard; otherwise 404, never open)."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from relay.admin.browser import BrowserGuard
from relay.console import customers, deadletters, events, links, overview, replay
from relay.console.access import ConsoleGuard, Csrf
from relay.console.pages import CONTEXT_SCOPE_KEY, ConsoleContext
from relay.settings import Settings

FORM_BYTES = 1024 * 1024
UPLOAD_BYTES = links.MAX_UPLOAD_BYTES + 64 * 1024


class WithContext:
    """Puts the console's context where its handlers find it (relay/console/pages.py)."""

    def __init__(self, app: ASGIApp, *, console: ConsoleContext) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[CONTEXT_SCOPE_KEY] = self.console
        await self.app(scope, receive, send)


def pages() -> list[BaseRoute]:
    post = ["POST"]
    return [
        Route("/", overview.overview),
        Route("/overview/live", overview.live),
        Route("/events", events.events),
        Route("/events/{event_id:path}", events.event),
        Route("/customers/{key:path}", customers.customer),
        Route("/dlq", deadletters.dead_letters),
        Route("/dlq/replay", replay.replay, methods=post, max_body_size=FORM_BYTES),
        Route("/dlq/purge", replay.purge, methods=post, max_body_size=FORM_BYTES),
        Route("/dlq/{event_id:path}/edit", deadletters.edit_form),
        Route("/dlq/{event_id:path}/edit", deadletters.save_edit, methods=post, max_body_size=FORM_BYTES),
        Route("/jobs/{job_id}", replay.job_page),
        Route("/jobs/{job_id}/live", replay.job_live),
        Route("/links", links.links),
        Route("/links/suggest", links.suggest, methods=post, max_body_size=UPLOAD_BYTES),
        Route("/links/import", links.import_links, methods=post, max_body_size=FORM_BYTES),
        Route("/syncs/{run_id}", links.sync_run),
        Mount("/static", StaticFiles(packages=[("relay.console", "static")])),
    ]


def console_routes(settings: Settings) -> list[BaseRoute]:
    """/console itself and /console/… (a bare /console must not be a redirect that answers
    before the credentials are asked for)."""
    token = settings.admin_token
    if token is None:
        return []
    console = ConsoleContext(settings=settings, csrf=Csrf(token))
    guard = [
        Middleware(BrowserGuard, public_base_url=settings.public_base_url),
        Middleware(ConsoleGuard, admin_token=token, viewer_token=settings.console_viewer_token),
        Middleware(WithContext, console=console),
    ]
    return [
        Route("/console", overview.overview, middleware=guard),
        Mount("/console", routes=pages(), middleware=guard),
    ]
