"""``cio-pipeline import``: a CSV or JSON Lines file into the Track queues, row by row.

The run reads rows as a stream (:mod:`cio_pipeline.producer.rows`), turns each into an operation and
enqueues it through ``CustomerIO.pipeline()`` in *windows* of :attr:`ImportOptions.window_rows`
rows: one ``pipeline()`` block per window, so memory stays at one window whatever the file's
size. Before each window it asks the :class:`~cio_pipeline.worker.ops.backlog.BacklogGate` for room,
so the Track backlog never passes ``max_backlog`` because of the import: it waits for workers.

A bad row (unreadable, or refused by the producer's validation) is reported with its line and
field and skipped (``strict`` stops there), and written to the rejects file if asked. That
includes a row the producer fails on with an untyped error (text or a number it cannot
encode, nesting it cannot walk): it is rejected with the error's type and the run goes on.

**Stopping and resuming.** The import stops at a row boundary when ``stop`` is set (Ctrl-C),
when Redis fails, or in strict mode. With a :class:`StopSignal` it also stops while it waits
for input (a stalled pipe, a huge header being checked): :meth:`StopSignal.request`, called
from a signal handler, raises there, where no write is in progress. The :class:`ImportResult`
then says the line to resume from. Every row before that line is certainly enqueued (or
reported as rejected), every row from it on certainly not, with one exception: a chunk whose
request reached Redis but whose answer was lost. Its jobs are looked up; if one exists the
chunk was written (chunks are all-or-nothing). If none does (never written, or written and
already delivered) the rows are reported as ``uncertain`` and the resume line includes them:
identifies are idempotent, and events keep their ids across runs (derived from the row), so
Customer.io keeps each once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from cio_pipeline.producer.client import CustomerIO
from cio_pipeline.producer.errors import CustomerIOException, ValidationError
from cio_pipeline.producer.rows import RejectWriter, Row, RowBuilder, RowMapping, RowSource
from cio_pipeline.producer.rows.read import Format
from cio_pipeline.worker.ops.backlog import DEFAULT_MAX_BACKLOG, BacklogGate
from cio_pipeline.worker.ops.import_stop import Interrupted, StopSignal, read_guarded

__all__ = [
    "ImportOptions",
    "ImportResult",
    "ImportTally",
    "ImportView",
    "StopSignal",
    "run_import",
]


@dataclass(frozen=True)
class ImportOptions:
    """What to import and how (the command's arguments)."""

    path: str
    mapping: RowMapping = field(default_factory=RowMapping)
    format: Format | None = None
    start_line: int = 1
    strict: bool = False
    errors_path: str | None = None
    max_backlog: int = DEFAULT_MAX_BACKLOG
    window_rows: int = 5_000


@dataclass
class ImportTally:
    """Counts so far, for the progress view and the summary (rows = enqueued + rejected)."""

    total_bytes: int | None = None
    bytes_read: int = 0
    enqueued: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    waiting_backlog: int | None = None  # set while waiting for workers to drain
    backlog_waits: int = 0

    @property
    def rows(self) -> int:
        """Rows handled: enqueued or rejected."""
        return self.enqueued + self.rejected


@dataclass(frozen=True)
class ImportResult:
    """How the run ended. ``resume_line`` is set unless every row was handled."""

    tally: ImportTally
    resume_line: int | None = None
    stop_reason: str | None = None
    uncertain: tuple[int, int] | None = None  # first and last line of an unresolved chunk

    @property
    def finished(self) -> bool:
        """Every row of the file was enqueued or rejected."""
        return self.resume_line is None


class ImportView(Protocol):
    """Where progress goes: a rich bar, plain lines, or nothing."""

    def show(self, tally: ImportTally) -> None:
        """The tally changed (once per window, and while waiting for room)."""

    def rejected(self, line: int, error: str) -> None:
        """A row was rejected (reported once, even across a resume)."""


@dataclass
class _Window:
    """The rows of one ``pipeline()`` block, until it is known what happened to them."""

    next_line: int
    submitted: list[tuple[int, str]] = field(default_factory=list)  # (line, job id)
    rejected: list[tuple[Row, str]] = field(default_factory=list)
    current: int | None = None  # line of the row being enqueued
    strict_line: int | None = None
    written: set[str] | None = None  # None: the whole block was written
    unknown: list[str] = field(default_factory=list)


def _error_text(exc: ValidationError) -> str:
    # batch() names fields of its one operation "operations[0].<field>"; the SDK calls name
    # the identifier "customer_id" and event data "data"
    fieldname = exc.field.removeprefix("operations[0].").removeprefix("operations[0]")
    return f"{fieldname or 'operation'}: {exc.reason}"


#: What a producer call may raise for one row's values besides ValidationError (a value it
#: cannot encode or walk): the row is rejected, never the run.
_ROW_FAILURES = (UnicodeError, ValueError, TypeError, OverflowError, RecursionError)


def _submit(pipe: CustomerIO, op: dict[str, Any]) -> str:
    """Enqueue one row's operation; returns its job id.

    ``identify``/``track`` when the SDK's reading of the identifier by its shape (``@``: an
    email, ``cio_``: a cio_id) gives the row's own identifier type: that path validates once
    (``batch()`` normalises the whole operation and then its attributes again, a third slower:
    docs/performance.md). Anything else goes through ``batch()`` with explicit identifiers,
    e.g. an e-mail that starts with ``cio_`` (the SDK would read it as a cio_id).
    """
    ((id_type, value),) = op["identifiers"].items()
    attributes = op["attributes"]
    if type(value) is str and "id" not in attributes:
        if id_type == "id":
            sdk_id = None if "@" in value or value.startswith("cio_") else value
        elif id_type == "email":
            sdk_id = value if "@" in value and not value.startswith("cio_") else None
        else:
            sdk_id = "cio_" + value
        if sdk_id is not None:
            if op["action"] == "identify":
                return pipe.identify(sdk_id, **attributes)
            return pipe.track(sdk_id, op["name"], attributes, op["id"], op.get("timestamp"))
    return pipe.batch([op])[0]


def _fill(
    producer: CustomerIO,
    rows: Iterator[Row],
    window: _Window,
    options: ImportOptions,
    limit: int,
    stop: threading.Event,
    builder: RowBuilder,
) -> str:
    """Enqueue up to ``limit`` rows in one block; return why it ended: more, end, stop,
    strict. Raises what the block raised, with ``window.written`` filled in."""
    # Bound once: this loop runs for every row of the file.
    operation, submitted, strict = builder.operation, window.submitted, options.strict
    stopped = stop.is_set
    try:
        with producer.pipeline() as pipe:
            for row in rows:
                window.current = line = row.line
                error = row.problem
                if row.values is not None:
                    try:
                        submitted.append((line, _submit(pipe, operation(row.values, line))))
                    except ValidationError as exc:
                        error = _error_text(exc)
                    except _ROW_FAILURES as exc:
                        error = f"operation: cannot be encoded ({type(exc).__name__})"
                window.current = None
                window.next_line = row.next_line
                if error is not None:
                    window.rejected.append((row, error))
                    if strict:
                        window.strict_line = line
                        return "strict"
                if len(submitted) + len(window.rejected) >= limit:
                    return "more"
                if stopped():
                    return "stop"
            return "end"
    except BaseException:
        report = pipe.pipeline_report if "pipe" in locals() else None
        window.written = set() if report is None else set(report.written_ids)
        window.unknown = [] if report is None else list(report.unknown_ids)
        raise


def _resolve_unknown(producer: CustomerIO, ids: list[str]) -> bool | None:
    """Whether a lost-answer chunk was written: True if any of its jobs exists, False if
    none does (never written, or already delivered), None if Redis cannot say."""
    try:
        with producer.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.exists(f"rq:job:{job_id}")
            return any(pipe.execute())
    except redis.RedisError:
        return None


class _Run:
    def __init__(
        self,
        options: ImportOptions,
        producer: CustomerIO,
        source: RowSource,
        stop: threading.Event,
        view: ImportView,
        clock: Callable[[], float],
    ) -> None:
        self.options, self.producer, self.source = options, producer, source
        self.stop, self.view, self.clock = stop, view, clock
        self.tally = ImportTally(total_bytes=source.size)
        self.started = clock()
        self.rejects: RejectWriter | None = None
        self.builder = RowBuilder(options.mapping)

    def commit(self, window: _Window, before_line: int) -> None:
        """Count the window's rows before ``before_line``; report its rejects there."""
        self.tally.enqueued += sum(1 for line, _ in window.submitted if line < before_line)
        for row, error in window.rejected:
            if row.line >= before_line:
                continue
            self.tally.rejected += 1
            self.tally.reasons[error] += 1
            self.view.rejected(row.line, error)
            if self.options.errors_path is not None:
                if self.rejects is None:
                    self.rejects = RejectWriter(
                        self.options.errors_path,
                        self.source.format,
                        self.source.header,
                        append=self.options.start_line > 1,
                    )
                self.rejects.write(row, error)
        self.refresh()

    def refresh(self) -> None:
        self.tally.bytes_read = self.source.bytes_read
        self.tally.elapsed_s = self.clock() - self.started
        self.view.show(self.tally)

    def waiting(self, backlog: int) -> None:
        self.tally.waiting_backlog = backlog
        self.refresh()

    def failed(self, window: _Window, reason: str) -> ImportResult:
        """The block raised: settle what is known, and where to resume."""
        written = window.written or set()
        uncertain = None
        if window.unknown:
            found = _resolve_unknown(self.producer, window.unknown)
            if found:
                written |= set(window.unknown)
            else:
                unknown = set(window.unknown)
                lines = [line for line, job_id in window.submitted if job_id in unknown]
                uncertain = (min(lines), max(lines)) if lines else None
        resume = next((line for line, job_id in window.submitted if job_id not in written), None)
        if resume is None:
            resume = window.current if window.current is not None else window.next_line
        self.commit(window, resume)
        return ImportResult(self.tally, resume, reason, uncertain)

    def run(self) -> ImportResult:
        options = self.options
        limit = max(1, min(options.window_rows, options.max_backlog))
        gate = BacklogGate(self.producer.redis, self.producer.keys, options.max_backlog)
        rows = self.source.rows(options.start_line)
        if isinstance(self.stop, StopSignal):
            rows = read_guarded(rows, self.stop)
        next_line = options.start_line
        while True:
            try:
                room = gate.wait_for_room(limit, self.stop, self.waiting)
            except redis.RedisError as exc:
                return ImportResult(self.tally, next_line, f"Redis failed ({type(exc).__name__})")
            finally:
                self.tally.waiting_backlog = None
                self.tally.backlog_waits = gate.waits
            if not room:
                return ImportResult(self.tally, next_line, "interrupted")
            window = _Window(next_line)
            try:
                ended = _fill(self.producer, rows, window, options, limit, self.stop, self.builder)
            except CustomerIOException as exc:  # EnqueueError, RowsError
                return self.failed(window, str(getattr(exc, "reason", exc)))
            except Interrupted:
                return self.failed(window, "interrupted")
            next_line = window.next_line
            self.commit(window, next_line)
            if ended == "end":
                return ImportResult(self.tally)
            if ended == "stop":
                return ImportResult(self.tally, next_line, "interrupted")
            if ended == "strict":
                # Resume past the rejected row (it is in the errors file and on stderr):
                # resuming at it would stop at it again. Rows start at or after line + 1.
                bad = window.strict_line or next_line
                return ImportResult(self.tally, bad + 1, f"line {bad} was rejected (--strict)")


def run_import(
    options: ImportOptions,
    producer: CustomerIO,
    source: RowSource,
    *,
    stop: threading.Event,
    view: ImportView,
    clock: Callable[[], float] = time.monotonic,
) -> ImportResult:
    """Import ``source`` through ``producer`` (see the module docstring); ``stop`` ends it at
    the next row boundary. Never raises for a bad row or a lost Redis: the result says."""
    run = _Run(options, producer, source, stop, view, clock)
    try:
        return run.run()
    finally:
        if run.rejects is not None:
            run.rejects.close()
        run.tally.elapsed_s = clock() - run.started
