"""rq-dashboard at /dashboard: the RQ queue, its workers, and the dead letters (mirrored as failed
jobs, see relay/queue.py), inside the web app via a2wsgi, behind the admin token.

rq-dashboard is a Flask blueprint configured through module-level state: its serializer is
set to rq's JSONSerializer here (the relay's jobs are JSON). Upstream opens a Redis client per
request and swaps it into the shared Flask app, so concurrent requests (the page polls
several at once) closed each other's; here every request uses the one client (thread-safe,
pooled), closed when the web app stops. Its workers.json is replaced (see `list_workers`): upstream's
fails on rq 3 whenever a worker is busy. relay/admin/dashboard_checks.py refuses what
rq-dashboard would answer with a 500 or change through a GET.
"""

from __future__ import annotations

from pathlib import Path

import redis
from a2wsgi import WSGIMiddleware
from flask import Flask, Response, current_app, jsonify
from starlette.types import ASGIApp

from relay.admin import dashboard_checks
from relay.queue import JSONSerializer, dashboard_worker_rows

POLL_INTERVAL_MS = 5000


def list_workers(instance_number: int) -> tuple[Response, dict[str, str]]:
    """rq-dashboard 0.9's workers.json, reading workers with the relay's serializer.

    Upstream reads them with rq's default (pickle) serializer, so on rq 3 any worker busy with
    a JSON job fails its current job's call string (DeserializationError: a 500, and an empty
    Workers tab whenever the relay is delivering). Same answer otherwise."""
    from rq_dashboard import web

    rows = dashboard_worker_rows(current_app.redis_conn, web.serialize_current_job)  # type: ignore[attr-defined]
    return jsonify(workers=rows), {"Cache-Control": "no-store"}


class Dashboard:
    def __init__(self, redis_url: str) -> None:
        import rq_dashboard
        from rq_dashboard import web

        web.config.serializer = JSONSerializer
        # The templates link the app's own /static too: serve rq-dashboard's files there.
        static = Path(rq_dashboard.__file__).parent / "static"
        self.flask = Flask("relay.dashboard", static_folder=str(static))
        self.flask.config.update(
            RQ_DASHBOARD_REDIS_URL=redis_url,
            RQ_DASHBOARD_POLL_INTERVAL=POLL_INTERVAL_MS,
            RQ_DASHBOARD_DISABLE_DELETE=False,
        )
        self.flask.register_blueprint(web.blueprint, url_prefix="")
        self.flask.view_functions["rq_dashboard.list_workers"] = list_workers
        dashboard_checks.install(self.flask)
        self.flask.before_request_funcs["rq_dashboard"].remove(web.push_rq_connection)
        web.setup_rq_connection(self.flask)
        self._connection: redis.Redis = self.flask.redis_conn  # type: ignore[attr-defined]
        self.app: ASGIApp = WSGIMiddleware(self.flask)  # type: ignore[arg-type,assignment]

    def close(self) -> None:
        self._connection.close()
