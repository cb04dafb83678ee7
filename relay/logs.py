"""Logging: JSON lines in production, readable lines in `relay dev` (structlog over stdlib).

An exception logged with `log.exception(...)` (or a library's `logger.exception`) carries its
stack trace: in JSON as `"exception": [{"exc_type", "exc_value", "frames": [...]}]`, without
local variables (they could hold secrets or CRM payloads); the console renderer prints it.
Exception messages carry data, though, so every line passes through `redact` last (the
commands pass one that masks each configured secret value, as /admin does).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import structlog
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
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        # Here, not in the formatter: `exc_info=True` must be read while the exception is handled.
        shared.append(structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
                *([_redacting(redact)] if redact else []),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates ours; rq's job lines are useful at INFO.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    server_errors = logging.getLogger("uvicorn.error")
    for old in [f for f in server_errors.filters if isinstance(f, _NotLoggedYet)]:
        server_errors.removeFilter(old)
    server_errors.addFilter(_NotLoggedYet())


def _redacting(redact: Callable[[str], str]) -> structlog.types.Processor:
    def processor(_logger: Any, _method: str, line: Any) -> Any:  # the rendered line
        return redact(line) if isinstance(line, str) else line

    return processor


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)  # type: ignore[no-any-return]
