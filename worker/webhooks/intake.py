"""The receiver's Redis side: refuse a replayed signature, enqueue the event, within a bound.

Customer.io waits 4 s for an answer; a request that waits longer counts as failed and holds
every later event. So every Redis call of the receiver runs here, in a small thread pool
(never on the event loop: a paused or slow Redis would stall every request and ``/healthz``),
and the receiver waits at most ``CIO_WEBHOOK_REDIS_TIMEOUT_S`` (0.5 s) for it, then answers
503 (Customer.io retries). The client's own socket timeouts are half that budget each, so a
thread stuck on a paused Redis is freed soon after; work still queued when its request has
given up is dropped without touching Redis.

A replay is refused by its signature: ``SET <prefix>:webhook-signature:<signature> NX`` with a
lifetime that ends when the request's timestamp leaves the tolerance window (after which the
signature check refuses it anyway). The marker is set first and the job written after it (two
round trips; the write is the producer's one-script enqueue), so two copies of one request
never both reach the queue. When the write fails the marker is removed again (best effort), so
that the same request sent again (by a proxy, say) is not refused as a replay; a job written
twice that way is still processed once (the workers de-duplicate on ``event_id``).
"""

from __future__ import annotations

import asyncio
import enum
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import redis

from cio_pipeline.producer.errors import EnqueueError
from cio_pipeline.producer.jobs import Enqueuer, JobSpec
from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.webhooks.signature import VerifiedRequest

__all__ = ["Intake", "Outcome"]

#: Threads for Redis calls: enough for a burst on a healthy Redis (a call takes ~0.1 ms);
#: on a stuck one, requests beyond these wait in the pool's queue and time out like the rest.
_THREADS: Final = 16


class Outcome(enum.Enum):
    """What became of one verified event."""

    ENQUEUED = "enqueued"
    REPLAY = "replay"
    """Its signature was accepted before, within the tolerance window: nothing written."""
    UNAVAILABLE = "unavailable"
    """Redis refused or could not be reached: nothing enqueued (the job's fate is in the log)."""
    TIMEOUT = "timeout"
    """Redis did not answer within the bound; the job may still be written (processed once)."""


class Intake:
    """Enqueues verified events on ``connection`` within ``timeout_s``, refusing replays."""

    def __init__(
        self,
        connection: redis.Redis,
        keys: Keys,
        *,
        timeout_s: float,
        tolerance_s: float,
    ) -> None:
        self.connection = connection
        self.keys = keys
        self.timeout_s = timeout_s
        self.tolerance_s = tolerance_s
        self.enqueuer = Enqueuer(connection, timeout_s, keys)
        self._pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="webhook-redis")

    async def accept(self, spec: JobSpec, verified: VerifiedRequest) -> tuple[Outcome, str]:
        """Enqueue ``spec`` unless ``verified``'s signature was accepted before; the outcome
        and, for a failure, its cause in a few words (never a value from the event)."""
        deadline = time.monotonic() + self.timeout_s
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self._accept, spec, verified, deadline)
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            return Outcome.TIMEOUT, f"Redis did not answer within {self.timeout_s:g} s"

    def _accept(
        self, spec: JobSpec, verified: VerifiedRequest, deadline: float
    ) -> tuple[Outcome, str]:
        if time.monotonic() >= deadline:
            # its request has been answered 503 already: leave Redis alone
            return Outcome.TIMEOUT, "given up before Redis was asked"
        marker = self.keys.webhook_signature(verified.signature)
        lifetime_s = max(1, math.ceil(verified.timestamp + self.tolerance_s - time.time()) + 1)
        try:
            if not self.connection.set(marker, b"1", nx=True, ex=lifetime_s):
                return Outcome.REPLAY, "this signature was accepted before"
        except redis.RedisError as exc:
            return Outcome.UNAVAILABLE, f"Redis failed ({type(exc).__name__})"
        try:
            self.enqueuer.enqueue(spec)
        except EnqueueError as exc:
            try:
                self.connection.delete(marker)
            except redis.RedisError:
                pass  # the marker expires with the tolerance window
            return Outcome.UNAVAILABLE, exc.reason
        return Outcome.ENQUEUED, ""

    def close(self) -> None:
        """Stop the thread pool (work already running finishes)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
