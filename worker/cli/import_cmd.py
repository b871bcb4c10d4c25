"""``cio-pipeline import FILE``: the command line over
:func:`cio_pipeline.worker.ops.imports.run_import`.

Exit codes: 0 every row enqueued; 1 finished, but rows were rejected (listed on stderr);
2 bad arguments, settings or file, or a Redis that cannot be asked before the first row;
3 stopped early (Ctrl-C, Redis lost, ``--strict``): the last line printed is the exact
command that resumes it.
"""

from __future__ import annotations

import argparse
import shlex
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cio_pipeline.producer.client import CustomerIO
from cio_pipeline.producer.rows import RowMapping, RowsError, open_rows, parse_types
from cio_pipeline.producer.settings import Settings
from cio_pipeline.worker.cli.errors import CannotTell
from cio_pipeline.worker.ops.backlog import DEFAULT_MAX_BACKLOG
from cio_pipeline.worker.ops.import_view import make_view
from cio_pipeline.worker.ops.imports import ImportOptions, ImportResult, StopSignal, run_import

__all__ = ["register", "resume_command"]


#: The options a resumed run repeats, as (flag, attribute name); --start-line is set anew.
_REPEATED = (
    ("--format", "format"),
    ("--id-column", "id_column"),
    ("--email-column", "email_column"),
    ("--columns", "columns"),
    ("--types", "types"),
    ("--event", "event"),
    ("--errors", "errors"),
    ("--max-backlog", "max_backlog"),
    ("--progress", "progress"),
)


def resume_command(args: argparse.Namespace, line: int) -> str:
    """The command that imports the rest of the file: the same options (defaults left out),
    ``--start-line line``, as one shell line."""
    words = ["cio-pipeline", "import", args.file]
    defaults = {
        "id_column": "id",
        "email_column": "email",
        "max_backlog": DEFAULT_MAX_BACKLOG,
        "progress": "auto",
    }
    for flag, name in _REPEATED:
        value = getattr(args, name)
        if value is not None and value != defaults.get(name):
            words += [flag, str(value)]
    if args.strict:
        words.append("--strict")
    return shlex.join([*words, "--start-line", str(line)])


@contextmanager
def _stop_on_signals(stop: StopSignal) -> Iterator[None]:
    """SIGINT/SIGTERM stop the import at the next row boundary, or at once while it waits
    for input, never in the middle of a write."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.request())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _options(args: argparse.Namespace) -> ImportOptions:
    columns = (
        tuple(c.strip() for c in args.columns.split(",") if c.strip()) if args.columns else None
    )
    mapping = RowMapping(
        id_column=args.id_column,
        email_column=args.email_column,
        columns=columns,
        types=parse_types(args.types),
        event=args.event,
    )
    if args.start_line < 1 or args.max_backlog < 1:
        raise RowsError("--start-line and --max-backlog must be at least 1")
    return ImportOptions(
        path=args.file,
        mapping=mapping,
        format=args.format,
        start_line=args.start_line,
        strict=args.strict,
        errors_path=args.errors,
        max_backlog=args.max_backlog,
    )


def _summary(result: ImportResult) -> None:
    tally = result.tally
    rate = tally.rows / tally.elapsed_s if tally.elapsed_s > 0 else 0.0
    print(
        f"rows: {tally.rows:,}  operations enqueued: {tally.enqueued:,}  "
        f"rejected: {tally.rejected:,}  time: {tally.elapsed_s:.1f} s ({rate:,.0f} rows/s)"
    )
    for reason, count in tally.reasons.most_common():
        print(f"  rejected {count:,}: {reason}")
    if tally.backlog_waits:
        print(f"waited for workers to drain {tally.backlog_waits} time(s)")


def _run(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
        source = open_rows(args.file, args.format)
    except RowsError as exc:
        raise CannotTell(str(exc)) from None
    try:
        producer = CustomerIO(settings=Settings.from_env(strict=True))
    except BaseException:
        source.close()
        raise
    stop = StopSignal()
    try:
        # Could not start (exit 2, from the error boundary) is not stopped early (exit 3): a
        # Redis that does not answer before the first row leaves nothing to resume.
        producer.redis.ping()
        view = make_view(args.progress, source.size)
        try:
            with _stop_on_signals(stop):
                result = run_import(options, producer, source, stop=stop, view=view)
        except RowsError as exc:
            raise CannotTell(str(exc)) from None
        finally:
            view.close()
    finally:
        source.close()
        producer.close()
    _summary(result)
    if result.finished:
        return 1 if result.tally.rejected else 0
    print(
        f"stopped: {result.stop_reason}; every row before line {result.resume_line} is "
        "enqueued or rejected, none from it on"
    )
    if result.uncertain is not None:
        first, last = result.uncertain
        print(
            f"lines {first}-{last} may have been enqueued already (Redis lost the answer); "
            "resuming sends them again: identifies are idempotent and events keep their ids"
        )
    print(f"resume with: {resume_command(args, result.resume_line or 1)}")
    return 3


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline import FILE``."""
    parser = subparsers.add_parser(
        "import",
        help="import people or events from a CSV or JSON Lines file",
        description="Enqueue one identify (or event) per row of FILE (- for stdin), with "
        "backpressure; see docs/import.md.",
    )
    parser.add_argument("file", metavar="FILE", help="CSV or JSON Lines file; - for stdin")
    parser.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        help="default: from the extension, else the first byte",
    )
    parser.add_argument("--id-column", default="id", help="person id column (default: id)")
    parser.add_argument(
        "--email-column",
        default="email",
        help="e-mail column, the identifier when a row has no id (default: email)",
    )
    parser.add_argument("--columns", help="attribute columns, comma-separated (default all)")
    parser.add_argument(
        "--types",
        help="COLUMN:TYPE,... TYPE: str int float bool json (default: values stay strings)",
    )
    parser.add_argument(
        "--event",
        metavar="NAME",
        help="every row is an event NAME (else rows with an 'event' value are)",
    )
    parser.add_argument("--strict", action="store_true", help="stop at the first bad row")
    parser.add_argument(
        "--errors", metavar="FILE", help="write rejected rows here, to fix and import again"
    )
    parser.add_argument(
        "--start-line",
        type=int,
        default=1,
        metavar="N",
        help="skip rows that start before line N, to resume (default: 1)",
    )
    parser.add_argument(
        "--max-backlog",
        type=int,
        default=DEFAULT_MAX_BACKLOG,
        metavar="JOBS",
        help=f"wait while the Track backlog is above this (default: {DEFAULT_MAX_BACKLOG:,})",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "rich", "plain"),
        default="auto",
        help="auto: a rich bar in a terminal when rich is installed (default: auto)",
    )
    parser.set_defaults(func=_run)
