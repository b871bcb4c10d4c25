"""Durable enqueues: waiting for replicas (``CIO_REDIS_MIN_REPLICAS``) after each write.

Redis replicates asynchronously: a master that acknowledged a write and died before sending
it on takes it along, and the promoted replica never had it. ``WAIT numreplicas timeout``
blocks the connection that wrote until that many replicas have the write (or the timeout
passes) and answers how many do. ``WAIT`` counts the writes of *its own connection*, so it
travels in the same request as the enqueue script, on the same connection, and costs no
extra round trip, only the replica's acknowledgement (measured in ``bench/producer.py``).

The answer sorts the jobs as :class:`producer.wire` does, with one more case: the script ran
but too few replicas acknowledged it: :class:`NotReplicated`, the jobs in ``written_ids``,
"may not survive a failover".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from producer.errors import NotReplicated
from producer.jobs import Enqueuer, PreparedJob
from producer.settings import Settings
from producer.wire import AnswerLost, NotSent, command

__all__ = ["ReplicatedEnqueuer", "enqueuer_for", "request_and_wait"]

_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError)


def enqueuer_for(client: redis.Redis, settings: Settings) -> Enqueuer:
    """The producer's job writer: waits for replicas when ``CIO_REDIS_MIN_REPLICAS`` > 0."""
    if settings.redis_min_replicas == 0:
        return Enqueuer(client, settings.redis_timeout_s)
    return ReplicatedEnqueuer(
        client,
        settings.redis_timeout_s,
        settings.redis_min_replicas,
        settings.redis_replica_timeout_ms,
    )


class ReplicatedEnqueuer(Enqueuer):
    """An :class:`Enqueuer` whose every write is followed by ``WAIT replicas timeout_ms``."""

    def __init__(
        self, connection: redis.Redis, timeout_s: float, replicas: int, timeout_ms: int
    ) -> None:
        super().__init__(connection, timeout_s)
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self._wait = command(3, b"WAIT", str(replicas).encode(), str(timeout_ms).encode())

    def _request(self, packed: bytes, jobs: Sequence[PreparedJob]) -> None:
        _answer, acked = request_and_wait(self.connection, packed, self._wait)
        if acked is None or acked < self.replicas:
            seen = "an unknown number" if acked is None else str(acked)
            raise NotReplicated(
                f"written to the Redis master, but {seen} of {self.replicas} replica(s) "
                f"acknowledged it within {self.timeout_ms} ms: it may not survive a failover",
                written_ids=[job.id for job in jobs],
            )


def request_and_wait(client: redis.Redis, packed: bytes, wait: bytes) -> tuple[Any, int | None]:
    """Send ``packed`` and ``wait`` (a packed ``WAIT``) in one request on one connection;
    return the first answer and WAIT's count (``None`` when its answer was lost).

    Raises like :func:`producer.wire.request` for the first command: :class:`NotSent`,
    :class:`AnswerLost`, or the error Redis answered (after WAIT's answer has been read, so
    the connection stays in step).
    """
    pool = client.connection_pool
    own: Any = client.connection
    try:
        conn: Any = own if own is not None else pool.get_connection()
    except _UNAVAILABLE as exc:
        raise NotSent(exc) from exc
    try:
        try:
            conn.send_packed_command([packed, wait])
        except _UNAVAILABLE as exc:
            raise NotSent(exc) from exc
        try:
            answer = conn.read_response()
        except redis.exceptions.BusyLoadingError as exc:
            _read_count(conn)
            raise NotSent(exc) from exc
        except _UNAVAILABLE as exc:
            raise AnswerLost(exc) from exc
        except redis.ResponseError:
            _read_count(conn)
            raise
        return answer, _read_count(conn)
    finally:
        if own is None:
            pool.release(conn)


def _read_count(conn: Any) -> int | None:
    """WAIT's answer, or ``None`` if it never came (the connection is then closed)."""
    try:
        return int(conn.read_response())
    except (*_UNAVAILABLE, redis.ResponseError):
        return None
