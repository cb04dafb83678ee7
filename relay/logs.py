"""Logging: JSON lines in production, readable lines in `relay dev`.

Our own lines go through structlog's native filtering logger straight to stderr (~9 µs a line;
the stdlib bridge cost 70-110 µs, which the webhook path paid per request); the libraries'
stdlib lines (uvicorn, rq, Flask) are rendered by the same processors through a stdlib handler.

An exception logged with `log.exception(...)` (or a library's `logger.exception`) carries its
stack trace: in JSON as `"exception": [{"exc_type", "exc_value", "frames": [...]}]`, without
local variables (they could hold secrets or CRM payloads); the console renderer prints it.
Exception messages carry data, though, so every line passes through `redact` last (the
commands pass one that masks each configured secret value, as /admin does).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from structlog._config import BoundLoggerLazyProxy
from structlog.tracebacks import ExceptionDictTransformer

LOGGED = "_relay_logged"


def mark_logged(exc: BaseException) -> None:
    """This exception's line (with its trace) is written: the server need not repeat it."""
    setattr(exc, LOGGED, True)


class _NotLoggedYet(logging.Filter):
    """Starlette re-raises an exception after its 500 handler ran, so that servers can log it;
    uvicorn's "Exception in ASGI application" then repeated the app's `internal_error` line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, LOGGED, False)


def configure_logging(
    *, level: str = "INFO", fmt: str = "json", redact: Callable[[str], str] | None = None
) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        # Here, not in the formatter: `exc_info=True` must be read while the exception is handled.
        shared.append(structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)))
    finish: list[structlog.types.Processor] = [renderer, *([_redacting(redact)] if redact else [])]
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, *finish],
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # Loggers are module globals bound on first use: configure before logging (the commands do).
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # uvicorn's access log duplicates ours; rq's job lines are useful at INFO.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    server_errors = logging.getLogger("uvicorn.error")
    for old in [f for f in server_errors.filters if isinstance(f, _NotLoggedYet)]:
        server_errors.removeFilter(old)
    server_errors.addFilter(_NotLoggedYet())


def _json(doc: Any, **_: Any) -> str:
    """orjson for the usual line; the stdlib's encoder, with repr for the odd value, otherwise."""
    try:
        return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(doc, default=repr)


def _redacting(redact: Callable[[str], str]) -> structlog.types.Processor:
    def processor(_logger: Any, _method: str, line: Any) -> Any:  # the rendered line
        return redact(line) if isinstance(line, str) else line

    return processor


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A module's logger; its lines carry `"logger": name`, as the libraries' stdlib lines do."""
    # structlog.get_logger(logger=...) collides with wrap_logger's own `logger` parameter.
    proxy = BoundLoggerLazyProxy(None, initial_values={"logger": name}, logger_factory_args=())
    return proxy  # type: ignore[return-value]
