"""structlog configuration: JSON lines in production, a readable console in a terminal.

Delivery log lines carry queue, job id, operation, HTTP status, outcome, attempt and latency;
never credentials, attribute values or message bodies (callers pass only those fields).

In JSON mode an exception is one more field of its line, ``exception``: a list of
``{exc_type, exc_value, frames: [{filename, lineno, name}]}`` (structlog's
``ExceptionDictTransformer``, *without* local variables, which may hold personal data or
credentials). That holds for our lines (``log.exception``), for RQ's stdlib lines with
``exc_info``, and for exceptions nobody caught (the process's and its threads' excepthooks),
so a log collector never receives a multi-line Python traceback. The console keeps pretty
tracebacks.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import TracebackType
from typing import Any

import structlog
from rq.exceptions import StopRequested
from structlog.tracebacks import ExceptionDictTransformer

__all__ = ["configure_logging", "get_logger"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(log_format: str = "auto", level: str = "info") -> None:
    """Set up structlog, and the stdlib logging that RQ uses, for this process.

    ``log_format``: ``json``, ``console``, or ``auto`` (console when stderr is a terminal).
    Every line, ours and RQ's, goes through the same renderer, so JSON output stays JSON lines.
    """
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    renderers: list[Any] = (
        [
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(),
        ]
        if use_json
        else [structlog.dev.ConsoleRenderer()]
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = StopSafeHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # httpx logs every request URL at INFO, and Track URLs hold identifiers (e-mails).
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if use_json:
        # Python prints uncaught exceptions as raw multi-line text on stderr; log them instead.
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread


class StopSafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr handler that lets a stop through.

    RQ answers SIGTERM on an idle worker by raising ``StopRequested`` from its signal handler,
    wherever the main thread is. When that is inside a log line being written, logging's
    ``emit`` catches it as a failed write (``--- Logging error ---``) and the stop is lost:
    the worker goes on until it is killed (seen in tests/integration/test_worker_stop.py).
    Here the stop goes on to the work loop; any other error in writing a line is still
    logging's to report.
    """

    def handleError(self, record: logging.LogRecord) -> None:  # logging names it so
        if isinstance(sys.exc_info()[1], StopRequested):
            raise  # the exception emit() is handling
        super().handleError(record)


def _log_uncaught(
    exc_type: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    get_logger("cio").critical("uncaught_exception", exc_info=(exc_type, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # what threading's own hook does: a thread that exits is no error
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    thread = args.thread.name if args.thread is not None else None
    get_logger("cio").critical("uncaught_exception", thread=thread, exc_info=exc_info)


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``component=name``.

    Lazy: it takes its configuration at first use, so module-level loggers created at import
    follow :func:`configure_logging` called later.
    """
    return structlog.get_logger(component=name)
