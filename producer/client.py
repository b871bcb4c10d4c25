"""``CustomerIO`` (and the base both clients share): the official SDK's API, enqueueing
instead of sending. ``APIClient`` is in :mod:`cio_pipeline.producer.api_client`.

Each method validates and normalises its input (raising :class:`ValidationError` before any
write), enqueues one RQ job and returns the job's id. ``pipeline()`` gives a client with the
same methods that writes its calls in chunks of up to 250 jobs (one round trip each) as the
block runs, and the rest when it ends; see :meth:`_Producer.pipeline` for what happens when
something fails.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Self

import redis as redis_lib

from cio_pipeline.producer.connection import connect
from cio_pipeline.producer.erase import ErasureReport, erase
from cio_pipeline.producer.erase_scan import Person
from cio_pipeline.producer.errors import CustomerIOException, ProducerUnavailable, ValidationError
from cio_pipeline.producer.ids import partition_for
from cio_pipeline.producer.jobs import (
    ANONYMOUS_EVENT_FUNC,
    TRACK_OPERATION_FUNC,
    JobSpec,
    track_job,
)
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import route_subjects
from cio_pipeline.producer.operations import (
    TrackOp,
    anonymous_event,
    identify_op,
    merge_op,
    person_op,
    validate_v2_operation,
)
from cio_pipeline.producer.pipeline import ChunkedWriter, PipelineReport
from cio_pipeline.producer.regions import Region, Regions
from cio_pipeline.producer.replication import enqueuer_for
from cio_pipeline.producer.settings import Settings, check_region
from cio_pipeline.producer.suppressions import is_suppressed

__all__ = ["CustomerIO"]


class _Producer:
    """What both clients share: settings, key names, the Redis client and the job writer."""

    def __init__(
        self, redis: redis_lib.Redis | None, settings: Settings | None, region: Any
    ) -> None:
        if not isinstance(region, Region):
            raise CustomerIOException("invalid region provided")  # the SDK's words
        check_region(region)  # the workers choose the hosts: a different region is refused
        self.region = region
        self.settings = settings if settings is not None else Settings.from_env()
        self.keys = Keys.of(self.settings)
        self.redis = redis if redis is not None else connect(self.settings)
        self._enqueuer = enqueuer_for(self.redis, self.settings)
        self._writer: ChunkedWriter | None = None
        self._track_queues = self.keys.track_queues

    @property
    def pipeline_report(self) -> PipelineReport | None:
        """Inside (and after) a ``pipeline()`` block, the client it gave: which job ids are
        written, not written or of unknown fate so far. ``None`` on a plain client."""
        return None if self._writer is None else self._writer.report

    def _submit(self, spec: JobSpec) -> str:
        writer = self._writer
        if writer is None:
            return self._enqueuer.enqueue(spec)
        writer.check()  # after a failed chunk, no more ids are handed out
        job = self._enqueuer.prepare(spec)
        writer.add(job)
        return job.id

    def is_suppressed(self, address_or_identifiers: str | Mapping[str, Any]) -> str | None:
        """Why an address (or identifiers ``{"id": ..., "email": ...}``) is suppressed
        (``"bounced"``, ...; see :mod:`cio_pipeline.producer.suppressions`) or None; one round
        trip."""
        return is_suppressed(
            self.redis, self.keys, address_or_identifiers, self._enqueuer.erase_keys.get()
        )

    def _track(self, op: TrackOp) -> str:
        writer = self._writer
        if writer is None:
            return self._submit(track_job(op, self.keys))
        # In a pipeline() block, what track_job and _submit do, without the JobSpec between
        # them and with the queue names made once (the bulk hot path).
        writer.check()
        route = op.route
        queue = self._track_queues[partition_for(route[0], route[1], self.keys.partitions)]
        func = ANONYMOUS_EVENT_FUNC if op.anonymous else TRACK_OPERATION_FUNC
        job = self._enqueuer.prepare_parts(
            func, op.operation, queue, op.description, None, route_subjects(route, op.operation)
        )
        writer.add(job)
        return job.id

    @contextmanager
    def pipeline(self) -> Iterator[Self]:
        """A client whose calls are written in chunks, for bulk work of any size.

        Each call returns its job id at once. Calls are buffered and written as chunks of up
        to 250 jobs (1 MiB), each one all-or-nothing Lua call, while the block runs; the
        last chunk when the block ends. A chunk's answer is read while the block fills the
        next one (see :mod:`cio_pipeline.producer.pipeline`). Memory stays at two chunks (the one in
        flight, the one filling) plus 16 bytes per id.

        - A chunk that fails raises a :class:`ProducerUnavailable` or :class:`RedisFull` (from
          the call that sent it or filled the next one, or from the end of the block) whose
          ``written_ids``, ``not_written_ids`` and ``unknown_ids`` cover every id the block
          was given. Nothing is attempted after it; further calls in the block raise it again.
        - If the block itself raises, the chunk in flight is settled and the calls since the
          last chunk are not written; the chunks already written stay written. The exception
          gets a note with the counts, and ``pipe.pipeline_report`` lists the ids.
        """
        pipe = copy.copy(self)  # this client stays unbuffered for other threads' calls
        writer = pipe._writer = ChunkedWriter(self._enqueuer)
        try:
            yield pipe
        except BaseException as exc:
            if exc is not writer.failure:  # a failed chunk's exception has the accounting
                writer.abandon()
                exc.add_note(writer.report.summary())
            raise
        writer.finish()

    def close(self) -> None:
        """Release the Redis connection pool (the SDK's ``close``)."""
        self.redis.close()

    def __enter__(self) -> _Producer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CustomerIO(_Producer):
    """Track API producer: the ``customerio.CustomerIO`` interface, enqueueing jobs.

    The SDK's connection arguments (``site_id``, ``api_key``, ``host``, ``retries``, ...) are
    accepted so that switching is a one-line import change; they are not used and never stored
    in Redis: the worker has its own credentials. ``redis=`` and ``settings=`` choose where jobs
    go (default: ``Settings.from_env()``).
    """

    def __init__(
        self,
        site_id: Any = None,
        api_key: Any = None,
        host: Any = None,
        region: Region = Regions.US,
        port: Any = None,
        url_prefix: Any = None,
        json_encoder: Any = None,
        retries: int = 3,
        timeout: float = 10,
        backoff_factor: float = 0.02,
        use_connection_pooling: bool = True,
        *,
        redis: redis_lib.Redis | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(redis, settings, region)

    @classmethod
    def from_env(cls, *, redis: redis_lib.Redis | None = None) -> CustomerIO:
        """A producer configured from the environment (``REDIS_URL``, ``CIO_*``)."""
        return cls(redis=redis, settings=Settings.from_env())

    def identify(self, id: Any, **kwargs: Any) -> str:
        """Create or update a person with attributes."""
        return self._track(identify_op(id, kwargs))

    def track(
        self, customer_id: Any, name: Any, data: Any = None, id: Any = None, timestamp: Any = None
    ) -> str:
        """Record an event for a person (``id``: a ULID; one is generated if not given)."""
        return self._track(
            person_op("event", customer_id, name=name, attributes=data, id=id, timestamp=timestamp)
        )

    def track_anonymous(
        self, anonymous_id: Any, name: Any, data: Any = None, id: Any = None, timestamp: Any = None
    ) -> str:
        """Record an event for an anonymous visitor (delivered through v1 /api/v1/events)."""
        return self._track(anonymous_event(anonymous_id, name, data, id, timestamp))

    def pageview(self, customer_id: Any, page: Any, **data: Any) -> str:
        """Record a page view for a person."""
        return self._track(person_op("page", customer_id, name=page, attributes=data))

    def backfill(self, customer_id: Any, name: Any, timestamp: Any, **data: Any) -> str:
        """Record a past event for a person (``timestamp`` required)."""
        if timestamp is None:
            raise ValidationError("timestamp", "is required for backfill")
        return self._track(
            person_op("event", customer_id, name=name, attributes=data, timestamp=timestamp)
        )

    def delete(self, customer_id: Any) -> str:
        """Delete a person."""
        return self._track(person_op("delete", customer_id))

    def add_device(self, customer_id: Any, device_id: Any, platform: Any, **data: Any) -> str:
        """Add a device; ``last_used`` and ``attributes`` in ``data`` go to the device."""
        device: dict[str, Any] = {"token": device_id, "platform": platform}
        if "last_used" in data:
            device["last_used"] = data.pop("last_used")
        attributes = data.pop("attributes", None) or {}
        if not isinstance(attributes, dict):
            raise ValidationError("device.attributes", "must be a dict")
        attributes = {**attributes, **data}
        if attributes:
            device["attributes"] = attributes
        return self._track(person_op("add_device", customer_id, device=device))

    def delete_device(self, customer_id: Any, device_id: Any) -> str:
        """Remove a device from a person."""
        return self._track(person_op("delete_device", customer_id, device={"token": device_id}))

    def suppress(self, customer_id: Any) -> str:
        """Suppress a person (delete and never re-add)."""
        return self._track(person_op("suppress", customer_id))

    def unsuppress(self, customer_id: Any) -> str:
        """Lift a person's suppression."""
        return self._track(person_op("unsuppress", customer_id))

    def erase(
        self,
        customer_id: Any,
        *,
        emails: Sequence[str] = (),
        cio_id: str | None = None,
        anonymous_ids: Sequence[str] = (),
        suppress: bool = False,
        dry_run: bool = False,
        wait_s: float = 30.0,
    ) -> ErasureReport:
        """Erase a person everywhere in the pipeline (``docs/privacy.md``).

        From this call on, nothing of theirs still in Redis is delivered (queued, claimed,
        retrying, held, dead-lettered jobs and queued sends to them are dropped and counted;
        sends a worker already holds resolve as they would have, waited for up to ``wait_s``
        and reported), their data is deleted from Redis before this returns, a Track
        ``delete`` (``suppress`` with ``suppress=True``) of ``customer_id`` goes out as their
        last operation, and new calls for any of the identifiers raise :class:`PersonErased`
        for ``CIO_ERASE_RETENTION_S``. ``customer_id`` is read as the other calls read it (an
        id, ``cio_<id>`` or an address); ``emails``, ``cio_id`` and ``anonymous_ids`` name the
        person's other identifiers. ``dry_run`` only counts what would be dropped. Returns the
        report, also kept as an audit entry (no personal data).
        """
        person = Person(
            customer_id if isinstance(customer_id, str) else str(customer_id),
            tuple(emails),
            cio_id,
            tuple(anonymous_ids),
        )
        try:
            return erase(
                self.redis,
                self.keys,
                person,
                retention_s=self.settings.erase_retention_s,
                suppress=suppress,
                dry_run=dry_run,
                wait_s=wait_s,
            )
        except (redis_lib.ConnectionError, redis_lib.TimeoutError) as exc:
            raise ProducerUnavailable(
                f"erase interrupted: Redis unavailable ({type(exc).__name__}); run it again, "
                "it resumes"
            ) from None

    def merge_customers(
        self, primary_id_type: Any, primary_id: Any, secondary_id_type: Any, secondary_id: Any
    ) -> str:
        """Merge the secondary person into the primary one."""
        return self._track(merge_op(primary_id_type, primary_id, secondary_id_type, secondary_id))

    def batch(self, operations: Any) -> list[str]:
        """Validate every v2 operation (nothing is written if one is invalid), then enqueue
        each as its own job: all or none up to 250 jobs; a longer list is written in chunks,
        and a failure reports which ids were written (as in ``pipeline()``)."""
        if not isinstance(operations, list | tuple) or not operations:
            raise ValidationError("operations", "must be a non-empty list of v2 operations")
        ops = [validate_v2_operation(op, i) for i, op in enumerate(operations)]
        if self._writer is not None:
            self._writer.check()
        jobs = [self._enqueuer.prepare(track_job(op, self.keys)) for op in ops]
        if self._writer is not None:
            self._writer.add_all(jobs)
        else:
            writer = ChunkedWriter(self._enqueuer)
            writer.add_all(jobs)
            writer.finish()
        return [job.id for job in jobs]
