"""Dead letters: list, show, replay and purge them across every queue (``cio-pipeline dlq``).

A dead letter is a failed job in its origin queue's RQ FailedJobRegistry (so rq-dashboard's
Failed view lists it and its Requeue works), with ``meta["dead_letter"]`` saying why. Replay
re-enqueues the same job: event ids and idempotency keys are kept, so Customer.io
de-duplicates events and a send that was delivered after all is not sent again.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from producer.keys import Keys
from producer.serializer import SafeSerializer
from worker.core.settings import WorkerSettings
from worker.runner.context import worker_connection

__all__ = ["DeadLetterEntry", "DeadLetters", "NotADeadLetter", "register"]


class NotADeadLetter(ValueError):
    """The job exists but is not in its queue's FailedJobRegistry."""


@dataclass(frozen=True)
class DeadLetterEntry:
    """One dead letter as people see it (no attribute values, no message bodies)."""

    job_id: str
    queue: str
    description: str
    operation: str | None
    reason: str
    status: int | None
    message: str
    attempts: int | None
    ambiguous: bool
    first_attempt_at: float | None
    last_attempt_at: float | None


class DeadLetters:
    """The dead letters of every queue of one prefix."""

    def __init__(self, connection: redis.Redis, keys: Keys) -> None:
        self.connection = connection
        self.keys = keys

    def _registries(self, queue: str | None) -> list[FailedJobRegistry]:
        names = [queue] if queue else list(self.keys.all_queues)
        return [
            FailedJobRegistry(name, connection=self.connection, serializer=SafeSerializer)
            for name in names
        ]

    def _fetch(self, job_id: str) -> Job:
        return Job.fetch(job_id, connection=self.connection, serializer=SafeSerializer)

    def entry(self, job: Job) -> DeadLetterEntry:
        """A job as a :class:`DeadLetterEntry`."""
        details: dict[str, Any] = job.meta.get("dead_letter") or {}
        latest = job.latest_result()
        fallback = (latest.exc_string or "").strip().splitlines() if latest else []
        return DeadLetterEntry(
            job_id=job.id,
            queue=job.origin,
            description=job.description or "",
            operation=details.get("operation"),
            reason=str(details.get("reason") or (fallback[-1] if fallback else "failed")),
            status=details.get("status"),
            message=str(details.get("message") or ""),
            attempts=details.get("attempts"),
            ambiguous=bool(details.get("ambiguous")),
            first_attempt_at=details.get("first_attempt_at"),
            last_attempt_at=details.get("last_attempt_at"),
        )

    def ids(self, queue: str | None = None) -> list[tuple[str, str]]:
        """(queue, job id) of every dead letter, oldest first per queue."""
        return [(r.name, job_id) for r in self._registries(queue) for job_id in r.get_job_ids()]

    def list(self, queue: str | None = None) -> list[DeadLetterEntry]:
        """Every dead letter (of ``queue``, or of all queues)."""
        entries = []
        for _, job_id in self.ids(queue):
            try:
                entries.append(self.entry(self._fetch(job_id)))
            except NoSuchJobError:
                continue  # expired between the listing and the fetch
        return entries

    def show(self, job_id: str) -> tuple[DeadLetterEntry, str]:
        """A dead letter and the full failure text RQ stored."""
        job = self._fetch(job_id)
        latest = job.latest_result()
        return self.entry(job), (latest.exc_string if latest else "") or ""

    def _dead_job(self, job_id: str) -> Job:
        """The job, if it is a dead letter (in its queue's FailedJobRegistry)."""
        job = self._fetch(job_id)
        registry = FailedJobRegistry(
            job.origin, connection=self.connection, serializer=SafeSerializer
        )
        if job_id not in registry:
            raise NotADeadLetter(f"{job_id} is not a dead letter (status {job.get_status()})")
        return job

    def replay(self, job_id: str, *, resend_ambiguous: bool = False) -> str:
        """Re-enqueue one dead letter; returns what was done (one line)."""
        job = self._dead_job(job_id)
        entry = self.entry(job)
        if entry.ambiguous and not resend_ambiguous:
            return (
                f"skipped {job_id}: it may have been delivered (ambiguous); check it in "
                "Customer.io, then use --resend-ambiguous to send it again"
            )
        if entry.ambiguous:
            key = job.kwargs.get("idempotency_key")
            if key:
                record_key = self.keys.delivery_record(str(key))
                record = self.connection.get(record_key)
                if isinstance(record, bytes) and not record.startswith(b"delivered:"):
                    self.connection.delete(record_key)
        registry = FailedJobRegistry(
            job.origin, connection=self.connection, serializer=SafeSerializer
        )
        registry.requeue(job_id)
        return f"replayed {job_id} on {job.origin}"

    def purge(self, job_id: str) -> str:
        """Delete one dead letter for good (never a job that is not one)."""
        job = self._dead_job(job_id)
        registry = FailedJobRegistry(
            job.origin, connection=self.connection, serializer=SafeSerializer
        )
        registry.remove(job, delete_job=True)
        return f"purged {job_id} from {job.origin}"


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
        reason = (e.reason + (f" [{e.message}]" if e.message else ""))[:90]
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
    keys = Keys(settings.queue.queue_prefix, settings.queue.partitions)
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
            print(f"no job {args.job_id}", file=sys.stderr)
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
