"""The write request: a chunk of prepared jobs as one ``enqueue.lua`` call, and what its
answer (or its failure) means for each job.

A job's share of the request (its KEYS entry and its five ARGV entries) is packed into
Redis's wire format once, when it is prepared (:class:`PreparedJob`), so sending a chunk only
joins bytes. Sending and reading are two steps (:func:`send_write`, :func:`settle_write`) so
that the client can make the next chunk's calls while Redis runs this one. A failure raises an
:class:`EnqueueError` that sorts the chunk's ids into not written (never sent, or refused
before the script's first write) or unknown (sent, answer lost or the script failed).

A job also names the markers of the people it concerns (:mod:`cio_pipeline.producer.marks`).
If one of them is erased, the script writes nothing of the chunk and :class:`PersonErased`
names those jobs (``erased_ids``); the chunk's ids are all in ``not_written_ids``, so one
erased person refuses the whole chunk (a single call, or up to 250 jobs of a ``pipeline()``
block): the chunk stays all-or-nothing, which the block's accounting relies on.
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

from cio_pipeline.producer.errors import (
    EnqueueError,
    PersonErased,
    ProducerUnavailable,
    RedisFull,
)
from cio_pipeline.producer.wire import AnswerLost, NotSent, Sent, bulk, command, send

__all__ = [
    "JOB_TIMEOUT_S",
    "EraseKeyChanged",
    "PreparedJob",
    "WriteInFlight",
    "send_write",
    "settle_write",
]

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
    wire format (``key``: its KEYS entries, the job hash and its ``marks`` erase markers;
    ``args``: its six ARGV entries)."""

    id: str
    key: bytes
    args: bytes
    marks: int = 0

    @property
    def size(self) -> int:
        """Bytes this job adds to a write request."""
        return len(self.key) + len(self.args)


#: A job's KEYS entry (rq:job:<32 hex digits>) as a RESP bulk string, id left to fill in.
JOB_KEY: Final = b"$%d\r\n%b%%b\r\n" % (
    len(Job.redis_job_namespace_prefix) + 32,
    Job.redis_job_namespace_prefix.encode(),
)
#: A job's six ARGV entries of enqueue.lua: id (32 hex digits), queue number (packed whole,
#: once per queue), created_at, data, description, number of erase markers (packed whole).
JOB_ARGS: Final = b"$32\r\n%b\r\n%b$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n%b"


class EraseKeyChanged(ProducerUnavailable):
    """The erase key the producer hashed with is no longer Redis's (the database was flushed
    or the key deleted): nothing was written; the client reads the key again, so a retry
    succeeds."""


@dataclass(frozen=True, slots=True)
class WriteInFlight:
    """A chunk whose write request went out and whose answer is still to be read: its job
    ids, and the request (kept for the NOSCRIPT retry; the jobs themselves are let go)."""

    ids: list[str]
    sent: Sent
    count: int
    numkeys: bytes
    body: bytes
    key_id: str = ""
    """The erase key id the jobs' markers were made with."""
    after: bytes = b""
    """A command sent right after the write, on its connection (``WAIT``), or nothing."""


def send_write(
    connection: redis.Redis,
    queues: Sequence[str],
    jobs: Sequence[PreparedJob],
    erase: tuple[str, str, str],
    after: bytes = b"",
) -> WriteInFlight:
    """Send the ``enqueue.lua`` call that writes ``jobs``, whose queue numbers index
    ``queues`` (1-based) and whose markers were made with the erase key ``erase`` (its Redis
    key name, the erasing flag's key name, and the key id), followed in the same request by
    ``after`` (a packed command, e.g. ``WAIT``, whose answer :func:`settle_write` returns);
    raises :class:`ProducerUnavailable` (not written) if it could not be sent."""
    erase_key, erasing, key_id = erase
    body = b"".join(
        [
            _QUEUES_KEY,
            bulk(erase_key.encode()),
            bulk(erasing.encode()),
            *(bulk((_QUEUE_KEY_PREFIX + name).encode()) for name in queues),
            *(job.key for job in jobs),
            bulk(str(len(queues)).encode()),
            bulk(key_id.encode()),
            *(bulk(name.encode()) for name in queues),
            _SHARED_ARGS,
            *(job.args for job in jobs),
        ]
    )
    # EVALSHA sha numkeys, the keys (3 + q + n + marks), the arguments (q + 4 + 6 per job).
    marks = sum(job.marks for job in jobs)
    count = 10 + 2 * len(queues) + 7 * len(jobs) + marks
    numkeys = str(3 + len(queues) + len(jobs) + marks).encode()
    # EVALSHA: the script travels once per server, not with every chunk.
    try:
        head = command(count, b"EVALSHA", _ENQUEUE_SHA, numkeys)
        sent = send(connection, head + body + after, trailing=1 if after else 0)
    except NotSent as exc:
        raise _unreachable(exc, [job.id for job in jobs]) from None
    ids = [job.id for job in jobs]
    return WriteInFlight(ids, sent, count, numkeys, body, key_id, after)


def settle_write(connection: redis.Redis, write: WriteInFlight, timeout_s: float) -> Any:
    """Read the answer of ``write``; raise an :class:`EnqueueError` that sorts its ids unless
    the chunk is certainly written. Returns the answer of the command sent after it (None
    when there was none, or its answer did not come)."""
    ids = write.ids
    sent = write.sent
    try:
        try:
            answer = sent.answer()
        except redis.exceptions.NoScriptError:
            # First use on this server (or after SCRIPT FLUSH): nothing ran. EVAL caches the
            # script; answered at once, as this path is rare.
            head = command(write.count, b"EVAL", _ENQUEUE_LUA.encode(), write.numkeys)
            sent = send(connection, head + write.body + write.after, 1 if write.after else 0)
            answer = sent.answer()
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
    if isinstance(answer, list):
        _refused(answer, ids)
    return sent.trailing[0] if sent.trailing else None


def _refused(answer: list[Any], ids: list[str]) -> None:
    """Raise for the script's refusal (nothing of the chunk was written)."""
    kind = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
    if kind == "erased":
        erased = [ids[int(i)] for i in answer[1:]]
        raise PersonErased(
            f"{len(erased)} job(s) concern an erased person (refused for the erase's "
            "retention period)",
            not_written_ids=ids,
            erased_ids=erased,
        )
    raise EraseKeyChanged(
        "the erase key changed in Redis (database flushed?); nothing written, retry",
        not_written_ids=ids,
    )


def _unreachable(exc: NotSent, ids: list[str]) -> ProducerUnavailable:
    return ProducerUnavailable(f"Redis could not be reached ({exc})", not_written_ids=ids)
