"""Jobs RQ's loop cannot read: dead-lettered as unreadable, never a reason for a worker to quit.

RQ reads a dequeued job with ``Job.fetch``; a field it cannot parse (``timeout``,
``created_at``, ``ttl``, ``dependency_ids``, ...) raises out of its loop, which then quits
with exit status 0, and every restart meets the same job. :func:`read_dequeued` reads the
job's hash itself (one ``HGETALL``, as ``Job.fetch`` does), checks it before RQ parses it:
the data's size before and after decompression (RQ inflates it unbounded), then each field
RQ parses, by RQ's own parsers, then the types RQ relies on later (a ``retry_intervals`` of
strings parses, and fails at the retry). A job that fails any check is dead-lettered as
unreadable (:mod:`cio_pipeline.worker.deadletters.unparsed`), with the field in the reason;
one whose key is not even a hash is moved aside to ``<prefix>:set-aside``. Either way it
leaves the intermediate list, and the worker takes the next job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import parse_timeout, str_to_date

from cio_pipeline.producer.compat import rq as rq_compat
from cio_pipeline.producer.serializer import DataRefused, inflate
from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.deadletters.unparsed import add_unparsed, unreadable_record
from cio_pipeline.worker.runner import context

__all__ = ["read_dequeued"]

log = get_logger("cio.worker")

_JOB_PREFIX: Final = "rq:job:"


def _int(value: bytes) -> object:
    return int(value)


def _int_list(value: bytes) -> object:
    parsed = json.loads(value)
    if not isinstance(parsed, list) or not all(type(item) is int and item >= 0 for item in parsed):
        raise ValueError("not a list of whole seconds")
    return parsed


def _id_list(value: bytes) -> object:
    parsed = json.loads(value)
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise ValueError("not a list of job ids")
    return parsed


def _timeout(value: bytes) -> object:
    seconds = parse_timeout(value.decode())
    if seconds is None or (seconds <= 0 and seconds != -1):
        raise ValueError("not a positive number of seconds (or -1)")
    return seconds


def _status(value: bytes) -> object:
    return JobStatus(value.decode())


#: Each field RQ parses when it reads a job (``Job.restore``), with a parser that fails where
#: RQ's would, or where RQ would fail later with the parsed value.
_FIELDS: Final[Mapping[str, Callable[[bytes], object]]] = {
    "created_at": str_to_date,
    "enqueued_at": str_to_date,
    "started_at": str_to_date,
    "ended_at": str_to_date,
    "last_heartbeat": str_to_date,
    "timeout": _timeout,
    "result_ttl": _int,
    "failure_ttl": _int,
    "ttl": _int,
    "number_of_retries": _int,
    "retries_left": _int,
    "repeats_left": _int,
    "success_callback_timeout": _int,
    "failure_callback_timeout": _int,
    "stopped_callback_timeout": _int,
    "allow_dependency_failures": _int,
    "enqueue_at_front": _int,
    "enqueue_at_front_on_retry": _int,
    "dependency_ids": _id_list,
    "retry_intervals": _int_list,
    "status": _status,
}


#: Fields RQ parses whenever they are present, even empty.
_EVEN_EMPTY: Final = frozenset(
    {
        "success_callback_timeout",
        "failure_callback_timeout",
        "stopped_callback_timeout",
        "enqueue_at_front",
    }
)


def problem(raw: Mapping[bytes, bytes]) -> str | None:
    """Why RQ cannot read the job hash ``raw`` (or must not: unbounded data), or None."""
    data = raw.get(b"data")
    if not data:
        return "the job has no data"
    try:
        inflate(data)
    except DataRefused as exc:
        return f"unreadable job data: {exc}"
    for name, parse in _FIELDS.items():
        value = raw.get(name.encode())
        if value is None or (not value and name not in _EVEN_EMPTY):
            continue  # RQ skips a missing (or for most fields an empty) field
        try:
            parse(value)
        except Exception as exc:  # RQ's parsers raise anything from ValueError to KeyError
            return f"damaged job field {name!r} ({type(exc).__name__})"
    return None


def read_dequeued(
    connection: redis.Redis,
    queue: Queue,
    job_id: str,
    job_class: type[Job],
    serializer: Any,
) -> Job | None:
    """The job ``job_id`` that was just moved to ``queue``'s intermediate list, read as RQ's
    ``Job.fetch`` reads it; None when it is gone, or was unreadable and has been
    dead-lettered (or moved aside): the caller then takes the next job."""
    key = _JOB_PREFIX + job_id
    try:
        raw = cast(dict[bytes, bytes], connection.hgetall(key))
    except redis.ResponseError:  # WRONGTYPE: not a hash at all
        _move_aside(connection, queue, job_id, "the job's key is not a job hash")
        return None
    if not raw:
        return None  # gone (RQ passes over these silently too)
    reason = problem(raw)
    if reason is None:
        try:
            job = rq_compat.restore_job(job_class, job_id, connection, serializer, raw)
        except Exception as exc:  # whatever RQ's reader raises
            reason = f"RQ cannot read the job ({type(exc).__name__})"
        else:
            return job
    _dead_letter(connection, queue, job_id, reason)
    return None


def _dead_letter(connection: redis.Redis, queue: Queue, job_id: str, reason: str) -> None:
    ctx = context.current()
    record = unreadable_record(reason, queue.name)
    try:
        with connection.pipeline() as pipe:
            pipe.lrem(queue.intermediate_queue_key, 1, job_id)
            add_unparsed(pipe, connection, queue.name, job_id, record, ctx.dead_letter_ttl_s)
            pipe.execute()
    except redis.ResponseError:  # the key changed type under us
        _move_aside(connection, queue, job_id, reason)
        return
    log.error("job_unreadable", job_id=job_id, queue=queue.name, reason=reason)


def _move_aside(connection: redis.Redis, queue: Queue, job_id: str, reason: str) -> None:
    with connection.pipeline() as pipe:
        pipe.lrem(queue.intermediate_queue_key, 1, job_id)
        pipe.rpush(context.current().keys.set_aside, job_id)
        pipe.execute()
    log.error("job_set_aside", job_id=job_id, queue=queue.name, reason=reason)
