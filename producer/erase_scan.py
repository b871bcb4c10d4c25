"""Finding one person's jobs wherever they wait: the read-only half of an erase.

:class:`Person` names the identifiers an erase covers; :func:`find_jobs` lists that person's
jobs, each with where it was found (:class:`Place`). What is read, each queue with its lists
and registries at one instant (one MULTI), so that no job moving meanwhile is missed:

- the queue and the claimed list of each Track partition one of the person's identifiers
  routes to (:func:`cio_pipeline.producer.ids.partition_for`: a person's operations by that
  identifier are all there);
- the whole transactional and webhook queues, and the lists RQ moves their jobs through
  (``<queue>:intermediate``);
- every RQ registry of every queue (failed: the dead letters; finished, scheduled, started,
  deferred, canceled).

A job is the person's when its Track operation's identifiers (both people of a merge, the
anonymous id of an anonymous event) or its send's identifiers or ``to`` addresses are one of
the person's; a reporting-webhook event when any value in it is. Each job's data is checked
for the identifiers' bytes before it is unpickled, so a large queue is read at a few
microseconds per job (``bench/erase.py``).
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis
from rq.job import Job
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.ids import partition_for
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import job_subjects, normalize_subject
from cio_pipeline.producer.normalize import check_identifier
from cio_pipeline.producer.operations import identifiers_from_value
from cio_pipeline.producer.serializer import SafeSerializer

__all__ = ["FoundJob", "Person", "Place", "find_jobs"]

_PAGE: Final = 5000
_JOB_PREFIX: Final = Job.redis_job_namespace_prefix
_REGISTRIES: Final = (
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
    DeferredJobRegistry,
    CanceledJobRegistry,
)


class Place(enum.StrEnum):
    """Where a job of the person was found."""

    TRACK_QUEUED = "track queued"
    """In its Track partition's queue: dropped when a worker claims it."""
    TRACK_CLAIMED = "track claimed"
    """In its partition's claimed list: in flight, or retrying (dropped at its next claim)."""
    LISTED = "queued"
    """In a transactional or webhook queue."""
    TAKEN = "taken"
    """In a queue's intermediate list: a worker took it and may be running it."""
    REGISTRY = "registry"
    """In one of RQ's registries (dead letters, finished, scheduled, started, ...)."""


@dataclass(frozen=True, slots=True)
class FoundJob:
    """One job of the person: its id, where it was, in which queue, and (for a send) its
    idempotency key."""

    job_id: str
    place: Place
    queue: str
    container: str
    """The Redis key it was found in (list or sorted set)."""
    idempotency_key: str | None = None

    @property
    def key(self) -> str:
        """The job's hash key."""
        return _JOB_PREFIX + self.job_id


@dataclass(frozen=True)
class Person:
    """The identifiers one erase covers: the application's customer id (an id, ``cio_<x>``
    or an address, read as the producer's calls read it), and more addresses, a ``cio_id``,
    anonymous ids."""

    customer_id: str
    emails: tuple[str, ...] = ()
    cio_id: str | None = None
    anonymous_ids: tuple[str, ...] = ()
    identifiers: dict[str, str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "identifiers", identifiers_from_value(self.customer_id, "customer_id")
        )
        for address in self.emails:
            if "@" not in check_identifier(address, "email"):
                raise ValidationError("email", "must be an e-mail address")
        if self.cio_id is not None:
            check_identifier(self.cio_id, "cio_id")
        for anonymous in self.anonymous_ids:
            check_identifier(anonymous, "anonymous_id")

    def pairs(self) -> list[tuple[str, str]]:
        """Every (identifier type, value), the customer id's first, without repeats."""
        ((id_type, value),) = self.identifiers.items()
        found = [(id_type, value)]
        found += [("email", a) for a in self.emails]
        if self.cio_id is not None:
            found.append(("cio_id", self.cio_id.removeprefix("cio_")))
        found += [("anonymous_id", a) for a in self.anonymous_ids]
        return list(dict.fromkeys(found))

    def subjects(self) -> list[str]:
        """The subjects (``id:..``, ``email:..``) of :meth:`pairs`."""
        return list(dict.fromkeys(normalize_subject(t, v) for t, v in self.pairs()))

    def partitions(self, count: int) -> list[int]:
        """The Track partitions the person's identifiers route to."""
        return sorted({partition_for(t, v, count) for t, v in self.pairs()})


class _Matcher:
    """Is a job's data this person's? A byte search first, then the exact check."""

    def __init__(self, person: Person) -> None:
        self.subjects = set(person.subjects())
        values = {v.strip().lower() if t == "email" else v for t, v in person.pairs()}
        self.values = values
        self.needles = [v.lower().encode() for v in values]

    def match(self, data: bytes | None) -> tuple[bool, str | None]:
        """(whether the job is the person's, its idempotency key if it is a send)."""
        if not data:
            return False, None
        try:
            raw = zlib.decompress(data)
        except zlib.error:
            raw = data
        lowered = raw.lower()
        if not any(needle in lowered for needle in self.needles):
            return False, None
        try:
            func, _, args, kwargs = SafeSerializer.loads(raw)
            operation = args[0]
        except Exception:  # unreadable: not something we can attribute to anyone
            return False, None
        if not isinstance(func, str) or not isinstance(operation, Mapping):
            return False, None
        key = kwargs.get("idempotency_key") if isinstance(kwargs, Mapping) else None
        subjects = job_subjects(func, operation)
        if subjects:
            return bool(self.subjects.intersection(subjects)), key
        return self._mentions(operation), key

    def _mentions(self, value: Any) -> bool:
        if isinstance(value, str):
            return value in self.values or value.strip().lower() in self.values
        if isinstance(value, Mapping):
            return any(self._mentions(v) for v in value.values())
        if isinstance(value, list | tuple):
            return any(self._mentions(v) for v in value)
        return False


def _members(client: redis.Redis, places: Sequence[tuple[str, Place, bool]]) -> list[list[str]]:
    """The members of each (key, place, is a sorted set) at one instant (one MULTI): a job
    moving between them meanwhile (a claim, a dequeue) is seen exactly once, and paging
    cannot skip ids that a worker's trim shifted."""
    with client.pipeline(transaction=True) as pipe:
        for key, _, sorted_set in places:
            if sorted_set:
                pipe.zrange(key, 0, -1)
            else:
                pipe.lrange(key, 0, -1)
        replies = pipe.execute()
    # The started registry holds "<job id>:<execution id>".
    return [[m.decode().split(":", 1)[0] for m in reply] for reply in replies]


def _scan(
    client: redis.Redis,
    matcher: _Matcher,
    queue: str,
    places: Sequence[tuple[str, Place, bool]],
) -> Iterator[FoundJob]:
    for (key, place, _), ids in zip(places, _members(client, places), strict=True):
        for first in range(0, len(ids), _PAGE):
            page = ids[first : first + _PAGE]
            with client.pipeline(transaction=False) as pipe:
                for job_id in page:
                    pipe.hget(_JOB_PREFIX + job_id, "data")
                datas: Sequence[bytes | None] = pipe.execute()
            for job_id, data in zip(page, datas, strict=True):
                mine, idempotency_key = matcher.match(data)
                if mine:
                    yield FoundJob(job_id, place, queue, key, idempotency_key)


def _registries(client: redis.Redis, queue: str) -> list[tuple[str, Place, bool]]:
    # A started job is being run by a worker: in flight, like a taken one.
    return [
        (
            registry(queue, connection=client).key,
            Place.TAKEN if registry is StartedJobRegistry else Place.REGISTRY,
            True,
        )
        for registry in _REGISTRIES
    ]


def find_jobs(client: redis.Redis, keys: Keys, person: Person) -> list[FoundJob]:
    """Every job of ``person`` (read-only; see the module docstring)."""
    matcher = _Matcher(person)
    found: list[FoundJob] = []
    mine = person.partitions(keys.partitions)
    for p in range(keys.partitions):
        queue = keys.track_queue(p)
        places = _registries(client, queue)
        if p in mine:
            places = [
                (f"rq:queue:{queue}", Place.TRACK_QUEUED, False),
                (keys.claimed(p), Place.TRACK_CLAIMED, False),
                *places,
            ]
        found += _scan(client, matcher, queue, places)
    for queue in (keys.transactional_queue, keys.webhooks_queue):
        places = [
            (f"rq:queue:{queue}", Place.LISTED, False),
            (f"rq:queue:{queue}:intermediate", Place.TAKEN, False),
            *_registries(client, queue),
        ]
        found += _scan(client, matcher, queue, places)
    unique: dict[str, FoundJob] = {}
    for job in found:  # a job moving while we read may be seen twice: keep the first
        unique.setdefault(job.job_id, job)
    return list(unique.values())
