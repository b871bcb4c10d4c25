"""Durable enqueues: waiting for replicas (``CIO_REDIS_MIN_REPLICAS``) after each write.

Redis replicates asynchronously: a master that acknowledged a write and died before sending
it on takes it along, and the promoted replica never had it. ``WAIT numreplicas timeout``
blocks the connection that wrote until that many replicas have the write (or the timeout
passes) and answers how many do. ``WAIT`` counts the writes of *its own connection*, so it
travels in the same request as the enqueue script, on the same connection, and costs no
extra round trip, only the replica's acknowledgement (measured in ``bench/producer.py``).

The answers are read when the chunk is settled (:mod:`cio_pipeline.producer.writes`, so the overlap
of
``pipeline()`` is kept) and sort the jobs as an ordinary write's do, with one more case: the
script ran but too few replicas acknowledged it: :class:`NotReplicated`, the jobs in
``written_ids``, "may not survive a failover".
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from cio_pipeline.producer.errors import NotReplicated
from cio_pipeline.producer.jobs import Enqueuer
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.settings import Settings
from cio_pipeline.producer.wire import command
from cio_pipeline.producer.writes import (
    EraseKeyChanged,
    PreparedJob,
    WriteInFlight,
    send_write,
    settle_write,
)

__all__ = ["ReplicatedEnqueuer", "enqueuer_for"]


def enqueuer_for(client: redis.Redis, settings: Settings) -> Enqueuer:
    """The producer's job writer: waits for replicas when ``CIO_REDIS_MIN_REPLICAS`` > 0."""
    keys = Keys.of(settings)
    if settings.redis_min_replicas == 0:
        return Enqueuer(client, settings.redis_timeout_s, keys)
    return ReplicatedEnqueuer(
        client,
        settings.redis_timeout_s,
        settings.redis_min_replicas,
        settings.redis_replica_timeout_ms,
        keys,
    )


class ReplicatedEnqueuer(Enqueuer):
    """An :class:`Enqueuer` whose every write is followed, in the same request on the same
    connection, by ``WAIT replicas timeout_ms``; a write too few replicas acknowledged raises
    :class:`NotReplicated` (its jobs are written, but may not survive a failover)."""

    def __init__(
        self,
        connection: redis.Redis,
        timeout_s: float,
        replicas: int,
        timeout_ms: int,
        keys: Keys | None = None,
    ) -> None:
        super().__init__(connection, timeout_s, keys)
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self._wait = command(3, b"WAIT", str(replicas).encode(), str(timeout_ms).encode())

    def send(self, jobs: Sequence[PreparedJob]) -> WriteInFlight:
        """Send the write and its ``WAIT`` in one request (answers read by :meth:`settle`)."""
        return send_write(self.connection, self.queue_names(), jobs, self.erase(), self._wait)

    def settle(self, write: WriteInFlight) -> None:
        """Read the write's answer, then WAIT's; raise :class:`NotReplicated` when too few
        replicas have it."""
        try:
            acked = settle_write(self.connection, write, self.timeout_s)
        except EraseKeyChanged:
            self.erase_keys.forget()
            raise
        if not isinstance(acked, int) or acked < self.replicas:
            seen = "an unknown number" if not isinstance(acked, int) else str(acked)
            raise NotReplicated(
                f"written to the Redis master, but {seen} of {self.replicas} replica(s) "
                f"acknowledged it within {self.timeout_ms} ms: it may not survive a failover",
                written_ids=list(write.ids),
            )
