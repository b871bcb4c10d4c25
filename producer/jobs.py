"""The job contract between producer and worker, and the enqueueing of jobs.

One producer call is one RQ job whose only positional argument is the normalised operation
(a JSON-compatible dict). The function path says what the operation is; the worker owns the
functions, the producer only names them (it never imports the worker):

- ``cio_pipeline.worker.jobs.track_operation``: a v2 person operation, on
  ``<prefix>-track-<p>``;
- ``cio_pipeline.worker.jobs.track_anonymous_event``: a v1 ``/api/v1/events`` body, on
  ``<prefix>-track-<p>``;
- ``cio_pipeline.worker.jobs.send_<kind>``: an App API send body and an ``idempotency_key=``
  keyword, on ``<prefix>-transactional``.

Jobs are RQ jobs (the hash ``Job.to_dict`` gives, read back by ``Job.fetch``), written by
one Lua script (``lua/enqueue.lua``) that does what ``Queue.enqueue_job`` does, so a call, or
a chunk of a ``pipeline()`` block (:mod:`cio_pipeline.producer.chunks`), is written completely or
not at all, in one round trip (:mod:`cio_pipeline.producer.writes`). (RQ's own enqueue sends six
commands in a MULTI/EXEC, about three times the cost: docs/performance.md.)
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis
from rq.job import JobStatus

from cio_pipeline.producer.errors import EnqueueError, ValidationError
from cio_pipeline.producer.ids import partition_for
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import EraseKeys, job_subjects, route_subjects
from cio_pipeline.producer.operations import TrackOp
from cio_pipeline.producer.sends import SendOp
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.producer.wire import bulk
from cio_pipeline.producer.writes import (
    JOB_ARGS,
    JOB_KEY,
    JOB_TIMEOUT_S,
    EraseKeyChanged,
    PreparedJob,
    WriteInFlight,
    send_write,
    settle_write,
)

__all__ = [
    "ANONYMOUS_EVENT_FUNC",
    "SEND_KINDS",
    "TRACK_OPERATION_FUNC",
    "Enqueuer",
    "JobSpec",
    "PreparedJob",
    "WriteInFlight",
    "job_data",
    "job_fields",
    "rq_timestamp",
    "send_func",
    "send_job",
    "track_job",
]

TRACK_OPERATION_FUNC: Final = "cio_pipeline.worker.jobs.track_operation"
ANONYMOUS_EVENT_FUNC: Final = "cio_pipeline.worker.jobs.track_anonymous_event"
#: The App API send kinds the producer enqueues (``APIClient.send_<kind>``); each is the job
#: function ``cio_pipeline.worker.jobs.send_<kind>``, and workers run no other send function.
SEND_KINDS: Final = ("email", "push", "sms", "whatsapp", "inbox_message", "in_app")
_SEND_FUNC_PREFIX: Final = "cio_pipeline.worker.jobs.send_"
#: RQ reads job data compressed or not; compressing a small operation costs more time than it
#: saves memory.
_COMPRESS_OVER_BYTES: Final = 1024
_QUEUED: Final = JobStatus.QUEUED.value
#: A job's marker count as its packed ARGV entry (0 to 7 made once).
_mark_counts: Final = [bulk(b"%d" % n) for n in range(8)]


def send_func(kind: str) -> str:
    """Function path of the job that performs a ``kind`` send
    (``cio_pipeline.worker.jobs.send_email``)."""
    return f"{_SEND_FUNC_PREFIX}{kind}"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything needed to create one RQ job."""

    func: str
    operation: dict[str, Any]
    queue: str
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    subjects: list[str] | None = None
    """The people it concerns, for the erase check (None: read from the operation)."""


def track_job(op: TrackOp, keys: Keys) -> JobSpec:
    """The job of a Track operation, on the person's partition."""
    partition = partition_for(op.route[0], op.route[1], keys.partitions)
    func = ANONYMOUS_EVENT_FUNC if op.anonymous else TRACK_OPERATION_FUNC
    return JobSpec(
        func,
        op.operation,
        keys.track_queue(partition),
        op.description,
        subjects=route_subjects(op.route, op.operation),
    )


def send_job(op: SendOp, idempotency_key: str, keys: Keys) -> JobSpec:
    """The job of a transactional send, carrying its idempotency key."""
    return JobSpec(
        send_func(op.kind),
        op.payload,
        keys.transactional_queue,
        op.description,
        {"idempotency_key": idempotency_key},
    )


def job_fields(spec: JobSpec, created_at: str) -> dict[str, Any]:
    """The hash RQ 3 writes for a freshly enqueued job without dependencies or callbacks.

    RQ also writes eight empty strings (callback names, started/ended/heartbeat times, worker
    name, group id) that its loader treats exactly like absent fields; we leave them out.

    Built directly rather than through ``Job.create(...).to_dict()`` because that costs more
    than the Redis round trip itself on the hot path; ``tests/unit/test_job_contract.py``
    checks that both give the same hash, so an RQ upgrade that changes it fails the tests.
    """
    return {
        "created_at": created_at,
        "data": job_data(spec),
        "origin": spec.queue,
        "description": spec.description,
        "enqueued_at": created_at,
        "timeout": JOB_TIMEOUT_S,
        "status": _QUEUED,
    }


def job_data(spec: JobSpec) -> bytes:
    """The job hash's ``data``: RQ's pickled (func, instance, args, kwargs), compressed when
    large (raises ``TypeError`` for anything but primitive values)."""
    return _pickled(spec.func, spec.operation, spec.kwargs)


def _pickled(func: str, operation: dict[str, Any], kwargs: dict[str, Any]) -> bytes:
    data = SafeSerializer.dumps((func, None, (operation,), kwargs))
    if len(data) > _COMPRESS_OVER_BYTES:
        data = zlib.compress(data, 1)
    return data


_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def rq_timestamp() -> str:
    """``rq.utils.utcformat(now())`` (``2026-11-29T03:41:45.123456Z``).

    Formats the date and time once per second and adds the microseconds: a tenth of the cost
    of formatting a ``datetime`` on every call of a bulk pipeline (docs/performance.md).
    """
    global _last_second
    stamp = time.time()
    second = int(stamp)
    cached_second, prefix = _last_second
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, prefix)  # one tuple: threads never see half an update
    return f"{prefix}.{int((stamp - second) * 1_000_000):06d}Z"


class Enqueuer:
    """Prepares RQ jobs from :class:`JobSpec` and writes a chunk of them in one Lua call.

    A chunk is written completely or not at all; a failure raises an :class:`EnqueueError`
    that sorts the chunk's ids into written / not written / unknown
    (:mod:`cio_pipeline.producer.writes`). Writing many chunks is
    :class:`cio_pipeline.producer.pipeline.ChunkedWriter`'s job.

    Each job carries the erase markers of the people it concerns (keyed hashes of their
    identifiers, :mod:`cio_pipeline.producer.marks`), checked by the write script itself: a
    job of an erased person raises :class:`PersonErased` with nothing written, at no extra
    round trip (the erase key is read once per enqueuer).
    """

    def __init__(self, connection: redis.Redis, timeout_s: float, keys: Keys | None = None) -> None:
        self.connection = connection
        self.timeout_s = timeout_s
        self.keys = keys if keys is not None else Keys()
        self.erase_keys = EraseKeys(connection, self.keys)
        # A marker key's RESP bulk header and the key's prefix, made once: the mark (32 hex
        # digits) completes it.
        prefix = self.keys.erased("").encode()
        self._mark_head = b"$%d\r\n%b" % (len(prefix) + 32, prefix)
        # Queue name -> its number in the script's KEYS (1-based), packed as the job's ARGV
        # entry: each job names its queue by number, so every write passes every queue seen
        # so far (at most CIO_PARTITIONS + 1 of them), registered once.
        self._queues: dict[str, bytes] = {}
        self._queues_lock = threading.Lock()

    def _queue_arg(self, queue: str) -> bytes:
        arg = self._queues.get(queue)
        if arg is None:
            with self._queues_lock:
                arg = self._queues.setdefault(queue, bulk(b"%d" % (len(self._queues) + 1)))
        return arg

    def prepare(self, spec: JobSpec, *, check_erased: bool = True) -> PreparedJob:
        """Assign the job its id and serialise it (raises ValidationError for foreign types).
        ``check_erased=False`` leaves out the erase markers: only an erase's own last
        operation (:mod:`cio_pipeline.producer.erase`) is written so."""
        return self.prepare_parts(
            spec.func,
            spec.operation,
            spec.queue,
            spec.description,
            spec.kwargs,
            subjects=spec.subjects if check_erased else [],
        )

    def prepare_parts(
        self,
        func: str,
        operation: dict[str, Any],
        queue: str,
        description: str,
        kwargs: dict[str, Any] | None = None,
        subjects: list[str] | None = None,
    ) -> PreparedJob:
        """:meth:`prepare` of the :class:`JobSpec` these fields make, without building it
        (the bulk hot path). ``subjects``: the people to check for erasure (default: those
        the operation names)."""
        try:
            data = _pickled(func, operation, {} if kwargs is None else kwargs)
        except TypeError as exc:
            raise ValidationError("operation", str(exc)) from None
        # 128 random bits, as uuid4 gives, at a third of its cost on this hot path.
        job_id = os.urandom(16).hex()
        try:
            erase_key = self.erase_keys.get()
        except EnqueueError as exc:  # the first call reads the key: name the job it stopped
            raise exc.regroup(not_written_ids=[job_id]) from None
        if subjects is None:
            subjects = job_subjects(func, operation)
        head = self._mark_head
        if len(subjects) == 1:
            marks = b"%b%b\r\n" % (head, erase_key.mark(subjects[0]).encode())
        else:
            marks = b"".join(b"%b%b\r\n" % (head, erase_key.mark(s).encode()) for s in subjects)
        raw_id = job_id.encode()
        created = rq_timestamp().encode()
        encoded = description.encode()
        args = JOB_ARGS % (
            raw_id,
            self._queue_arg(queue),
            len(created),
            created,
            len(data),
            data,
            len(encoded),
            encoded,
            _mark_counts[len(subjects)] if len(subjects) < 8 else bulk(b"%d" % len(subjects)),
        )
        return PreparedJob(job_id, JOB_KEY % raw_id + marks, args, len(subjects))

    def queue_names(self) -> list[str]:
        """Every queue seen so far, in the order of their numbers in a write."""
        return list(self._queues)

    def send(self, jobs: Sequence[PreparedJob]) -> WriteInFlight:
        """Send the request that writes ``jobs`` (all or none) without waiting for its answer
        (raises :class:`ProducerUnavailable`, not written, if it could not be sent)."""
        return send_write(self.connection, self.queue_names(), jobs, self.erase())

    def erase(self) -> tuple[str, str, str]:
        """The erase key's Redis key, the erasing flag's, and the key id, as a write passes
        them to the script."""
        return self.keys.erase_key, self.keys.erasing, self.erase_keys.get().key_id

    def settle(self, write: WriteInFlight) -> None:
        """Read the answer of a write :meth:`send` sent; raise an :class:`EnqueueError` that
        sorts its ids unless it is certainly written."""
        try:
            settle_write(self.connection, write, self.timeout_s)
        except EraseKeyChanged:
            self.erase_keys.forget()
            raise

    def write(self, jobs: Sequence[PreparedJob]) -> None:
        """Write ``jobs`` and enqueue them: all or none, in one round trip."""
        if jobs:
            self.settle(self.send(jobs))

    def enqueue(self, spec: JobSpec) -> str:
        """Prepare and write one job; returns its id. A job refused because Redis's erase
        key changed (nothing written) is made again with the new key and written once more."""
        job = self.prepare(spec)
        try:
            self.write([job])
        except EraseKeyChanged:
            job = self.prepare(spec)
            self.write([job])
        return job.id
