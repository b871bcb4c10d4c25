"""Attempt bookkeeping kept in a job's ``meta``, and the dead-letter record built from it.

``meta["attempts"]``, ``meta["first_attempt_at"]`` and ``meta["last_attempt_at"]`` (unix
seconds) survive retries and worker restarts because they live in the job's hash. A dead
letter adds ``meta["dead_letter"]``: what a person needs to act (operation, HTTP status,
Customer.io's message, attempts, first/last attempt time, ``ambiguous``). A job that runs
again while it carries a dead letter has been replayed (``dlq replay`` or rq-dashboard's
Requeue): it starts a fresh round of attempts.
"""

from __future__ import annotations

import time
from typing import Any

from rq.job import Job

from worker.clients.outcomes import Outcome, Partial, Permanent, RateLimited, Transient
from worker.core.errors import DeadLetter

__all__ = [
    "begin_attempt",
    "dead_letter",
    "describe_outcome",
    "format_dead_letter",
    "outcome_status",
    "save_meta",
]


def begin_attempt(job: Job, now: float | None = None) -> int:
    """Count a new attempt of ``job`` (in memory; saved with the next meta write)."""
    now = time.time() if now is None else now
    meta = job.meta
    if "dead_letter" in meta:  # replayed by a person: a fresh round of attempts
        meta["replayed_from"] = meta.pop("dead_letter")
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


def outcome_status(outcome: Outcome | None) -> int | None:
    """The HTTP status of an outcome, when there was one."""
    return getattr(outcome, "status", None) if outcome is not None else None


def describe_outcome(outcome: Outcome | None) -> str:
    """Customer.io's message (or ours) for an outcome, one line, no bodies."""
    if outcome is None:
        return ""
    if isinstance(outcome, Permanent):
        return outcome.message
    if isinstance(outcome, Transient):
        return outcome.reason
    if isinstance(outcome, RateLimited):
        return "rate limited (429)"
    if isinstance(outcome, Partial):
        return "; ".join(f"#{e.batch_index} {e.field}: {e.message}" for e in outcome.errors)
    return str(getattr(outcome, "reason", type(outcome).__name__))


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
    details: dict[str, Any] = {
        "reason": reason,
        "operation": operation,
        "status": outcome_status(outcome),
        "message": describe_outcome(outcome),
        "attempts": int(meta.get("attempts", 0)),
        "first_attempt_at": meta.get("first_attempt_at"),
        "last_attempt_at": meta.get("last_attempt_at"),
        "ambiguous": ambiguous,
        "queue": job.origin,
    }
    meta["dead_letter"] = details
    save_meta(job)
    return DeadLetter(details)


def format_dead_letter(details: dict[str, Any]) -> str:
    """The one-paragraph reason shown in rq-dashboard's Failed view and ``dlq show``."""
    parts = [
        f"dead letter: {details.get('operation')}: {details.get('reason')}",
        f"HTTP status: {details.get('status')}",
        f"Customer.io said: {details.get('message') or '-'}",
        f"attempts: {details.get('attempts')}",
        f"ambiguous: {'yes' if details.get('ambiguous') else 'no'}",
    ]
    return "\n".join(parts)
