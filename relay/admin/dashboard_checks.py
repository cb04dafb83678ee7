"""What rq-dashboard 0.9 gets wrong, refused before its views run or caught after.

- A route that changes the queue (one that takes POST) answers 405 to GET and HEAD: upstream
  lets `GET /requeue/<queue>` requeue every failed job, which an `<img src>` on any page does
  in a logged-in operator's browser.
- URL arguments are checked first: one Redis (instance 0), known registries, `asc`/`dsc`,
  page numbers and sizes in range, rq's job id alphabet. Upstream answers 500 to each.
- rq's own errors get their HTTP meaning: no such job 404, requeueing a job that has not
  failed 409, deleting a job (or emptying a registry) as a job finishes 409, Redis unreachable
  503. Anything else is a bug: logged with its traceback, 500.
- Two views are replaced: compacting an empty queue (rq RENAMEs a key that does not exist)
  and requeueing all when a failed job expires between the listing and its requeue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from relay.exceptions import StoreUnavailable
from relay.logs import get_logger
from relay.queue import (
    InvalidJobOperation,
    NoSuchJobError,
    compact,
    finished_meanwhile,
    redis_failure,
    requeue_failed,
)

log = get_logger("relay.dashboard")

REGISTRIES = ("queued", "failed", "started", "deferred", "finished", "scheduled", "canceled")
ORDERS = ("asc", "dsc")
MAX_PER_PAGE = 1000
MAX_PAGE = 1_000_000
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,256}")  # rq 3's job id alphabet
NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, message: str, **headers: str) -> ResponseReturnValue:
    return jsonify(error=message), status, {**NO_STORE, **headers}


def _whole(value: Any, top: int) -> bool:
    text = str(value)
    return re.fullmatch(r"[0-9]{1,9}", text) is not None and 1 <= int(text) <= top


def argument_problem(args: Mapping[str, Any]) -> tuple[int, str] | None:
    """Why the URL's arguments cannot be answered (status, message); None when they can."""
    if args.get("instance_number", 0) != 0:
        return 404, "the dashboard shows one Redis, instance 0"
    registry = args.get("registry_name")
    if registry is not None and registry not in REGISTRIES:
        return 404, f"unknown registry {registry!r}; use one of {', '.join(REGISTRIES)}"
    if "order" in args and args["order"] not in ORDERS:
        return 400, "order is asc or dsc"
    for name, top in (("per_page", MAX_PER_PAGE), ("page", MAX_PAGE)):
        if name in args and not _whole(args[name], top):
            return 400, f"{name} must be a whole number from 1 to {top}"
    job_id = args.get("job_id")
    if job_id is not None and not JOB_ID.fullmatch(job_id):
        return 404, "no such job: rq job ids are letters, digits, '_' and '-'"
    return None


def check_request() -> ResponseReturnValue | None:
    """Runs before rq-dashboard's own hooks and views (app-level hooks run first)."""
    rule = request.url_rule
    if rule is None:  # Flask answers 404/405 itself
        return None
    if "POST" in (rule.methods or ()) and request.method not in ("POST", "OPTIONS"):
        return _error(
            405,
            f"{request.method} cannot change the queue: this route takes POST (the dashboard's buttons)",
            Allow="POST, OPTIONS",
        )
    problem = argument_problem(request.view_args or {})
    return _error(*problem) if problem else None


def on_error(exc: Exception) -> ResponseReturnValue:
    if isinstance(exc, HTTPException):
        return exc
    if isinstance(exc, NoSuchJobError):
        return _error(404, "no such job (it expired, or was deleted or requeued)")
    if isinstance(exc, InvalidJobOperation):
        return _error(409, f"{exc} (only a failed job can be requeued)")
    if finished_meanwhile(exc):
        return _error(409, "a job finished while it was being deleted; look again, then retry")
    failure = exc if isinstance(exc, StoreUnavailable) else redis_failure(exc)
    if isinstance(failure, StoreUnavailable):
        log.error("dashboard_redis_unavailable", error=failure.cause, path=request.script_root + request.path)
        return _error(503, "Redis is unavailable; retry later")
    log.exception("dashboard_error", path=request.script_root + request.path, error=type(exc).__name__)
    return _error(500, "internal error")


def compact_queue(queue_name: str) -> ResponseReturnValue:
    compact(current_app.redis_conn, queue_name)  # type: ignore[attr-defined]
    return jsonify(status="OK"), NO_STORE


def requeue_all(queue_name: str) -> ResponseReturnValue:
    count = requeue_failed(current_app.redis_conn, queue_name)  # type: ignore[attr-defined]
    return jsonify(status="OK", count=count), NO_STORE


def install(flask: Flask) -> None:
    flask.before_request(check_request)
    flask.register_error_handler(Exception, on_error)
    flask.view_functions["rq_dashboard.compact_queue"] = compact_queue
    flask.view_functions["rq_dashboard.requeue_all"] = requeue_all
