"""Exceptions a job raises to tell the worker what happens next.

They never reach an application: the worker turns them into a scheduled retry or a dead
letter. Messages hold no request bodies, credentials or attribute values::

    JobOutcome
    ├── RetryLater    schedule the job again after ``delay_s`` (survives worker restarts)
    └── DeadLetter    park the job in its queue's FailedJobRegistry with its record
                      (:mod:`cio_pipeline.worker.deadletters.record`, which defines it)
"""

from __future__ import annotations

__all__ = ["JobOutcome", "RetryLater"]


class JobOutcome(Exception):
    """Base of the outcomes a job reports by raising."""


class RetryLater(JobOutcome):
    """Try the job again in ``delay_s`` seconds."""

    def __init__(self, delay_s: float, reason: str) -> None:
        super().__init__(f"retry in {delay_s:.2f} s: {reason}")
        self.delay_s = delay_s
        self.reason = reason
