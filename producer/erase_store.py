"""The writes of an erase (:mod:`cio_pipeline.producer.erase`): deleting jobs, taking them out
of RQ queues atomically with the workers' dequeue, and re-keying suppression entries.

A suppression entry kept after an erase is stored under ``mark:<keyed hash of the subject>``
(:mod:`cio_pipeline.producer.marks`) instead of ``email:<address>``: the same hash and the same
reasons, so :func:`cio_pipeline.producer.suppressions.lookup` finds it when given the erase key
(``is_suppressed``, ``skip_if_suppressed``), and ``cio-pipeline suppressions list`` shows it
without the address.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from importlib import resources
from typing import Final

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from cio_pipeline.producer.erase_scan import FoundJob, Person
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import EraseKey
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.producer.suppressions import active

__all__ = ["delete_jobs", "rehash_suppressions", "remove_listed"]

_LISTED_LUA: Final = (
    resources.files("cio_pipeline.producer") / "lua" / "erase_listed.lua"
).read_text()
_LISTED_SHA: Final = hashlib.sha1(_LISTED_LUA.encode()).hexdigest()
#: Subject types a suppression entry can have (anonymous ids have none).
_SUPPRESSIBLE: Final = ("id:", "email:", "cio_id:")


def remove_listed(client: redis.Redis, jobs: Sequence[FoundJob]) -> Iterator[tuple[FoundJob, bool]]:
    """Take each job out of its queue list and delete it, atomically with the workers'
    dequeue (``erase_listed.lua``); yields (job, whether it was still there)."""
    by_list: dict[str, list[FoundJob]] = {}
    for job in jobs:
        by_list.setdefault(job.container, []).append(job)
    for container, listed in by_list.items():
        for first in range(0, len(listed), 500):
            part = listed[first : first + 500]
            keys = [container, *(job.key for job in part)]
            args = [job.job_id for job in part]
            try:
                flags = client.evalsha(_LISTED_SHA, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                flags = client.eval(_LISTED_LUA, len(keys), *keys, *args)
            yield from zip(part, (int(f) == 1 for f in flags), strict=True)


def delete_jobs(client: redis.Redis, jobs: Sequence[FoundJob]) -> None:
    """Delete jobs no worker holds, with everything RQ keeps of them (registries, results,
    executions); a job already gone is skipped."""
    if not jobs:
        return
    with client.pipeline(transaction=False) as pipe:
        for found in jobs:
            try:
                job = Job.fetch(found.job_id, connection=client, serializer=SafeSerializer)
            except NoSuchJobError:
                job = None
            if job is not None:
                job.delete(pipeline=pipe, remove_from_queue=True)
            pipe.zrem(found.container, found.job_id)
            pipe.delete(found.key, f"rq:results:{found.job_id}")  # rq's Result.get_key
        pipe.execute()


def rehash_suppressions(
    client: redis.Redis, keys: Keys, person: Person, key: EraseKey, suppress: bool
) -> tuple[int, int]:
    """Remove the person's suppression entries; keep those in force (and with ``suppress``
    a ``manual`` one for each identifier) under the keyed hash. Returns (removed, kept)."""
    subjects = [s for s in person.subjects() if s.startswith(_SUPPRESSIBLE)]
    with client.pipeline(transaction=False) as pipe:
        for subject in subjects:
            pipe.hgetall(keys.suppression(subject))
        records = pipe.execute()
    now = int(time.time())
    removed = kept = 0
    with client.pipeline(transaction=True) as pipe:
        for subject, record in zip(subjects, records, strict=True):
            marked = key.marked_subject(subject)
            fields = {(k.decode() if isinstance(k, bytes) else k): v for k, v in record.items()}
            if record:
                removed += 1
                pipe.delete(keys.suppression(subject))
                pipe.zrem(keys.suppressions, subject)
            if suppress:
                fields.setdefault("manual", f"{now} erase".encode())
            if active(marked, fields):
                kept += 1
                pipe.hset(keys.suppression(marked), mapping=fields)
                pipe.zadd(keys.suppressions, {marked: now})
        pipe.execute()
    return removed, kept
