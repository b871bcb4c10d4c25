"""Delivering one partition's claimed batch, in order, to the Track API.

The claimed items are cut into requests (:func:`~cio_pipeline.worker.track.items.cut_segments`) and
sent one after the other, each after taking a token from the shared Track limiter. What happens
after each answer is decided by :func:`cio_pipeline.worker.policy.decisions.classify`; this module
carries the decision out:

- DELIVERED (200): the request's jobs finish;
- PARTIAL (207): the listed ``batch_index`` items are dead-lettered with Customer.io's
  reason, the rest finish;
- SPLIT (a whole-request 400 or 413): the request is split in halves, delivered first half
  first, until each poison operation is dead-lettered alone and every good one is delivered;
- RETRY (429, 408, 5xx, connection failures) and HOLD (401/403: the Track credentials are
  wrong): the rest of the batch stays claimed at the head of the partition, the partition
  pauses for the backoff (a 429 pauses all Track work, for every worker, for Retry-After),
  and the same batch is tried again; after ``CIO_MAX_ATTEMPTS`` attempts or ``CIO_MAX_AGE_S``
  it is dead-lettered and the partition moves on;
- DEAD (any other 4xx): the request's operations are dead-lettered.

Track operations are idempotent (identify) or de-duplicated (events carry ULIDs), so every
transient failure is retried and a repeat after a crash is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.clients.outcomes import (
    Outcome,
    Partial,
    RateLimited,
    describe_outcome,
    outcome_status,
)
from cio_pipeline.worker.clients.track import TrackClient
from cio_pipeline.worker.core.logs import get_logger
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.deadletters.record import DeadLetterRecord
from cio_pipeline.worker.policy.decisions import Decision, Work
from cio_pipeline.worker.policy.retry import RetryPolicy
from cio_pipeline.worker.ratelimit.surfaces import SurfaceLimiters
from cio_pipeline.worker.track.items import Item, Unreadable, cut_segments
from cio_pipeline.worker.track.ledger import ClaimedBatch, Ledger

__all__ = ["BatchDelivery", "Paused", "TrackParts"]

log = get_logger("cio.track")


class TrackParts(Protocol):
    """What the Track path needs from its worker (the runner's context provides it)."""

    @property
    def settings(self) -> WorkerSettings: ...
    @property
    def keys(self) -> Keys: ...
    @property
    def track(self) -> TrackClient: ...
    @property
    def limiters(self) -> SurfaceLimiters: ...
    @property
    def policy(self) -> RetryPolicy: ...
    @property
    def dead_letter_ttl_s(self) -> int: ...


@dataclass(frozen=True)
class Paused:
    """Delivery stopped on a retryable failure; the rest stays claimed for ``delay_s``."""

    delay_s: float
    reason: str


@dataclass
class _Progress:
    """How far one claimed batch got: passed along while that batch is delivered.

    ``order`` is every claimed id in claim order; ``settled`` how many of them are off the
    head of the claimed list; ``attempt`` the attempt number of the next request.
    """

    order: list[str]
    settled: int
    attempt: int
    produced_at: dict[str, float]


class BatchDelivery:
    """Delivers claimed batches of the partitions a worker leases (no per-batch state)."""

    def __init__(self, parts: TrackParts, ledger: Ledger) -> None:
        self.parts = parts
        self.ledger = ledger
        self._keep_s = parts.settings.track_keep_delivered_s

    def deliver(self, partition: int, claim: ClaimedBatch) -> Paused | None:
        """Deliver ``claim`` to the end (None) or until a retryable failure (Paused)."""
        unreadable = [i for i in claim.items if isinstance(i, Unreadable)]
        if unreadable:
            self._dead(
                partition,
                [(u.job_id, _record(u.reason, "unknown", None, 0)) for u in unreadable],
            )
        # Settling takes ids off the head of the claimed list in claim order; unreadable jobs
        # (dead-lettered above) go with the request that follows them.
        progress = _Progress(
            [i.job_id for i in claim.items], 0, claim.failed_attempts + 1, claim.produced_at
        )
        items = [i for i in claim.items if isinstance(i, Item)]
        if not items:
            self.ledger.settle(partition, progress.order, [], keep_s=self._keep_s)
            return None
        settings = self.parts.settings
        for segment in cut_segments(
            items, max_ops=settings.batch_max_ops, max_bytes=settings.batch_max_bytes
        ):
            paused = self._deliver_segment(partition, segment, progress)
            if paused is not None:
                return paused
        return None

    def _deliver_segment(
        self, partition: int, segment: Sequence[Item], progress: _Progress
    ) -> Paused | None:
        outcome = self._send(partition, segment, progress.attempt)
        decision = self.parts.policy.classify(outcome, Work.TRACK, operations=len(segment))
        if decision is Decision.DELIVERED:
            self._settle(partition, segment, [], progress)
        elif decision is Decision.PARTIAL:
            assert isinstance(outcome, Partial)
            self._settle(partition, segment, self._partial(partition, segment, outcome), progress)
        elif decision is Decision.SPLIT:
            half = len(segment) // 2
            for part in (segment[:half], segment[half:]):
                paused = self._deliver_segment(partition, part, progress)
                if paused is not None:
                    return paused
        elif decision is Decision.DEAD:
            status, message = outcome_status(outcome), describe_outcome(outcome)
            dead = [
                (item.job_id, _record("Customer.io refused it", item.action, status, 1, message))
                for item in segment
            ]
            self._dead(partition, dead)
            self._settle(partition, segment, [job_id for job_id, _ in dead], progress)
        else:  # RETRY, HOLD
            if decision is Decision.HOLD:
                log.error(
                    "track_credentials_rejected",
                    http_status=outcome_status(outcome),
                    message=describe_outcome(outcome),
                )
            return self._retry_later(partition, segment, outcome, progress)
        return None

    def _partial(self, partition: int, segment: Sequence[Item], outcome: Partial) -> list[str]:
        """Dead-letter the items a 207 lists; returns their job ids."""
        rejected = {e.batch_index: e for e in outcome.errors}
        dead = [
            (
                item.job_id,
                _record(
                    f"Customer.io rejected {item.action} ({rejected[n].reason})",
                    item.action,
                    outcome_status(outcome),
                    1,
                    f"{rejected[n].field}: {rejected[n].message}".strip(": "),
                ),
            )
            for n, item in enumerate(segment)
            if n in rejected
        ]
        self._dead(partition, dead)
        return [job_id for job_id, _ in dead]

    def _send(self, partition: int, segment: Sequence[Item], attempt: int) -> Outcome:
        track = self.parts.track
        self.parts.limiters.track.acquire()
        if segment[0].anonymous:
            body = segment[0].operation
            outcome = track.track_anonymous(
                str(body.get("name", "")),
                anonymous_id=body.get("anonymous_id"),
                data=body.get("data"),
                id=body.get("id"),
                timestamp=body.get("timestamp"),
            )
        else:
            outcome = track.batch_encoded([item.encoded for item in segment])
        # Counted now, written with the settle or attempt that follows (no round trip here).
        tally = self.ledger.tally
        tally.add("track_requests")
        tally.add("track_request_ops", len(segment))
        if isinstance(outcome, RateLimited):
            tally.add("track_429")
        log.info(
            "delivery_attempt",
            queue=self.parts.keys.track_queue(partition),
            first_job_id=segment[0].job_id,
            operation="anonymous event" if segment[0].anonymous else "batch",
            operations=len(segment),
            attempt=attempt,
            http_status=outcome_status(outcome),
            outcome=type(outcome).__name__.lower(),
            latency_ms=round(getattr(outcome, "latency_s", 0.0) * 1000, 1),
        )
        return outcome

    def _retry_later(
        self, partition: int, segment: Sequence[Item], outcome: Outcome, progress: _Progress
    ) -> Paused | None:
        attempts, first_at = self.ledger.attempt(partition)
        policy = self.parts.policy
        retry_after = outcome.retry_after_s if isinstance(outcome, RateLimited) else None
        delay = policy.backoff(attempts, retry_after)
        if isinstance(outcome, RateLimited):
            self.parts.limiters.track.pause(retry_after if retry_after is not None else delay)
        if policy.give_up(attempts, first_at, time.time()):
            status, message = outcome_status(outcome), describe_outcome(outcome)
            dead = [
                (
                    item.job_id,
                    _record(
                        f"gave up after {attempts} attempts",
                        item.action,
                        status,
                        attempts,
                        message,
                        first_at=first_at,
                    ),
                )
                for item in segment
            ]
            self._dead(partition, dead)
            self._settle(partition, segment, [job_id for job_id, _ in dead], progress)
            return None
        self.ledger.tally.add("track_retried", len(segment))
        self.ledger.pause(partition, delay, describe_outcome(outcome))
        return Paused(delay, describe_outcome(outcome))

    def _settle(
        self, partition: int, segment: Sequence[Item], dead: list[str], progress: _Progress
    ) -> None:
        # The head to take off: every claimed id up to this segment's last, in claim order.
        end = progress.order.index(segment[-1].job_id, progress.settled) + 1
        head = progress.order[progress.settled : end]
        dead_ids = set(dead)
        delivered = [item.job_id for item in segment if item.job_id not in dead_ids]
        now = time.time()
        for job_id in delivered:
            self.ledger.tally.latency("track", progress.produced_at.get(job_id), now)
        self.ledger.settle(partition, head, delivered, keep_s=self._keep_s)
        progress.settled = end
        progress.attempt = 1  # settling restarts the count (the attempt hash is deleted)

    def _dead(self, partition: int, dead: list[tuple[str, DeadLetterRecord]]) -> None:
        queue = self.parts.keys.track_queue(partition)
        records = [(job_id, replace(record, queue=queue)) for job_id, record in dead]
        lost = set(self.ledger.dead_letter(partition, records, self.parts.dead_letter_ttl_s))
        for job_id, record in records:
            if job_id in lost:
                log.error("job_data_gone", queue=queue, job_id=job_id, reason=record.reason)
            else:
                log.warning(
                    "dead_lettered",
                    queue=queue,
                    job_id=job_id,
                    operation=record.operation,
                    http_status=record.status,
                )


def _record(
    reason: str,
    operation: str,
    status: int | None,
    attempts: int,
    message: str = "",
    *,
    first_at: float | None = None,
) -> DeadLetterRecord:
    now = time.time()
    return DeadLetterRecord(
        reason=reason,
        operation=operation,
        status=status,
        message=message,
        attempts=attempts,
        first_attempt_at=first_at or now,
        last_attempt_at=now,
    )
