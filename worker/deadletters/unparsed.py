"""Dead letters for jobs whose hash RQ cannot parse (a damaged field, or data no one can read).

RQ's own failure path (``FailedJobRegistry.add``) re-saves the whole job from a parsed
``Job``, which such a job cannot give. :func:`add_unparsed` writes what a person and
``cio-pipeline dlq`` need straight into the hash instead: ``status`` failed, ``ended_at``,
``meta`` holding only the :class:`DeadLetterRecord` (the old meta may be what is damaged),
the failure text as ``exc_info``, and the job's id in the queue's FailedJobRegistry with
the dead-letter TTL. The damaged fields stay as they were, for whoever looks into it.
"""

from __future__ import annotations

import time

import redis
from rq.job import JobStatus
from rq.registry import FailedJobRegistry

from cio_pipeline.producer.jobs import rq_timestamp
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.deadletters.record import META_KEY, DeadLetterRecord

__all__ = ["add_unparsed", "unreadable_record"]

_JOB_PREFIX = "rq:job:"


def unreadable_record(reason: str, queue: str) -> DeadLetterRecord:
    """The record of a job no reader could read: operation ``unknown``, no attempt made."""
    now = time.time()
    return DeadLetterRecord(
        reason=reason,
        operation="unknown",
        attempts=0,
        first_attempt_at=now,
        last_attempt_at=now,
        queue=queue,
    )


def add_unparsed(
    pipe: redis.client.Pipeline,
    connection: redis.Redis,
    queue: str,
    job_id: str,
    record: DeadLetterRecord,
    ttl_s: int,
) -> None:
    """Queue the writes that fail ``job_id`` into ``queue``'s FailedJobRegistry on ``pipe``."""
    key = _JOB_PREFIX + job_id
    pipe.hset(
        key,
        mapping={
            "status": JobStatus.FAILED.value,
            "ended_at": rq_timestamp(),
            "origin": queue,
            "meta": SafeSerializer.dumps({META_KEY: record.to_meta()}),
            "exc_info": record.text(),
        },
    )
    pipe.expire(key, ttl_s)
    registry = FailedJobRegistry(queue, connection=connection, serializer=SafeSerializer)
    pipe.zadd(registry.key, {job_id: time.time() + ttl_s})
