"""Dead letters: list, show, replay and purge them across every queue (``cio-pipeline dlq``
is the command line over :class:`DeadLetters`).

A dead letter is a failed job in its origin queue's RQ FailedJobRegistry (so rq-dashboard's
Failed view lists it and its Requeue works), with ``meta["dead_letter"]`` saying why. Replay
re-enqueues the same job: event ids and idempotency keys are kept, so Customer.io
de-duplicates events and a send that was delivered after all is not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.deadletters.record import DeadLetterRecord
from cio_pipeline.worker.transactional.records import DeliveryRecords

__all__ = ["DeadLetterEntry", "DeadLetters", "NotADeadLetter"]


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

    def _registry(self, queue: str) -> FailedJobRegistry:
        """The FailedJobRegistry (the dead letters) of ``queue``."""
        return FailedJobRegistry(queue, connection=self.connection, serializer=SafeSerializer)

    def _registries(self, queue: str | None) -> list[FailedJobRegistry]:
        return [self._registry(name) for name in ([queue] if queue else self.keys.all_queues)]

    def _fetch(self, job_id: str) -> Job:
        return Job.fetch(job_id, connection=self.connection, serializer=SafeSerializer)

    def entry(self, job: Job) -> DeadLetterEntry:
        """A job as a :class:`DeadLetterEntry`."""
        record = DeadLetterRecord.from_meta(job.meta)
        ours = record is not None
        if record is None:  # failed without our record (a crash): RQ's text says why
            latest = job.latest_result()
            lines = (latest.exc_string or "").strip().splitlines() if latest else []
            record = DeadLetterRecord(reason=lines[-1] if lines else "failed", operation="")
        return DeadLetterEntry(
            job_id=job.id,
            queue=job.origin,
            description=job.description or "",
            operation=record.operation if ours else None,
            reason=record.reason,
            status=record.status,
            message=record.message,
            attempts=record.attempts if ours else None,
            ambiguous=record.ambiguous,
            first_attempt_at=record.first_attempt_at,
            last_attempt_at=record.last_attempt_at,
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
        """A dead letter and the full failure text RQ stored; like :meth:`replay`, raises
        :class:`NotADeadLetter` for a job that is not one (a queued or delivered job has no
        failure to show)."""
        job = self._dead_job(job_id)
        latest = job.latest_result()
        return self.entry(job), (latest.exc_string if latest else "") or ""

    def _dead_job(self, job_id: str) -> Job:
        """The job, if it is a dead letter (in its queue's FailedJobRegistry)."""
        job = self._fetch(job_id)
        if job_id not in self._registry(job.origin):
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
        key = job.kwargs.get("idempotency_key")
        if entry.ambiguous and key:
            DeliveryRecords(self.connection, self.keys).clear_for_resend(str(key))
        self._registry(job.origin).requeue(job_id)
        return f"replayed {job_id} on {job.origin}"

    def purge(self, job_id: str) -> str:
        """Delete one dead letter for good (never a job that is not one)."""
        job = self._dead_job(job_id)
        self._registry(job.origin).remove(job, delete_job=True)
        return f"purged {job_id} from {job.origin}"
