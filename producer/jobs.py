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
one Lua script (``lua/enqueue.lua``) that does what ``Queue.enqueue_job`` does, so a call, or a
whole ``pipeline()`` block, is written completely or not at all, in one round trip. (RQ's own
enqueue sends six commands in a MULTI/EXEC; measured, that cost about 3x a PING per call.)
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import now

from producer.errors import ProducerUnavailable, RedisFull, ValidationError
from producer.ids import partition_for
from producer.keys import Keys
from producer.operations import TrackOp
from producer.sends import SendOp
from producer.serializer import SafeSerializer

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
    """A job ready to be written: its id, queue name and RQ hash fields."""

    id: str
    queue: str
    fields: dict[str, Any]


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


def rq_timestamp() -> str:
    """``rq.utils.utcformat(now())`` (``2026-11-29T03:41:45.123456Z``), without strftime."""
    return now().isoformat(timespec="microseconds")[:-6] + "Z"


class Enqueuer:
    """Prepares RQ jobs from :class:`JobSpec` and writes them atomically in one round trip."""

    def __init__(self, connection: redis.Redis, timeout_s: float) -> None:
        self.connection = connection
        self.timeout_s = timeout_s
        self._sha = hashlib.sha1(_ENQUEUE_LUA.encode()).hexdigest()

    def prepare(self, spec: JobSpec) -> PreparedJob:
        """Assign the job its id and serialise it (raises ValidationError for foreign types)."""
        try:
            fields = job_fields(spec, rq_timestamp())
        except TypeError as exc:
            raise ValidationError("operation", str(exc)) from None
        # 128 random bits, as uuid4 gives, at a third of its cost on this hot path.
        return PreparedJob(os.urandom(16).hex(), spec.queue, fields)

    def write(self, jobs: Sequence[PreparedJob]) -> None:
        """Write ``jobs`` and enqueue them: all or none, in one round trip."""
        if not jobs:
            return
        keys: list[str] = [_QUEUES_KEY]
        args: list[Any] = []
        for job in jobs:
            keys.append(_JOB_KEY_PREFIX + job.id)
            keys.append(_QUEUE_KEY_PREFIX + job.queue)
            args.append(job.id)
            args.append(2 * len(job.fields))
            for item in job.fields.items():
                args.extend(item)
        try:
            try:
                # EVALSHA directly: redis-py's Script wrapper adds a good part of a Redis
                # round trip on this hot path (measured).
                self.connection.evalsha(self._sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                # First use on this server (or after SCRIPT FLUSH): EVAL also caches it.
                self.connection.eval(_ENQUEUE_LUA, len(keys), *keys, *args)
        except redis.exceptions.OutOfMemoryError:
            # The script's first write was refused, so it wrote nothing (Redis checks memory
            # before a script's first write only, which keeps the block all-or-nothing).
            raise RedisFull(
                f"Redis is full (maxmemory reached); {len(jobs)} job(s) not enqueued: "
                "workers keep delivering, which frees memory; retry later, more slowly"
            ) from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise ProducerUnavailable(
                f"Redis did not answer within {self.timeout_s} s ({type(exc).__name__}); "
                f"{len(jobs)} job(s) not enqueued"
            ) from None

    def enqueue(self, spec: JobSpec) -> str:
        """Prepare and write one job; returns its id."""
        job = self.prepare(spec)
        self.write([job])
        return job.id
