"""Exceptions a job raises to tell the worker what happens next.

They never reach an application: the worker turns them into a scheduled retry or a dead
letter. Messages hold no request bodies, credentials or attribute values::

    JobOutcome
    ├── RetryLater    schedule the job again after ``delay_s`` (survives worker restarts)
    └── DeadLetter    park the job in its queue's FailedJobRegistry with ``reason``
"""

from __future__ import annotations

from typing import Any

__all__ = ["DeadLetter", "JobOutcome", "RetryLater"]


class JobOutcome(Exception):
    """Base of the outcomes a job reports by raising."""


class RetryLater(JobOutcome):
    """Try the job again in ``delay_s`` seconds."""

    def __init__(self, delay_s: float, reason: str) -> None:
        super().__init__(f"retry in {delay_s:.2f} s: {reason}")
        self.delay_s = delay_s
        self.reason = reason


class DeadLetter(JobOutcome):
    """The job cannot be delivered; ``details`` is the dead-letter record (primitives only)."""

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(str(details.get("reason", "dead letter")))
        self.details = details
