"""``cio-pipeline dlq list|show|replay|purge``: the command line over
:class:`cio_pipeline.worker.deadletters.store.DeadLetters` (parsing and printing only).

``--queue`` must name one of this project's queues: anything else exits 2 with the list of
valid ones (another application's failed jobs on the same Redis are never touched)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.deadletters.store import (
    DeadLetterEntry,
    DeadLetters,
    NotADeadLetter,
    UnknownQueue,
)
from cio_pipeline.worker.runner.context import worker_connection

__all__ = ["register"]


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print_table(entries: list[DeadLetterEntry]) -> None:
    if not entries:
        print("no dead letters")
        return
    print(f"{'JOB ID':<38}{'QUEUE':<20}{'STATUS':<8}{'TRIES':<7}{'LAST ATTEMPT (UTC)':<21}REASON")
    for e in entries:
        damaged = f" [damaged {e.damaged}]" if e.damaged and e.operation is not None else ""
        reason = (e.reason + (f" [{e.message}]" if e.message else "") + damaged)[:90]
        print(
            f"{e.job_id:<38}{e.queue:<20}{e.status or '-'!s:<8}{e.attempts or '-'!s:<7}"
            f"{_when(e.last_attempt_at):<21}{reason}"
        )
    print(f"{len(entries)} dead letter(s)")


def _targets(dlq: DeadLetters, args: argparse.Namespace) -> list[str]:
    if args.all == bool(args.job_ids):
        raise SystemExit("give JOB_ID... or --all (not both)")
    if args.all:
        return [job_id for _, job_id in dlq.ids(args.queue)]
    return list(args.job_ids)


def _run(args: argparse.Namespace) -> int:
    settings = WorkerSettings.from_env()
    keys = Keys.of(settings.queue)
    dlq = DeadLetters(worker_connection(settings), keys)
    try:
        dlq.check_queue(getattr(args, "queue", None))
    except UnknownQueue as exc:
        print(f"cio-pipeline dlq: --queue {exc}", file=sys.stderr)
        return 2
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
            print(f"no job {args.job_id}", file=sys.stderr)
            return 1
        except NotADeadLetter as exc:
            print(exc, file=sys.stderr)
            return 1
        for key, value in asdict(entry).items():
            print(f"{key + ':':<18}{value}")
        print("\n" + text)
        return 0
    status = 0
    for job_id in _targets(dlq, args):
        try:
            if args.dlq_command == "replay":
                print(dlq.replay(job_id, resend_ambiguous=args.resend_ambiguous))
            else:
                print(dlq.purge(job_id))
        except (NoSuchJobError, InvalidJobOperation, redis.ResponseError, ValueError) as exc:
            print(f"{job_id}: {exc}", file=sys.stderr)
            status = 1
    return status


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline dlq list|show|replay|purge``."""
    parser = subparsers.add_parser("dlq", help="inspect, replay or purge dead letters")
    sub = parser.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="list dead letters of every queue")
    listing.add_argument("--queue", help="only this queue (e.g. cio-transactional)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = sub.add_parser("show", help="one dead letter with its full reason")
    show.add_argument("job_id")
    for action, text in (
        ("replay", "re-enqueue dead letters (same ids and keys)"),
        ("purge", "delete dead letters for good"),
    ):
        p = sub.add_parser(action, help=text)
        p.add_argument("job_ids", nargs="*", metavar="JOB_ID")
        p.add_argument("--all", action="store_true", help="every dead letter (of --queue)")
        p.add_argument("--queue", help="with --all: only this queue")
        if action == "replay":
            p.add_argument(
                "--resend-ambiguous",
                action="store_true",
                help="also send again sends that may have been delivered",
            )
    parser.set_defaults(func=_run)
