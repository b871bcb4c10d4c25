"""The job contract between producer and worker, and the enqueueing of jobs.

One producer call is one RQ job whose only positional argument is the normalised operation
(a JSON-compatible dict). The function path says what the operation is; the worker owns the
functions, the producer only names them (it never imports the worker):

======================================  ==========================  =========================
function                                argument                    queue
======================================  ==========================  =========================
``worker.jobs.track_operation``          v2 person operation         ``<prefix>-track-<p>``
``worker.jobs.track_anonymous_event``    v1 ``/api/v1/events`` body  ``<prefix>-track-<p>``
``worker.jobs.send_<kind>``              App API send body, plus     ``<prefix>-transactional``
                                         ``idempotency_key=`` kwarg
======================================  ==========================  =========================

Jobs are RQ jobs (the hash ``Job.to_dict`` gives, read back by ``Job.fetch``), written by
one Lua script (``lua/enqueue.lua``) that does what ``Queue.enqueue_job`` does, so a call, or
a chunk of a ``pipeline()`` block (:mod:`producer.chunks`), is written completely or not at
all, in one round trip. (RQ's own enqueue sends six commands in a MULTI/EXEC; measured, that
cost about 3x a PING per call.) Each job's share of the request is packed into Redis's wire
format once, when it is prepared, so writing a chunk only joins bytes.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

import redis
from rq import Queue
from rq.job import Job, JobStatus

from producer.errors import EnqueueError, ProducerUnavailable, RedisFull, ValidationError
from producer.ids import partition_for
from producer.keys import Keys
from producer.operations import TrackOp
from producer.sends import SendOp
from producer.serializer import SafeSerializer
from producer.wire import AnswerLost, NotSent, bulk, command, request

__all__ = [
    "ANONYMOUS_EVENT_FUNC",
    "SEND_KINDS",
    "TRACK_OPERATION_FUNC",
    "Enqueuer",
    "JobSpec",
    "PreparedJob",
    "job_fields",
    "rq_timestamp",
    "send_func",
    "send_job",
    "track_job",
]

TRACK_OPERATION_FUNC: Final = "worker.jobs.track_operation"
ANONYMOUS_EVENT_FUNC: Final = "worker.jobs.track_anonymous_event"
#: The App API send kinds the producer enqueues (``APIClient.send_<kind>``); each is the job
#: function ``worker.jobs.send_<kind>``, and workers run no other send function.
SEND_KINDS: Final = ("email", "push", "sms", "whatsapp", "inbox_message", "in_app")
_SEND_FUNC_PREFIX: Final = "worker.jobs.send_"
_QUEUES_KEY: Final = Queue.redis_queues_keys
_QUEUE_KEY_PREFIX: Final = Queue.redis_queue_namespace_prefix
_JOB_KEY_PREFIX: Final = Job.redis_job_namespace_prefix
#: RQ's default job timeout; the worker enforces its own HTTP timeouts well inside it.
JOB_TIMEOUT_S: Final = 180
#: RQ reads job data compressed or not; compressing a small operation costs more time than it
#: saves memory.
_COMPRESS_OVER_BYTES: Final = 1024
_ENQUEUE_LUA: Final = (resources.files("producer") / "lua" / "enqueue.lua").read_text()
#: A job's KEYS entry (rq:job:<32 hex digits>) as a RESP bulk string, id left to fill in.
_JOB_KEY: Final = b"$%d\r\n%b%%b\r\n" % (len(_JOB_KEY_PREFIX) + 32, _JOB_KEY_PREFIX.encode())
#: A job's five ARGV entries of enqueue.lua: id (32 hex digits), queue number, created_at,
#: data, description.
_JOB_ARGS: Final = b"$32\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"


def send_func(kind: str) -> str:
    """Function path of the job that performs a ``kind`` send (``worker.jobs.send_email``)."""
    return f"{_SEND_FUNC_PREFIX}{kind}"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything needed to create one RQ job."""

    func: str
    operation: dict[str, Any]
    queue: str
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def track_job(op: TrackOp, keys: Keys) -> JobSpec:
    """The job of a Track operation, on the person's partition."""
    partition = partition_for(op.route[0], op.route[1], keys.partitions)
    func = ANONYMOUS_EVENT_FUNC if op.anonymous else TRACK_OPERATION_FUNC
    return JobSpec(func, op.operation, keys.track_queue(partition), op.description)


def send_job(op: SendOp, idempotency_key: str, keys: Keys) -> JobSpec:
    """The job of a transactional send, carrying its idempotency key."""
    return JobSpec(
        send_func(op.kind),
        op.payload,
        keys.transactional_queue,
        op.description,
        {"idempotency_key": idempotency_key},
    )


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A job ready to be written: its id and queue, and its share of the Lua call already in
    Redis's wire format (``key``: its KEYS entry, ``args``: its five ARGV entries)."""

    id: str
    queue: str
    key: bytes
    args: bytes

    @property
    def size(self) -> int:
        """Bytes this job adds to a write request."""
        return len(self.key) + len(self.args)


def job_fields(spec: JobSpec, created_at: str) -> dict[str, Any]:
    """The hash RQ 3 writes for a freshly enqueued job without dependencies or callbacks.

    RQ also writes eight empty strings (callback names, started/ended/heartbeat times, worker
    name, group id) that its loader treats exactly like absent fields; we leave them out.

    Built directly rather than through ``Job.create(...).to_dict()`` because that costs more
    than the Redis round trip itself on the hot path; ``tests/unit/test_job_contract.py``
    checks that both give the same hash, so an RQ upgrade that changes it fails the tests.
    """
    data = SafeSerializer.dumps((spec.func, None, (spec.operation,), spec.kwargs))
    if len(data) > _COMPRESS_OVER_BYTES:
        data = zlib.compress(data, 1)
    return {
        "created_at": created_at,
        "data": data,
        "origin": spec.queue,
        "description": spec.description,
        "enqueued_at": created_at,
        "timeout": JOB_TIMEOUT_S,
        "status": JobStatus.QUEUED.value,
    }


_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def rq_timestamp() -> str:
    """``rq.utils.utcformat(now())`` (``2026-11-29T03:41:45.123456Z``).

    Formats the date and time once per second and adds the microseconds: a tenth of the cost
    of formatting a ``datetime`` on every call of a bulk pipeline (measured, 0.3 vs 3.7 us).
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
    that sorts the chunk's ids into written / not written / unknown (``producer.wire`` tells
    a request that never left from one whose answer was lost). Writing many chunks is
    :class:`producer.pipeline.ChunkedWriter`'s job.
    """

    def __init__(self, connection: redis.Redis, timeout_s: float) -> None:
        self.connection = connection
        self.timeout_s = timeout_s
        self._sha = hashlib.sha1(_ENQUEUE_LUA.encode()).hexdigest().encode()
        # Queue name -> its number in the script's KEYS (1-based): each job's packed
        # arguments name its queue by number, so every write passes every queue seen so far
        # (at most CIO_PARTITIONS + 1 of them), registered once.
        self._queues: dict[str, int] = {}
        self._queues_lock = threading.Lock()

    def _queue_number(self, queue: str) -> int:
        number = self._queues.get(queue)
        if number is None:
            with self._queues_lock:
                number = self._queues.setdefault(queue, len(self._queues) + 1)
        return number

    def prepare(self, spec: JobSpec) -> PreparedJob:
        """Assign the job its id and serialise it (raises ValidationError for foreign types)."""
        try:
            fields = job_fields(spec, rq_timestamp())
        except TypeError as exc:
            raise ValidationError("operation", str(exc)) from None
        # 128 random bits, as uuid4 gives, at a third of its cost on this hot path.
        job_id = os.urandom(16).hex()
        number = str(self._queue_number(spec.queue)).encode()
        created: bytes = fields["created_at"].encode()
        data: bytes = fields["data"]
        description: bytes = fields["description"].encode()
        args = _JOB_ARGS % (
            job_id.encode(),
            len(number),
            number,
            len(created),
            created,
            len(data),
            data,
            len(description),
            description,
        )
        return PreparedJob(job_id, spec.queue, _JOB_KEY % job_id.encode(), args)

    def write(self, jobs: Sequence[PreparedJob]) -> None:
        """Write ``jobs`` and enqueue them: all or none, in one round trip."""
        if not jobs:
            return
        queues = list(self._queues)
        body = [
            bulk(_QUEUES_KEY.encode()),
            *(bulk((_QUEUE_KEY_PREFIX + name).encode()) for name in queues),
            *(job.key for job in jobs),
            bulk(str(len(queues)).encode()),
            *(bulk(name.encode()) for name in queues),
            bulk(str(JOB_TIMEOUT_S).encode()),
            bulk(JobStatus.QUEUED.value.encode()),
            *(job.args for job in jobs),
        ]
        # EVALSHA sha numkeys, the keys (1 + q + n), the arguments (q + 3 + 5 per job).
        count = 7 + 2 * len(queues) + 6 * len(jobs)
        numkeys = str(1 + len(queues) + len(jobs)).encode()
        try:
            try:
                # EVALSHA: the script travels once per server, not with every chunk.
                head = command(count, b"EVALSHA", self._sha, numkeys)
                self._request(b"".join([head, *body]), jobs)
            except redis.exceptions.NoScriptError:
                # First use on this server (or after SCRIPT FLUSH): EVAL also caches it.
                head = command(count, b"EVAL", _ENQUEUE_LUA.encode(), numkeys)
                self._request(b"".join([head, *body]), jobs)
        except redis.exceptions.OutOfMemoryError:
            # The script's first write was refused, so it wrote nothing (Redis checks memory
            # before a script's first write only, which keeps the chunk all-or-nothing).
            raise RedisFull(
                "Redis is full (maxmemory reached): workers keep delivering, which frees "
                "memory; retry later, more slowly",
                not_written_ids=[job.id for job in jobs],
            ) from None
        except redis.exceptions.ReadOnlyError:
            # A replica (after a failover) refuses the first write the same way.
            raise ProducerUnavailable(
                "Redis is a read-only replica (a failover in progress?)",
                not_written_ids=[job.id for job in jobs],
            ) from None
        except NotSent as exc:
            raise ProducerUnavailable(
                f"Redis could not be reached ({exc})", not_written_ids=[job.id for job in jobs]
            ) from None
        except AnswerLost as exc:
            raise ProducerUnavailable(
                f"Redis did not answer within {self.timeout_s} s ({exc})",
                unknown_ids=[job.id for job in jobs],
            ) from None
        except redis.exceptions.ResponseError as exc:
            # Any other error reply: a script that fails half-way keeps its earlier writes.
            raise EnqueueError(
                f"Redis refused the write ({type(exc).__name__})",
                unknown_ids=[job.id for job in jobs],
            ) from None

    def _request(self, packed: bytes, jobs: Sequence[PreparedJob]) -> None:
        """Send one write and read its answer (``producer.replication`` also waits for
        replicas here)."""
        request(self.connection, packed)

    def enqueue(self, spec: JobSpec) -> str:
        """Prepare and write one job; returns its id."""
        job = self.prepare(spec)
        self.write([job])
        return job.id
