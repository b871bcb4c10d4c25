"""The Redis side of a Track partition: claim, read, settle, dead-letter. Batched round trips.

Job states stay RQ's, so rq-dashboard and ``rq info`` tell the truth: a job is ``queued`` in
its partition queue, ``started`` once claimed (its id then sits in the partition's claimed
list, never in RQ's own registries, so RQ's abandoned-job cleanup cannot touch it), then
delivered or ``failed`` (the queue's FailedJobRegistry, with the dead-letter reason).

A delivered job is deleted when its batch settles (``CIO_TRACK_KEEP_DELIVERED_S=0``, the
default): RQ would keep its whole payload for 500 s, and draining a backlog of 50,000
operations then *grew* Redis by ~28 MB, at the moment Redis most needs the room. The counter
``track_delivered`` in ``<prefix>:counters`` and the delivery log lines keep the history.
With ``CIO_TRACK_KEEP_DELIVERED_S`` > 0 delivered jobs stay ``finished`` (finished registry,
hash expiring) that long, for debugging.

No write here creates a job hash: a claimed id whose hash is gone stays gone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.results import Result

from cio_pipeline.producer.jobs import rq_timestamp
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.core.lua import LuaScript
from cio_pipeline.worker.deadletters.record import META_KEY, DeadLetterRecord
from cio_pipeline.worker.deadletters.unparsed import add_unparsed
from cio_pipeline.worker.ops.counters import MINUTE_TTL_S, Tally, add_to_pipeline, minute_of
from cio_pipeline.worker.track.items import Item, Unreadable, decode_item

__all__ = ["ClaimedBatch", "LeaseLost", "Ledger"]

_CLAIM: Final = LuaScript("cio_pipeline.worker.track", "claim_batch.lua")
_START: Final = LuaScript("cio_pipeline.worker.track", "start_claimed.lua")
_SETTLE: Final = LuaScript("cio_pipeline.worker.track", "settle_batch.lua")
_COUNT_ATTEMPT: Final = LuaScript("cio_pipeline.worker.track", "count_attempt.lua")
_JOB_PREFIX: Final = Job.redis_job_namespace_prefix


class LeaseLost(Exception):
    """Another worker holds the partition now; it will re-deliver what we had claimed."""


class ClaimedBatch:
    """Claimed jobs of one partition, in order; ``redelivery`` when left from before, with
    ``failed_attempts`` already made on them; ``produced_at`` maps job ids to the unix time
    they were enqueued (for the latency histogram)."""

    def __init__(
        self,
        items: list[Item | Unreadable],
        redelivery: bool,
        failed_attempts: int = 0,
        produced_at: dict[str, float] | None = None,
    ) -> None:
        self.items = items
        self.redelivery = redelivery
        self.failed_attempts = failed_attempts
        self.produced_at = produced_at or {}


def _unix(rq_time: bytes | None) -> float | None:
    """RQ's ``2026-11-29T03:41:45.123456Z`` as unix seconds (None when missing or odd)."""
    if not rq_time:
        return None
    try:
        return datetime.fromisoformat(rq_time.decode()).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


class Ledger:
    """Claims and settles the jobs of the partitions this worker leases.

    Its :attr:`tally` holds the Track counters (:mod:`cio_pipeline.worker.ops.counters`) until they
    ride along with the next settle, attempt, pause or dead-letter write.
    """

    def __init__(
        self, connection: redis.Redis, keys: Keys, worker_id: str, tally: Tally | None = None
    ) -> None:
        self.connection = connection
        self.keys = keys
        self.worker_id = worker_id
        self.tally = tally or Tally()

    def queue_key(self, partition: int) -> str:
        return f"rq:queue:{self.keys.track_queue(partition)}"

    def claim(self, partition: int, max_ops: int) -> ClaimedBatch:
        """Claim up to ``max_ops`` jobs (or get the batch already claimed) and mark them
        started, dropping an erased person's jobs (``claim_batch.lua``); raises
        :class:`LeaseLost` when the partition is not ours."""
        reply = _CLAIM(
            self.connection,
            keys=[
                self.keys.lease(partition),
                self.queue_key(partition),
                self.keys.claimed(partition),
                self.keys.claimed_meta(partition),
                self.keys.erased_jobs,
                self.keys.counters,
                self.keys.counters_minute(minute_of(self.tally.clock())),
            ],
            args=[self.worker_id, max_ops, MINUTE_TTL_S if self.tally.enabled else 0],
        )
        if reply is None:
            raise LeaseLost(f"partition {partition}")
        redelivery, failed_attempts = int(reply[0]) == 1, int(reply[1])
        ids = [i.decode() for i in reply[2:]]
        if not ids:
            return ClaimedBatch([], redelivery, failed_attempts)
        data = _START(
            self.connection,
            keys=[_JOB_PREFIX + job_id for job_id in ids],
            args=[rq_timestamp(), self.worker_id],
        )
        produced: dict[str, float] = {}
        if self.tally.enabled:
            for job_id, enqueued in zip(ids, data[1::2], strict=True):
                at = _unix(enqueued)
                if at is not None:
                    produced[job_id] = at
        return ClaimedBatch(
            [decode_item(job_id, value) for job_id, value in zip(ids, data[::2], strict=True)],
            redelivery,
            failed_attempts,
            produced,
        )

    def settle(
        self, partition: int, head: Sequence[str], delivered: Sequence[str], *, keep_s: int
    ) -> None:
        """Take ``head`` (the first ids of the claimed list) off the list, finishing the
        ``delivered`` ones among them (the others were dead-lettered): deleted when ``keep_s``
        is 0, else kept as finished for ``keep_s`` seconds."""
        queue = self.keys.track_queue(partition)
        registry = FinishedJobRegistry(queue, connection=self.connection).key
        counter_keys, counts = self.tally.lua_args(self.keys)
        if not self.tally.enabled:
            counts = [0]  # the minute hash's TTL 0: counting is off
        try:
            result = _SETTLE(
                self.connection,
                keys=[
                    self.keys.lease(partition),
                    self.keys.claimed(partition),
                    self.keys.claimed_meta(partition),
                    registry,
                    *counter_keys,
                    *(_JOB_PREFIX + job_id for job_id in delivered),
                ],
                args=[
                    self.worker_id,
                    len(head),
                    rq_timestamp(),
                    keep_s,
                    time.time() + keep_s,
                    (len(counts) - 1) // 2,
                    *counts,
                    *head,
                    *delivered,
                ],
            )
        except redis.RedisError:
            self.tally.put_back(_pairs(counts))
            raise
        if int(result) < 0:
            self.tally.put_back(_pairs(counts))
        if int(result) == -1:
            raise LeaseLost(f"partition {partition}")
        if int(result) == -2:
            raise LeaseLost(f"partition {partition}: claimed list changed under us")

    def dead_letter(
        self, partition: int, dead: Sequence[tuple[str, DeadLetterRecord]], ttl_s: int
    ) -> list[str]:
        """Fail jobs into their queue's FailedJobRegistry, each with its dead-letter record
        (``meta["dead_letter"]``) and a readable reason; one round trip. Returns the ids of
        jobs whose hash is gone or broken: nothing is left of them to keep."""
        if not dead:
            return []
        queue = self.keys.track_queue(partition)
        registry = FailedJobRegistry(queue, connection=self.connection, serializer=SafeSerializer)
        jobs = self._fetch_each([job_id for job_id, _ in dead])
        lost = [job_id for job, (job_id, _) in zip(jobs, dead, strict=True) if job is None]
        self.tally.add("track_dead", len(dead) - len(lost))
        self.tally.add("track_skipped", len(lost))  # nothing left to deliver or keep
        counts = self.tally.take()
        with self.connection.pipeline() as pipe:
            for job, (job_id, record) in zip(jobs, dead, strict=True):
                if job is None:
                    continue
                if isinstance(job, str) or not _savable(job):
                    add_unparsed(pipe, self.connection, queue, job_id, record, ttl_s)
                    continue
                meta = dict(job.meta)
                meta[META_KEY] = record.to_meta()
                job.meta = meta
                job._status = JobStatus.FAILED
                text = record.text()
                pipe.hset(
                    job.key,
                    mapping={
                        "status": JobStatus.FAILED.value,
                        "ended_at": rq_timestamp(),
                        "meta": SafeSerializer.dumps(meta),
                    },
                )
                registry.add(job, ttl=ttl_s, exc_string=text, pipeline=pipe)
                Result.create_failure(
                    job, ttl_s, exc_string=text, worker_name=self.worker_id, pipeline=pipe
                )
            add_to_pipeline(pipe, self.keys, counts, self.tally.clock())
            try:
                pipe.execute()
            except redis.RedisError:
                self.tally.put_back(counts)
                raise
        return lost

    def _fetch_each(self, job_ids: list[str]) -> list[Job | str | None]:
        """Each job, or its id when its hash is there but RQ cannot parse it, or None when
        it is gone."""
        try:
            return list(
                Job.fetch_many(job_ids, connection=self.connection, serializer=SafeSerializer)
            )
        except Exception:  # one of them has a broken hash: fetch one by one
            jobs: list[Job | str | None] = []
            for job_id in job_ids:
                try:
                    jobs.append(
                        Job.fetch(job_id, connection=self.connection, serializer=SafeSerializer)
                    )
                except NoSuchJobError:
                    gone = not self.connection.exists(_JOB_PREFIX + job_id)
                    jobs.append(None if gone else job_id)  # a hash without data
                except redis.RedisError:
                    raise
                except Exception:  # a field RQ cannot parse: written raw, see add_unparsed
                    jobs.append(job_id)
            return jobs

    def attempt(self, partition: int) -> tuple[int, float]:
        """Count a delivery attempt of the partition's claimed batch: (attempts, first at)."""
        counter_keys, counts = self.tally.lua_args(self.keys)
        try:
            attempts, first = _COUNT_ATTEMPT(
                self.connection,
                keys=[self.keys.claimed_meta(partition), *counter_keys],
                args=[time.time(), *counts],
            )
        except redis.RedisError:
            self.tally.put_back(_pairs(counts))
            raise
        return int(attempts), float(first)

    def pause(self, partition: int, seconds: float, reason: str = "") -> None:
        """Hold the partition back for ``seconds`` (kept in Redis: a new lease holder too);
        the key's value says why (``stats`` shows it), with the counts so far riding along."""
        counts = self.tally.take()
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.set(
                self.keys.partition_pause(partition),
                reason[:200] or "paused",
                px=max(1, int(seconds * 1000)),
            )
            add_to_pipeline(pipe, self.keys, counts, self.tally.clock())
            try:
                pipe.execute()
            except redis.RedisError:
                self.tally.put_back(counts)
                raise

    def pending(self, partitions: Sequence[int]) -> dict[int, tuple[int, int, bool]]:
        """For each partition: (claimed, queued, paused); one round trip."""
        with self.connection.pipeline(transaction=False) as pipe:
            for p in partitions:
                pipe.llen(self.keys.claimed(p))
                pipe.llen(self.queue_key(p))
                pipe.exists(self.keys.partition_pause(p))
            replies = pipe.execute()
        return {
            p: (int(replies[3 * i]), int(replies[3 * i + 1]), bool(replies[3 * i + 2]))
            for i, p in enumerate(partitions)
        }


def _savable(job: Job) -> bool:
    """Whether RQ can write ``job`` back (``registry.add`` saves the whole job): a forged
    job may hold fields it parsed but cannot write again."""
    try:
        job.to_dict(include_meta=False, include_result=False)
        SafeSerializer.dumps(job.meta)
    except Exception:
        return False
    return True


def _pairs(args: list[Any]) -> dict[str, int]:
    """The counts in a script's ARGV tail (TTL, field, n, field, n, ...)."""
    return {str(args[i]): int(args[i + 1]) for i in range(1, len(args) - 1, 2)}
