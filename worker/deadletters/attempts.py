"""Attempt bookkeeping kept in a job's ``meta``, and the dead letter a job raises.

``meta["attempts"]``, ``meta["first_attempt_at"]`` and ``meta["last_attempt_at"]`` (unix
seconds) survive retries and worker restarts because they live in the job's hash. A dead
letter adds ``meta["dead_letter"]``: what a person needs to act (operation, HTTP status,
Customer.io's message, attempts, first/last attempt time, ``ambiguous``). A job that runs
again while it carries a dead letter has been replayed (``dlq replay`` or rq-dashboard's
Requeue): it starts a fresh round of attempts.
"""

from __future__ import annotations

import time

from rq.job import Job

from cio_pipeline.worker.clients.outcomes import Outcome, describe_outcome, outcome_status
from cio_pipeline.worker.deadletters.record import META_KEY, DeadLetter, DeadLetterRecord

__all__ = ["begin_attempt", "dead_letter", "save_meta"]


def begin_attempt(job: Job, now: float | None = None) -> int:
    """Count a new attempt of ``job`` (in memory; saved with the next meta write)."""
    now = time.time() if now is None else now
    meta = job.meta
    if META_KEY in meta:  # replayed by a person: a fresh round of attempts
        meta["replayed_from"] = meta.pop(META_KEY)
        meta.pop("attempts", None)
        meta.pop("first_attempt_at", None)
    attempt = int(meta.get("attempts", 0)) + 1
    meta["attempts"] = attempt
    meta.setdefault("first_attempt_at", now)
    meta["last_attempt_at"] = now
    return attempt


def save_meta(job: Job) -> None:
    """Write ``job.meta`` to Redis (attempt counters survive retries and restarts)."""
    job.save_meta()  # type: ignore[no-untyped-call]  # RQ leaves it unannotated


def dead_letter(
    job: Job,
    operation: str,
    reason: str,
    outcome: Outcome | None = None,
    *,
    ambiguous: bool = False,
) -> DeadLetter:
    """Record the dead letter in ``job.meta`` (saved now) and return the exception to raise."""
    meta = job.meta
    record = DeadLetterRecord(
        reason=reason,
        operation=operation,
        status=outcome_status(outcome),
        message=describe_outcome(outcome),
        attempts=int(meta.get("attempts", 0)),
        first_attempt_at=meta.get("first_attempt_at"),
        last_attempt_at=meta.get("last_attempt_at"),
        ambiguous=ambiguous,
        queue=job.origin,
    )
    meta[META_KEY] = record.to_meta()
    save_meta(job)
    return DeadLetter(record)
