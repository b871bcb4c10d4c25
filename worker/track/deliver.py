"""Delivering one partition's claimed batch, in order, to the Track API.

The claimed items are cut into requests (:func:`~worker.track.items.cut_segments`) and sent
one after the other, each after taking a token from the shared Track limiter:

- 200: the request's jobs finish;
- 207: the listed ``batch_index`` items are dead-lettered with Customer.io's reason, the
  rest finish;
- a whole-request 400 or 413: the request is split in halves, delivered first half first,
  until each poison operation is dead-lettered alone and every good one is delivered;
- 429, 408, 5xx, connection failures: the rest of the batch stays claimed at the head of the
  partition, the partition pauses for the backoff (a 429 pauses all Track work, for every
  worker, for Retry-After), and the same batch is tried again; after ``CIO_MAX_ATTEMPTS``
  attempts or ``CIO_MAX_AGE_S`` it is dead-lettered and the partition moves on.

Track operations are idempotent (identify) or de-duplicated (events carry ULIDs), so every
transient failure is retried and a repeat after a crash is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from worker.attempts import describe_outcome, outcome_status
from worker.clients.outcomes import Outcome, Partial, RateLimited
from worker.context import WorkerContext
from worker.logs import get_logger
from worker.retry import Decision
from worker.track.items import Item, Unreadable, cut_segments
from worker.track.ledger import Claim, Ledger

__all__ = ["BatchDelivery", "Paused"]

log = get_logger("cio.track")

#: Track answers that mean "fix the credentials", not "this operation is bad".
_CREDENTIAL_STATUSES = frozenset({401, 403})


@dataclass(frozen=True)
class Paused:
    """Delivery stopped on a retryable failure; the rest stays claimed for ``delay_s``."""

    delay_s: float
    reason: str


class BatchDelivery:
    """Delivers claimed batches of the partitions a worker leases."""

    def __init__(self, ctx: WorkerContext, ledger: Ledger) -> None:
        self.ctx = ctx
        self.ledger = ledger
        self.settings = ctx.settings
        self._order: list[str] = []
        self._settled = 0
        self._attempt = 1
        self._keep_s = ctx.settings.track_keep_delivered_s

    def deliver(self, partition: int, claim: Claim) -> Paused | None:
        """Deliver ``claim`` to the end (None) or until a retryable failure (Paused)."""
        unreadable = [i for i in claim.items if isinstance(i, Unreadable)]
        if unreadable:
            self._dead(
                partition,
                [(u.job_id, self._record(u.reason, "unknown", None, 0)) for u in unreadable],
            )
        # Settling takes ids off the head of the claimed list in claim order; unreadable jobs
        # (dead-lettered above) go with the request that follows them.
        self._order = [i.job_id for i in claim.items]
        self._settled = 0
        self._attempt = claim.failed_attempts + 1
        items = [i for i in claim.items if isinstance(i, Item)]
        if not items:
            self.ledger.settle(partition, self._order, [], keep_s=self._keep_s)
            return None
        for segment in cut_segments(
            items, max_ops=self.settings.batch_max_ops, max_bytes=self.settings.batch_max_bytes
        ):
            paused = self._deliver_segment(partition, segment)
            if paused is not None:
                return paused
        return None

    def _deliver_segment(self, partition: int, segment: Sequence[Item]) -> Paused | None:
        outcome = self._send(partition, segment)
        decision = self.ctx.policy.classify(outcome, idempotent=True)
        status = outcome_status(outcome)
        if decision is Decision.DELIVERED:
            self._settle(partition, segment, dead=[])
            return None
        if decision is Decision.PARTIAL:
            assert isinstance(outcome, Partial)
            rejected = {e.batch_index: e for e in outcome.errors}
            dead = [
                (
                    item.job_id,
                    self._record(
                        f"Customer.io rejected {item.action} ({rejected[n].reason})",
                        item.action,
                        status,
                        1,
                        message=f"{rejected[n].field}: {rejected[n].message}".strip(": "),
                    ),
                )
                for n, item in enumerate(segment)
                if n in rejected
            ]
            self._dead(partition, dead)
            self._settle(partition, segment, dead=[d[0] for d in dead])
            return None
        if decision is Decision.DEAD and status in _CREDENTIAL_STATUSES:
            # Rejected credentials say nothing about these operations: dead-lettering them
            # would empty every partition into the dead-letter queue (and replays would land
            # behind newer work). Hold the partition and retry until the key is fixed, or
            # until CIO_MAX_ATTEMPTS / CIO_MAX_AGE_S run out.
            log.error(
                "track_credentials_rejected", http_status=status, message=describe_outcome(outcome)
            )
            return self._retry_later(partition, segment, outcome)
        if decision is Decision.DEAD:
            if status in (400, 413) and len(segment) > 1:
                half = len(segment) // 2
                for part in (segment[:half], segment[half:]):
                    paused = self._deliver_segment(partition, part)
                    if paused is not None:
                        return paused
                return None
            dead = [
                (
                    item.job_id,
                    self._record(
                        "Customer.io refused it",
                        item.action,
                        status,
                        1,
                        message=describe_outcome(outcome),
                    ),
                )
                for item in segment
            ]
            self._dead(partition, dead)
            self._settle(partition, segment, dead=[d[0] for d in dead])
            return None
        return self._retry_later(partition, segment, outcome)

    def _send(self, partition: int, segment: Sequence[Item]) -> Outcome:
        track = self.ctx.track
        self.ctx.limiters.track.acquire()
        if segment[0].anonymous:
            body = segment[0].operation
            outcome = track.track_anonymous(
                body["name"],
                anonymous_id=body.get("anonymous_id"),
                data=body.get("data"),
                id=body.get("id"),
                timestamp=body.get("timestamp"),
            )
        else:
            outcome = track.batch_encoded([item.encoded for item in segment])
        log.info(
            "delivery_attempt",
            queue=self.ctx.keys.track_queue(partition),
            first_job_id=segment[0].job_id,
            operation="anonymous event" if segment[0].anonymous else "batch",
            operations=len(segment),
            attempt=self._attempt,
            http_status=outcome_status(outcome),
            outcome=type(outcome).__name__.lower(),
            latency_ms=round(getattr(outcome, "latency_s", 0.0) * 1000, 1),
        )
        return outcome

    def _retry_later(
        self, partition: int, segment: Sequence[Item], outcome: Outcome
    ) -> Paused | None:
        attempts, first_at = self.ledger.attempt(partition)
        policy = self.ctx.policy
        retry_after = outcome.retry_after_s if isinstance(outcome, RateLimited) else None
        delay = policy.backoff(attempts, retry_after)
        if isinstance(outcome, RateLimited):
            self.ctx.limiters.track.pause(retry_after if retry_after is not None else delay)
        if policy.give_up(attempts, first_at, time.time()):
            dead = [
                (
                    item.job_id,
                    self._record(
                        f"gave up after {attempts} attempts",
                        item.action,
                        outcome_status(outcome),
                        attempts,
                        message=describe_outcome(outcome),
                        first_at=first_at,
                    ),
                )
                for item in segment
            ]
            self._dead(partition, dead)
            self._settle(partition, segment, dead=[d[0] for d in dead])
            return None
        self.ledger.pause(partition, delay)
        return Paused(delay, describe_outcome(outcome))

    def _settle(self, partition: int, segment: Sequence[Item], dead: list[str]) -> None:
        # The head to take off: every claimed id up to this segment's last, in claim order.
        end = self._order.index(segment[-1].job_id, self._settled) + 1
        head = self._order[self._settled : end]
        dead_ids = set(dead)
        delivered = [item.job_id for item in segment if item.job_id not in dead_ids]
        self.ledger.settle(partition, head, delivered, keep_s=self._keep_s)
        self._settled = end
        self._attempt = 1  # settling restarts the count (the attempt hash is deleted)

    def _dead(self, partition: int, dead: list[tuple[str, dict[str, Any]]]) -> None:
        queue = self.ctx.keys.track_queue(partition)
        lost = set(self.ledger.dead_letter(partition, dead, self.ctx.dead_letter_ttl_s))
        for job_id, details in dead:
            if job_id in lost:
                log.error("job_data_gone", queue=queue, job_id=job_id, reason=details["reason"])
            else:
                log.warning(
                    "dead_lettered",
                    queue=queue,
                    job_id=job_id,
                    operation=details["operation"],
                    http_status=details["status"],
                )

    def _record(
        self,
        reason: str,
        operation: str,
        status: int | None,
        attempts: int,
        *,
        message: str = "",
        first_at: float | None = None,
    ) -> dict[str, Any]:
        now = time.time()
        return {
            "reason": reason,
            "operation": operation,
            "status": status,
            "message": message,
            "attempts": attempts,
            "first_attempt_at": first_at or now,
            "last_attempt_at": now,
            "ambiguous": False,
        }
