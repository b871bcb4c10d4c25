"""``cio-pipeline dlq list|show|replay|purge``: the command line over
:class:`cio_pipeline.worker.deadletters.store.DeadLetters` (parsing and printing only).

Exit codes (``docs/exit-codes.md``): 0 done; 1 refused (not a dead letter, an ambiguous send
skipped); 2 bad arguments (an unknown ``--queue``) or Redis could not be asked; 3 no such job.
Failures are raised to the CLI's error boundary (:mod:`cio_pipeline.worker.cli.errors`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from rq.exceptions import NoSuchJobError

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.cli.errors import CannotTell, CommandError, NotFound, Refused
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.deadletters.store import (
    DeadLetterEntry,
    DeadLetters,
    NotADeadLetter,
)
from cio_pipeline.worker.runner.context import worker_connection

__all__ = ["register"]


def _when(ts: float | None) -> str:
    """Unix seconds as ISO-8601 UTC (``2023-11-14T22:14:20Z``); ``-`` when unknown."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resend_command(job_id: str) -> str:
    return f"cio-pipeline dlq replay --resend-ambiguous {job_id}"


def _reason(entry: DeadLetterEntry) -> str:
    # Records written by the transactional path name the command with a placeholder; the
    # reader gets the command for this job.
    return entry.reason.replace("JOB_ID", entry.job_id)


def _print_table(entries: list[DeadLetterEntry]) -> None:
    if not entries:
        print("no dead letters")
        return
    print(f"{'JOB ID':<38}{'QUEUE':<20}{'STATUS':<8}{'TRIES':<7}{'LAST ATTEMPT (UTC)':<21}REASON")
    for e in entries:
        damaged = f" [damaged {e.damaged}]" if e.damaged and e.operation is not None else ""
        reason = (_reason(e) + (f" [{e.message}]" if e.message else "") + damaged)[:90]
        print(
            f"{e.job_id:<38}{e.queue:<20}{e.status or '-'!s:<8}{e.attempts or '-'!s:<7}"
            f"{_when(e.last_attempt_at):<21}{reason}"
        )
    print(f"{len(entries)} dead letter(s)")


def _print_entry(entry: DeadLetterEntry, failure_text: str) -> None:
    """Each field once; RQ's failure text only when it is not our record's (a crash's
    traceback says what our fields cannot)."""
    rows = [
        ("job id", entry.job_id),
        ("queue", entry.queue),
        ("description", entry.description or "-"),
        ("operation", entry.operation or "-"),
        ("reason", _reason(entry)),
        ("HTTP status", "-" if entry.status is None else str(entry.status)),
        ("message", entry.message or "-"),
        ("attempts", "-" if entry.attempts is None else str(entry.attempts)),
        ("first attempt", _when(entry.first_attempt_at)),
        ("last attempt", _when(entry.last_attempt_at)),
        ("ambiguous", "yes: it may have been delivered" if entry.ambiguous else "no"),
    ]
    for name, value in rows:
        print(f"{name + ':':<15}{value}")
    if entry.ambiguous:
        print(
            "\nCheck the message in Customer.io's delivery log; if it was not sent, send it "
            f"again with:\n  {_resend_command(entry.job_id)}"
        )
    if entry.operation is None and failure_text.strip():
        print("\nfailure text:\n" + failure_text.rstrip())


def _queue(keys: Keys, queue: str | None) -> str | None:
    """``--queue`` checked against the queues of this prefix (exit 2 naming them)."""
    if queue is None or queue in keys.all_queues:
        return queue
    tracks = keys.track_queues
    valid = f"{tracks[0]} .. {tracks[-1]}, {keys.transactional_queue}, {keys.webhooks_queue}"
    raise CannotTell(f"--queue {queue!r} is not a queue of this pipeline; valid: {valid}")


def _targets(dlq: DeadLetters, args: argparse.Namespace) -> list[str]:
    if args.all == bool(args.job_ids):
        raise CannotTell("give JOB_ID... or --all (not both)")
    if args.all:
        return [job_id for _, job_id in dlq.ids(args.queue)]
    return list(args.job_ids)


def _act(dlq: DeadLetters, job_id: str, args: argparse.Namespace) -> str:
    """One replay or purge; raises the :class:`CommandError` for a job it cannot act on."""
    try:
        if args.dlq_command == "purge":
            return dlq.purge(job_id)
        line = dlq.replay(job_id, resend_ambiguous=args.resend_ambiguous)
    except NoSuchJobError:
        raise NotFound(f"no job {job_id}") from None
    except NotADeadLetter as exc:
        raise Refused(str(exc)) from None
    if line.startswith("skipped "):
        raise Refused(f"{line}: {_resend_command(job_id)}")
    return line


def _run(args: argparse.Namespace) -> int:
    settings = WorkerSettings.from_env()
    keys = Keys.of(settings.queue)
    args.queue = _queue(keys, getattr(args, "queue", None))
    dlq = DeadLetters(worker_connection(settings), keys)
    if args.dlq_command == "list":
        entries = dlq.list(args.queue)
        if args.json:
            json.dump([asdict(e) for e in entries], sys.stdout, indent=2)
            print()
        else:
            _print_table(entries)
        return 0
    if args.dlq_command == "show":
        try:
            entry, text = dlq.show(args.job_id)
        except NoSuchJobError:
            raise NotFound(f"no job {args.job_id}") from None
        except NotADeadLetter as exc:
            raise Refused(f"{exc}; only dead letters are shown") from None
        _print_entry(entry, text)
        return 0
    targets = _targets(dlq, args)
    failures: list[CommandError] = []
    for job_id in targets:
        try:
            print(_act(dlq, job_id, args), flush=True)
        except CommandError as exc:  # one job's refusal does not stop the others
            failures.append(exc)
            if len(targets) > 1:
                print(f"cio-pipeline dlq {args.dlq_command}: {exc}", file=sys.stderr)
    if not failures:
        return 0
    if len(targets) == 1:
        raise failures[0]
    # several: "not found" outranks "refused"; each was printed above
    return max(f.exit_code for f in failures)


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline dlq list|show|replay|purge``."""
    parser = subparsers.add_parser(
        "dlq",
        help="inspect, replay or purge dead letters",
        description="Dead letters are jobs that could not be delivered, kept in their queue's "
        "failed registry (rq-dashboard's Failed view). Exit codes: 0 done, 1 refused (not a "
        "dead letter, an ambiguous send skipped), 2 bad arguments or Redis unavailable, "
        "3 no such job.",
    )
    sub = parser.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list",
        help="list dead letters of every queue",
        description="List the dead letters of every queue (or of --queue), oldest first.",
    )
    listing.add_argument("--queue", help="only this queue, e.g. cio-transactional (default: all)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = sub.add_parser(
        "show",
        help="one dead letter with its full reason",
        description="Show one dead letter: each field once, times in UTC (ISO-8601). "
        "Exit 1 when the job is not a dead letter, 3 when there is no such job.",
    )
    show.add_argument("job_id", metavar="JOB_ID")
    for action, text in (
        ("replay", "re-enqueue dead letters (same ids and keys)"),
        ("purge", "delete dead letters for good"),
    ):
        p = sub.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("job_ids", nargs="*", metavar="JOB_ID")
        p.add_argument("--all", action="store_true", help="every dead letter (of --queue)")
        p.add_argument("--queue", help="with --all: only this queue (default: all)")
        if action == "replay":
            p.add_argument(
                "--resend-ambiguous",
                action="store_true",
                help="also send again sends that may have been delivered",
            )
    parser.set_defaults(func=_run)
