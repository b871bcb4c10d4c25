"""JSON log lines carry exceptions as a structured field: one JSON object per line, ours and
RQ's (stdlib) alike, and no local variables. The console keeps readable tracebacks."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from cio_pipeline.worker.core.logs import configure_logging, get_logger


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    structlog.reset_defaults()


def _lines(err: str) -> list[dict[str, Any]]:
    lines = err.strip().splitlines()
    return [json.loads(line) for line in lines]  # each line alone is a JSON object


def _fail(secret: str) -> None:
    raise ValueError("bad input")


def _frames(line: dict[str, Any]) -> list[str]:
    (exception,) = line["exception"]
    assert exception["exc_type"] == "ValueError" and exception["exc_value"] == "bad input"
    return [frame["name"] for frame in exception["frames"]]


def test_our_exception_lines_are_one_json_object(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "info")
    try:
        _fail(secret="person@example.com")
    except ValueError:
        get_logger("cio.test").exception("job_crashed", job_id="j1")
    (line,) = _lines(capsys.readouterr().err)
    assert line["event"] == "job_crashed" and line["job_id"] == "j1"
    assert _frames(line)[-1] == "_fail"
    assert "person@example.com" not in json.dumps(line)  # no locals
    assert "exc_info" not in line


def test_rq_stdlib_lines_with_exc_info_are_json_too(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "info")
    try:
        _fail(secret="person@example.com")
    except ValueError:
        logging.getLogger("rq.worker").error("Worker %s: failed", "w1", exc_info=True)
    (line,) = _lines(capsys.readouterr().err)
    assert line["event"] == "Worker w1: failed" and line["logger"] == "rq.worker"
    assert _frames(line)[-1] == "_fail"
    assert "person@example.com" not in json.dumps(line)


def test_uncaught_exceptions_in_threads_are_logged_as_json(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "info")
    thread = threading.Thread(target=_fail, args=("person@example.com",), name="cio-track")
    thread.start()
    thread.join(timeout=10)
    (line,) = _lines(capsys.readouterr().err)
    assert (line["event"], line["thread"]) == ("uncaught_exception", "cio-track")
    assert _frames(line)[-1] == "_fail"


def test_the_console_keeps_a_readable_traceback(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("console", "info")
    try:
        _fail(secret="x")
    except ValueError:
        get_logger("cio.test").exception("job_crashed")
    # Plain text, or rich's coloured panel when rich is installed (the demo extra).
    err = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err)
    assert "job_crashed" in err and "Traceback" in err and "ValueError: bad input" in err


class _Stream:
    """A stderr whose write raises ``error`` once (a signal arriving mid-write)."""

    def __init__(self, error: BaseException) -> None:
        self.error: BaseException | None = error
        self.written: list[str] = []

    def write(self, text: str) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self.written.append(text)

    def flush(self) -> None:
        pass


def test_a_stop_raised_while_a_line_is_written_reaches_the_work_loop(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """RQ raises StopRequested from its SIGTERM handler wherever the main thread is; inside
    a log write, logging would report it as a failed write and the stop would be lost."""
    from rq.exceptions import StopRequested

    from cio_pipeline.worker.core.logs import StopSafeHandler

    configure_logging("json")
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, StopSafeHandler)
    handler.setStream(_Stream(StopRequested()))  # type: ignore[arg-type]
    with pytest.raises(StopRequested):
        logging.getLogger("rq.worker").info("cleaning registries")
    # any other failed write is still logging's to report, and the next line goes out
    handler.setStream(_Stream(OSError("disk full")))  # type: ignore[arg-type]
    logging.getLogger("rq.worker").info("second")
    assert "Logging error" in capsys.readouterr().err
    logging.getLogger("rq.worker").info("third")
