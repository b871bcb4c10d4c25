"""Erasing a person everywhere in the pipeline (``CustomerIO.erase``, ``cio-pipeline erase``).

In this order, so that nothing of the person can slip through between two steps:

1. **Mark.** A marker per identifier (a keyed hash, :mod:`cio_pipeline.producer.marks`) with
   the retention (``CIO_ERASE_RETENTION_S``) as its TTL: from now on the enqueue script
   refuses every new job of the person (:class:`PersonErased`), so the set of their jobs in
   Redis can only shrink.
2. **Find** their jobs (:mod:`cio_pipeline.producer.erase_scan`) and put every id in the
   erased-jobs set: a worker's claim drops them from now on (the Track claim script, and the
   transactional claim of the delivery record), atomically with the claim.
3. **Delete** them: Track jobs' hashes (their ids stay in the partition queue until a worker
   claims and drops them: rewriting a long list would stall Redis for everyone), queued sends
   and webhook events (out of their list and deleted, atomically with the workers' dequeue),
   dead letters and every other RQ registry entry (with RQ's results).
4. **Wait** (at most ``wait_s``) for what a worker had already taken before step 2: those
   sends and batches resolve as they would have (delivered or dropped at their claim) and are
   reported; then their jobs, and the delivery records of the person's sends, are deleted.
5. **Suppressions**: the person's suppression entries are removed; one in force (or, with
   ``suppress``, a new ``manual`` one) is kept under the keyed hash of the subject, which
   ``is_suppressed`` and ``skip_if_suppressed`` still match.
6. **Last operation**: a Track ``delete`` (``suppress`` with ``suppress=True``) of the
   customer id, at the tail of its partition, unmarked so the marker does not refuse it: the
   only thing left in Redis that holds the identifier, until it is delivered.
7. **Audit**: an entry (when, counts, no identifier) on ``<prefix>:erasures``
   (:func:`list_erasures`, ``cio-pipeline erase --list``).

``dry_run`` does step 2's reading only and reports what would be dropped.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import redis
from rq.job import Job

from cio_pipeline.producer.erase_scan import FoundJob, Person, Place, find_jobs
from cio_pipeline.producer.erase_store import delete_jobs, rehash_suppressions, remove_listed
from cio_pipeline.producer.jobs import Enqueuer, track_job
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import EraseKeys
from cio_pipeline.producer.operations import person_op

__all__ = ["ErasureReport", "Person", "erase", "list_erasures"]

#: Audit entries kept (newest first).
AUDIT_ENTRIES: Final = 1000
_POLL_S: Final = 0.05
_ENDED: Final = frozenset({b"finished", b"failed", b"canceled", b"stopped"})
_TRACK: Final = (Place.TRACK_QUEUED, Place.TRACK_CLAIMED)


@dataclass
class ErasureReport:
    """What an erase did (or, ``dry_run``, would do): counts only, never an identifier."""

    erase_id: str
    at: float
    dry_run: bool
    suppress: bool
    identifiers: dict[str, int]
    """How many identifiers of each type the erase covered."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Jobs dropped, by where they were (``track queued``, ``dead letters``, ...)."""
    in_flight: int = 0
    """Jobs a worker had taken before the erase: they resolved as they would have."""
    in_flight_unresolved: int = 0
    """Of those, still running when the wait ended (reported, not waited for)."""
    delivery_records: int = 0
    suppressions_removed: int = 0
    suppressions_kept: int = 0
    """Suppression entries kept under a keyed hash (they still match)."""
    pending_job_id: str | None = None
    """The last operation (Track delete or suppress) left to deliver."""
    duration_ms: int = 0

    @property
    def dropped_total(self) -> int:
        """Jobs dropped in all."""
        return sum(self.dropped.values())

    def to_json(self) -> str:
        """The audit entry (one JSON object)."""
        return json.dumps(asdict(self), sort_keys=True)


def erase(
    client: redis.Redis,
    keys: Keys,
    person: Person,
    *,
    retention_s: int,
    suppress: bool = False,
    dry_run: bool = False,
    wait_s: float = 30.0,
) -> ErasureReport:
    """Erase ``person`` (see the module docstring); returns the report (also the audit
    entry). Raises ``redis.RedisError`` when Redis fails part-way: run it again, it resumes
    (every step finds what the previous run left)."""
    started = time.monotonic()
    report = ErasureReport(
        erase_id=os.urandom(8).hex(),
        at=time.time(),
        dry_run=dry_run,
        suppress=suppress,
        identifiers=dict(Counter(t for t, _ in person.pairs())),
    )
    if dry_run:
        jobs = find_jobs(client, keys, person)
        report.dropped = dict(Counter(_label(job) for job in jobs))
        report.duration_ms = int((time.monotonic() - started) * 1000)
        return report
    key = EraseKeys(client, keys).load()
    with client.pipeline(transaction=False) as pipe:
        for subject in person.subjects():
            pipe.set(keys.erased(key.mark(subject)), report.erase_id, ex=retention_s)
        pipe.ttl(keys.erasing)
        left_s = pipe.execute()[-1]
    if left_s < retention_s:  # the flag lasts as long as the longest marker
        client.set(keys.erasing, "1", ex=retention_s)
    jobs = find_jobs(client, keys, person)
    ids = [job.job_id for job in jobs]
    for first in range(0, len(ids), 1000):
        client.sadd(keys.erased_jobs, *ids[first : first + 1000])
    in_flight = _drop(client, keys, jobs, report)
    _wait_and_clean(client, keys, person, jobs, in_flight, report, wait_s)
    sends = [job.idempotency_key for job in jobs if job.idempotency_key]
    if sends:
        report.delivery_records = int(client.delete(*(keys.delivery_record(k) for k in sends)))
        client.delete(*(keys.send_claim(k) for k in sends))
    report.suppressions_removed, report.suppressions_kept = rehash_suppressions(
        client, keys, person, key, suppress
    )
    report.pending_job_id = _last_operation(client, keys, person, suppress)
    report.duration_ms = int((time.monotonic() - started) * 1000)
    with client.pipeline(transaction=False) as pipe:
        pipe.lpush(keys.erasures, report.to_json())
        pipe.ltrim(keys.erasures, 0, AUDIT_ENTRIES - 1)
        pipe.execute()
    return report


def _label(job: FoundJob) -> str:
    if job.place is Place.TRACK_QUEUED:
        return "track queued"
    if job.place is Place.TRACK_CLAIMED:
        return "track claimed (in flight or retrying)"
    if job.place is Place.TAKEN:
        return f"{job.queue} in flight"
    if job.place is Place.LISTED:
        return f"{job.queue} queued"
    if job.container.startswith("rq:failed:"):
        return "dead letters"
    return f"{job.queue} {job.container.split(':')[1]}"


def _drop(
    client: redis.Redis, keys: Keys, jobs: list[FoundJob], report: ErasureReport
) -> list[str]:
    """Delete what no worker holds; return the ids a worker may hold (in flight)."""
    dropped: Counter[str] = Counter()
    track = [job for job in jobs if job.place in _TRACK]
    if track:
        with client.pipeline(transaction=False) as pipe:
            for job in track:
                pipe.delete(job.key)
            pipe.execute()
        dropped.update(_label(job) for job in track if job.place is Place.TRACK_QUEUED)
    in_flight = [job.job_id for job in jobs if job.place is Place.TAKEN]
    for job, removed in remove_listed(client, [j for j in jobs if j.place is Place.LISTED]):
        if removed:
            dropped[_label(job)] += 1
        else:
            in_flight.append(job.job_id)
    registered = [job for job in jobs if job.place is Place.REGISTRY]
    delete_jobs(client, registered)
    dropped.update(_label(job) for job in registered)
    report.dropped = dict(dropped)
    return in_flight


def _wait_and_clean(
    client: redis.Redis,
    keys: Keys,
    person: Person,
    jobs: list[FoundJob],
    sends: list[str],
    report: ErasureReport,
    wait_s: float,
) -> None:
    """Wait (at most ``wait_s``) for the jobs workers held to resolve, then delete what is
    left of them and take the resolved ids out of the erased-jobs set."""
    track_ids = {job.job_id for job in jobs if job.place in _TRACK}
    partitions = person.partitions(keys.partitions)
    with client.pipeline(transaction=False) as pipe:
        for p in partitions:
            pipe.exists(keys.partition_pause(p))
        paused = [p for p, pause in zip(partitions, pipe.execute(), strict=True) if pause]
    # A paused partition's claimed batch waits for its backoff, not in flight: its erased
    # jobs are dropped at its next attempt (their data is already deleted), no need to wait.
    retrying = _claimed(client, [keys.claimed(p) for p in paused], track_ids)
    if retrying:
        report.dropped["track retrying (dropped at its next attempt)"] = len(retrying)
    claimed_keys = [keys.claimed(p) for p in partitions if p not in paused]
    deadline = time.monotonic() + wait_s
    held = first_held = _claimed(client, claimed_keys, track_ids)
    running = _running(client, sends)
    report.in_flight = len(held) + len(running)
    while (held or running) and time.monotonic() < deadline:
        time.sleep(_POLL_S)  # workers report nothing we could wait on; bounded by wait_s
        held = _claimed(client, claimed_keys, held)
        running = _running(client, running)
    report.in_flight_unresolved = len(held) + len(running)
    delete_jobs(client, [job for job in jobs if job.job_id in set(sends) - set(running)])
    # A Track id still queued stays in the set until a worker claims (and drops) it.
    done = [
        job.job_id
        for job in jobs
        if (job.place not in _TRACK or job.job_id in first_held - held)
        and job.job_id not in running
    ]
    for first in range(0, len(done), 1000):
        client.srem(keys.erased_jobs, *done[first : first + 1000])


def _claimed(client: redis.Redis, claimed_keys: list[str], ids: set[str]) -> set[str]:
    if not ids:
        return set()
    with client.pipeline(transaction=False) as pipe:
        for key in claimed_keys:
            pipe.lrange(key, 0, -1)
        lists = pipe.execute()
    return ids & {m.decode() for members in lists for m in members}


def _running(client: redis.Redis, ids: list[str]) -> list[str]:
    if not ids:
        return []
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(Job.redis_job_namespace_prefix + job_id, "status")
        states = pipe.execute()
    return [
        job_id for job_id, state in zip(ids, states, strict=True) if state and state not in _ENDED
    ]


def _last_operation(client: redis.Redis, keys: Keys, person: Person, suppress: bool) -> str:
    """Enqueue the Track delete (or suppress) of the customer id, without the marker check."""
    op = person_op("suppress" if suppress else "delete", person.customer_id)
    enqueuer = Enqueuer(client, 5.0, keys)
    job = enqueuer.prepare(track_job(op, keys), check_erased=False)
    enqueuer.write([job])
    return job.id


def list_erasures(client: redis.Redis, keys: Keys, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` audit entries (dicts as :meth:`ErasureReport.to_json` wrote)."""
    entries = client.lrange(keys.erasures, 0, limit - 1)
    return [json.loads(entry) for entry in entries]
