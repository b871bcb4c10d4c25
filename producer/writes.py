"""The write request: a chunk of prepared jobs as one ``enqueue.lua`` call, and what its
answer (or its failure) means for each job.

A job's share of the request (its KEYS entry and its five ARGV entries) is packed into
Redis's wire format once, when it is prepared (:class:`PreparedJob`), so sending a chunk only
joins bytes. Sending and reading are two steps (:func:`send_write`, :func:`settle_write`) so
that the client can make the next chunk's calls while Redis runs this one. A failure raises an
:class:`EnqueueError` that sorts the chunk's ids into not written (never sent, or refused
before the script's first write) or unknown (sent, answer lost or the script failed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import redis
from rq import Queue
from rq.job import Job, JobStatus

from cio_pipeline.producer.errors import EnqueueError, ProducerUnavailable, RedisFull
from cio_pipeline.producer.wire import AnswerLost, NotSent, Sent, bulk, command, send

__all__ = ["JOB_TIMEOUT_S", "PreparedJob", "WriteInFlight", "send_write", "settle_write"]

#: RQ's default job timeout; the worker enforces its own HTTP timeouts well inside it.
JOB_TIMEOUT_S: Final = 180
_ENQUEUE_LUA: Final = (resources.files("cio_pipeline.producer") / "lua" / "enqueue.lua").read_text()
_ENQUEUE_SHA: Final = hashlib.sha1(_ENQUEUE_LUA.encode()).hexdigest().encode()
_QUEUES_KEY: Final = bulk(Queue.redis_queues_keys.encode())
_QUEUE_KEY_PREFIX: Final = Queue.redis_queue_namespace_prefix
#: The chunk's shared ARGV after the queue names: every job's "timeout" and "status".
_SHARED_ARGS: Final = bulk(str(JOB_TIMEOUT_S).encode()) + bulk(JobStatus.QUEUED.value.encode())


@dataclass(frozen=True, slots=True)
class PreparedJob:
    """A job ready to be written: its id, and its share of the Lua call already in Redis's
    wire format (``key``: its KEYS entry, ``args``: its five ARGV entries)."""

    id: str
    key: bytes
    args: bytes

    @property
    def size(self) -> int:
        """Bytes this job adds to a write request."""
        return len(self.key) + len(self.args)


#: A job's KEYS entry (rq:job:<32 hex digits>) as a RESP bulk string, id left to fill in.
JOB_KEY: Final = b"$%d\r\n%b%%b\r\n" % (
    len(Job.redis_job_namespace_prefix) + 32,
    Job.redis_job_namespace_prefix.encode(),
)
#: A job's five ARGV entries of enqueue.lua: id (32 hex digits), queue number (packed whole,
#: once per queue), created_at, data, description.
JOB_ARGS: Final = b"$32\r\n%b\r\n%b$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"


@dataclass(frozen=True, slots=True)
class WriteInFlight:
    """A chunk whose write request went out and whose answer is still to be read: its job
    ids, and the request (kept for the NOSCRIPT retry; the jobs themselves are let go)."""

    ids: list[str]
    sent: Sent
    count: int
    numkeys: bytes
    body: bytes
    after: bytes = b""
    """A command sent right after the write, on its connection (``WAIT``), or nothing."""


def send_write(
    connection: redis.Redis,
    queues: Sequence[str],
    jobs: Sequence[PreparedJob],
    after: bytes = b"",
) -> WriteInFlight:
    """Send the ``enqueue.lua`` call that writes ``jobs``, whose queue numbers index
    ``queues`` (1-based), followed in the same request by ``after`` (a packed command, e.g.
    ``WAIT``, whose answer :func:`settle_write` returns); raises :class:`ProducerUnavailable`
    (not written) if it could not be sent."""
    body = b"".join(
        [
            _QUEUES_KEY,
            *(bulk((_QUEUE_KEY_PREFIX + name).encode()) for name in queues),
            *(job.key for job in jobs),
            bulk(str(len(queues)).encode()),
            *(bulk(name.encode()) for name in queues),
            _SHARED_ARGS,
            *(job.args for job in jobs),
        ]
    )
    # EVALSHA sha numkeys, the keys (1 + q + n), the arguments (q + 3 + 5 per job).
    count = 7 + 2 * len(queues) + 6 * len(jobs)
    numkeys = str(1 + len(queues) + len(jobs)).encode()
    # EVALSHA: the script travels once per server, not with every chunk.
    try:
        head = command(count, b"EVALSHA", _ENQUEUE_SHA, numkeys)
        sent = send(connection, head + body + after, trailing=1 if after else 0)
    except NotSent as exc:
        raise _unreachable(exc, [job.id for job in jobs]) from None
    return WriteInFlight([job.id for job in jobs], sent, count, numkeys, body, after)


def settle_write(connection: redis.Redis, write: WriteInFlight, timeout_s: float) -> Any:
    """Read the answer of ``write``; raise an :class:`EnqueueError` that sorts its ids unless
    the chunk is certainly written. Returns the answer of the command sent after it (None
    when there was none, or its answer did not come)."""
    ids = write.ids
    sent = write.sent
    try:
        try:
            sent.answer()
        except redis.exceptions.NoScriptError:
            # First use on this server (or after SCRIPT FLUSH): nothing ran. EVAL caches the
            # script; answered at once, as this path is rare.
            head = command(write.count, b"EVAL", _ENQUEUE_LUA.encode(), write.numkeys)
            sent = send(connection, head + write.body + write.after, 1 if write.after else 0)
            sent.answer()
    except redis.exceptions.OutOfMemoryError:
        # The script's first write was refused, so it wrote nothing (Redis checks memory
        # before a script's first write only, which keeps the chunk all-or-nothing).
        raise RedisFull(
            "Redis is full (maxmemory reached): workers keep delivering, which frees "
            "memory; retry later, more slowly",
            not_written_ids=ids,
        ) from None
    except redis.exceptions.ReadOnlyError:
        # A replica (after a failover) refuses the first write the same way.
        raise ProducerUnavailable(
            "Redis is a read-only replica (a failover in progress?)",
            not_written_ids=ids,
        ) from None
    except NotSent as exc:
        raise _unreachable(exc, ids) from None
    except AnswerLost as exc:
        raise ProducerUnavailable(
            f"Redis did not answer within {timeout_s} s ({exc})",
            unknown_ids=ids,
        ) from None
    except redis.exceptions.ResponseError as exc:
        # Any other error reply: a script that fails half-way keeps its earlier writes.
        raise EnqueueError(
            f"Redis refused the write ({type(exc).__name__})",
            unknown_ids=ids,
        ) from None
    return sent.trailing[0] if sent.trailing else None


def _unreachable(exc: NotSent, ids: list[str]) -> ProducerUnavailable:
    return ProducerUnavailable(f"Redis could not be reached ({exc})", not_written_ids=ids)
