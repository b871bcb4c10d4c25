"""Dead letters: list, show, replay and purge them across every queue (``cio-pipeline dlq``
is the command line over :class:`DeadLetters`).

A dead letter is a failed job in its origin queue's RQ FailedJobRegistry (so rq-dashboard's
Failed view lists it and its Requeue works), with ``meta["dead_letter"]`` saying why. Replay
re-enqueues the same job: event ids and idempotency keys are kept, so Customer.io
de-duplicates events and a send that was delivered after all is not sent again.

Only this project's queues (:attr:`Keys.all_queues`) are listed or acted on: another
application's RQ failed jobs on the same Redis are never touched, and a queue name that is not
ours is an error (:class:`UnknownQueue`) naming the valid ones. A dead letter that cannot be
read (a damaged job hash, a record with values of the wrong type) is listed as damaged with
what is wrong, never stops the listing, and can be purged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.deadletters.record import DeadLetterRecord
from cio_pipeline.worker.transactional.records import DeliveryRecords

__all__ = ["DeadLetterEntry", "DeadLetters", "NotADeadLetter", "UnknownQueue"]

_MAX_SHOWN_CHARS: Final = 500
#: Redis failing is not a damaged record: it propagates (the command reports it).
_REDIS_DOWN: Final = (redis.ConnectionError, redis.TimeoutError)


class NotADeadLetter(ValueError):
    """The job exists but is not in its queue's FailedJobRegistry, or it belongs to a queue
    that is not this project's."""


class UnknownQueue(ValueError):
    """A queue name that is not one of this project's; the message lists the valid ones."""

    def __init__(self, queue: str, valid: tuple[str, ...]) -> None:
        self.queue = queue
        self.valid = valid
        names = ", ".join(valid)
        super().__init__(f"{queue!r} is not a queue of this project; its queues: {names}")


def _shown(value: Any) -> str:
    """Text safe to print: a string (anything else shown by its type), cut to a length a
    terminal can take, with a lone surrogate escaped (print would fail on it)."""
    text = value if isinstance(value, str) else ""
    text = text[:_MAX_SHOWN_CHARS]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
    damaged: str | None = None
    """What cannot be read (the job, or fields of its record), or None."""


def _damage(job: Job, fields: list[str]) -> str | None:
    # RQ keeps a meta it cannot unpickle under "unserialized" instead of failing.
    if "unserialized" in job.meta:
        return "the job's meta cannot be read"
    return f"record fields: {', '.join(fields)}" if fields else None


class DeadLetters:
    """The dead letters of every queue of one prefix."""

    def __init__(self, connection: redis.Redis, keys: Keys) -> None:
        self.connection = connection
        self.keys = keys

    def _registry(self, queue: str) -> FailedJobRegistry:
        """The FailedJobRegistry (the dead letters) of ``queue``."""
        return FailedJobRegistry(queue, connection=self.connection, serializer=SafeSerializer)

    def check_queue(self, queue: str | None) -> None:
        """Raise :class:`UnknownQueue` unless ``queue`` is None or one of this project's."""
        if queue is not None and queue not in self.keys.all_queues:
            raise UnknownQueue(queue, self.keys.all_queues)

    def _registries(self, queue: str | None) -> list[FailedJobRegistry]:
        self.check_queue(queue)
        return [self._registry(name) for name in ([queue] if queue else self.keys.all_queues)]

    def _fetch(self, job_id: str) -> Job:
        return Job.fetch(job_id, connection=self.connection, serializer=SafeSerializer)

    def entry(self, job: Job) -> DeadLetterEntry:
        """A job as a :class:`DeadLetterEntry`."""
        record, damaged = DeadLetterRecord.read(job.meta)
        ours = record is not None
        if record is None:  # failed without our record (a crash): RQ's text says why
            latest = job.latest_result()
            lines = (latest.exc_string or "").strip().splitlines() if latest else []
            record = DeadLetterRecord(reason=lines[-1] if lines else "failed", operation="")
        return DeadLetterEntry(
            job_id=job.id,
            queue=_shown(job.origin),
            description=_shown(job.description),
            operation=_shown(record.operation) if ours else None,
            reason=_shown(record.reason),
            status=record.status,
            message=_shown(record.message),
            attempts=record.attempts if ours else None,
            ambiguous=record.ambiguous,
            first_attempt_at=record.first_attempt_at,
            last_attempt_at=record.last_attempt_at,
            damaged=_damage(job, damaged),
        )

    def _damaged(self, job_id: str, queue: str, exc: Exception) -> DeadLetterEntry:
        why = f"the job cannot be read ({type(exc).__name__})"
        return DeadLetterEntry(
            job_id=_shown(job_id),
            queue=queue,
            description="",
            operation=None,
            reason=f"damaged: {why}; purge it",
            status=None,
            message="",
            attempts=None,
            ambiguous=False,
            first_attempt_at=None,
            last_attempt_at=None,
            damaged=why,
        )

    def _read(self, job_id: str, queue: str) -> DeadLetterEntry:
        """The entry of one listed id; a damaged one when the job cannot be read. Raises
        NoSuchJobError when the job is gone."""
        try:
            job = self._fetch(job_id)
        except NoSuchJobError:
            raise
        except _REDIS_DOWN:
            raise
        except Exception as exc:  # any parse failure of data we did not write
            return self._damaged(job_id, queue, exc)
        try:
            return self.entry(job)
        except _REDIS_DOWN:
            raise
        except Exception as exc:
            return self._damaged(job_id, queue, exc)

    def ids(self, queue: str | None = None) -> list[tuple[str, str]]:
        """(queue, job id) of every dead letter, oldest first per queue."""
        return [(r.name, job_id) for r in self._registries(queue) for job_id in r.get_job_ids()]

    def list(self, queue: str | None = None) -> list[DeadLetterEntry]:
        """Every dead letter (of ``queue``, or of all queues); raises :class:`UnknownQueue`
        for a queue that is not this project's."""
        entries = []
        for name, job_id in self.ids(queue):
            try:
                entries.append(self._read(job_id, name))
            except NoSuchJobError:
                continue  # expired between the listing and the fetch
        return entries

    def _home(self, job_id: str) -> str | None:
        """The queue of ours whose dead letters hold ``job_id``, if any."""
        for name in self.keys.all_queues:
            if self.connection.zscore(self._registry(name).key, job_id) is not None:
                return name
        return None

    def show(self, job_id: str) -> tuple[DeadLetterEntry, str]:
        """A dead letter and the full failure text RQ stored. Like :meth:`replay`, raises
        :class:`NotADeadLetter` for a job that is not one (a queued or delivered job has no
        failure to show); a dead letter that cannot be read is shown as damaged."""
        try:
            job = self._dead_job(job_id)
        except (NoSuchJobError, NotADeadLetter, *_REDIS_DOWN):
            raise
        except Exception as exc:
            home = self._home(job_id)
            if home is None:
                raise NotADeadLetter(f"{job_id} cannot be read and is not a dead letter") from None
            return self._damaged(job_id, home, exc), ""
        if job.origin not in self.keys.all_queues:
            raise NotADeadLetter(f"{job_id} belongs to another application's queue")
        latest = job.latest_result()
        return self.entry(job), (latest.exc_string if latest else "") or ""

    def _dead_job(self, job_id: str) -> Job:
        """The job, if it is a dead letter (in its queue's FailedJobRegistry) of ours."""
        job = self._fetch(job_id)
        if job.origin not in self.keys.all_queues:
            raise NotADeadLetter(f"{job_id} belongs to another application's queue")
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
        """Delete one dead letter for good (never a job that is not one); a damaged one,
        that cannot be read, is removed from its registry and deleted."""
        try:
            job = self._dead_job(job_id)
        except (NoSuchJobError, NotADeadLetter, *_REDIS_DOWN):
            raise
        except Exception:
            home = self._home(job_id)
            if home is None:
                raise NotADeadLetter(f"{job_id} cannot be read and is not a dead letter") from None
            with self.connection.pipeline(transaction=True) as pipe:
                pipe.zrem(self._registry(home).key, job_id)
                pipe.delete(Job.key_for(job_id), Result.get_key(job_id))  # type: ignore[no-untyped-call]
                pipe.execute()
            return f"purged {job_id} (damaged) from {home}"
        self._registry(job.origin).remove(job, delete_job=True)
        return f"purged {job_id} from {job.origin}"
