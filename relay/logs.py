"""Logging: JSON lines in production, readable lines in `relay dev`.

Our own lines go through structlog's native filtering logger straight to stderr (~9 µs a line;
the stdlib bridge cost 70-110 µs, which the webhook path paid per request); the libraries'
stdlib lines (uvicorn, rq, Flask) are rendered by the same processors through a stdlib handler.
On the event loop, the lines of one loop iteration leave in one write (`TickWriter`): a write
per line cost the webhook path ~10 µs a request. Warnings and errors are written at once.

An exception logged with `log.exception(...)` (or a library's `logger.exception`) carries its
stack trace: in JSON as `"exception": [{"exc_type", "exc_value", "frames": [...]}]`, without
local variables (they could hold secrets or CRM payloads); the console renderer prints it.
Exception messages carry data, though, so every line passes through `redact` last (the
commands pass one that masks each configured secret value, as /admin does).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

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
        add_timestamp,
    ]
    if fmt == "json":
        # Here, not in the formatter: `exc_info=True` must be read while the exception is handled.
        shared.append(structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)))
    finish: list[structlog.types.Processor] = [renderer, *([_redacting(redact)] if redact else [])]
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[*shared, *finish],
        logger_factory=_shared(TickWriter(sys.stderr)),
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


class Tally:
    """Counts per key, logged as one INFO line per key and interval (`event`, key=…, counts…):
    what happened thousands of times a second, said once a second. Used on an event loop."""

    def __init__(self, logger: structlog.typing.FilteringBoundLogger, event: str, key: str) -> None:
        self.log, self.event, self.key = logger, event, key
        self.interval_s = 1.0
        self.counts: dict[str, dict[str, int]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._since = 0.0

    def add(self, key: str, **counts: int) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s, self.flush)
            self._since = time.monotonic()
        totals = self.counts.setdefault(key, dict.fromkeys(counts, 0))
        for name, count in counts.items():
            totals[name] += count

    def flush(self) -> None:
        """Log what was counted (also at shutdown, for the last part of an interval)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        counts, self.counts = self.counts, {}
        seconds = round(time.monotonic() - self._since, 3)
        for key, totals in sorted(counts.items()):
            self.log.info(self.event, **{self.key: key}, **totals, seconds=seconds)


class TickWriter:
    """structlog's WriteLogger, except that on the event loop's thread the lines of one loop
    iteration are written together, after it (`call_soon`); elsewhere, and for warnings and
    errors, each line at once. A crash loses at most the lines of the iteration it ends."""

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._lines: list[str] = []
        self._loop_thread: int | None = None
        atexit.register(self._at_exit)

    def msg(self, message: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: the worker, the CLI, a parser thread
            self._write(message)
            return
        thread = threading.get_ident()
        if self._loop_thread is None:
            self._loop_thread = thread
        elif self._loop_thread != thread:  # another thread's loop: its lines go at once
            self._write(message)
            return
        self._lines.append(message)
        if len(self._lines) == 1:
            loop.call_soon(self.flush)

    def now(self, message: str) -> None:
        self.flush()
        self._write(message)

    debug = info = msg
    warning = warn = error = err = exception = critical = fatal = failure = now

    def flush(self) -> None:
        if self._loop_thread not in (None, threading.get_ident()):
            return  # the loop's own flush writes its lines; other threads do not take them
        self._write_waiting()

    def _at_exit(self) -> None:
        """What a loop stopped before its next turn left (e.g. a worker's runtime thread)."""
        self._write_waiting()

    def _write_waiting(self) -> None:
        lines, self._lines = self._lines, []
        if lines:
            self._write("\n".join(lines))

    def _write(self, text: str) -> None:
        self._file.write(text + "\n")
        self._file.flush()


def _shared(writer: TickWriter) -> Callable[..., TickWriter]:
    def factory(*_: Any) -> TickWriter:
        return writer

    return factory


_second_stamp: tuple[int, str] = (0, "")


def add_timestamp(_logger: Any, _method: str, event: Any) -> Any:
    """`"timestamp": "2026-11-30T10:00:00.123456Z"`, as TimeStamper(fmt="iso", utc=True) writes
    it; the date and time of day are formatted once a second, not per line."""
    global _second_stamp
    now = time.time()
    second = int(now)
    if _second_stamp[0] != second:
        _second_stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    event["timestamp"] = f"{_second_stamp[1]}.{int((now - second) * 1_000_000):06d}Z"
    return event


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
