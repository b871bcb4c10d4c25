"""Typed outcomes of one HTTP call to Customer.io.

The clients never retry and never raise for an HTTP answer: they return one of these values
and the delivery policy (:mod:`cio_pipeline.worker.policy.retry`) decides what happens next.
Messages here never contain request bodies (they may hold personal data)::

    Outcome
    ├── Success       2xx (but 207): the parsed JSON body (``delivery_id`` for sends)
    ├── Partial       207 from /api/v2/batch: the failed batch indexes with Customer.io's reasons
    ├── RateLimited   429, with Retry-After seconds when the server sent one
    ├── Transient     408, 5xx, or the connection failed before the request was sent
    ├── Ambiguous     the request may have reached Customer.io: read timeout, reset after sending
    └── Permanent     any other 4xx (401/403 name the credential and the API)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Ambiguous",
    "BatchItemError",
    "Outcome",
    "Partial",
    "Permanent",
    "RateLimited",
    "Success",
    "Transient",
    "describe_outcome",
    "outcome_status",
]


@dataclass(frozen=True)
class Success:
    """The request was accepted."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    latency_s: float = 0.0


@dataclass(frozen=True)
class BatchItemError:
    """One rejected item of a ``/api/v2/batch`` request (207)."""

    batch_index: int
    reason: str = ""
    field: str = ""
    message: str = ""


@dataclass(frozen=True)
class Partial:
    """207: the listed batch items were rejected, every other item was accepted."""

    errors: tuple[BatchItemError, ...]
    status: int = 207
    latency_s: float = 0.0


@dataclass(frozen=True)
class RateLimited:
    """429. ``retry_after_s`` is None when the server sent no (valid) Retry-After header."""

    retry_after_s: float | None = None
    status: int = 429
    latency_s: float = 0.0


@dataclass(frozen=True)
class Transient:
    """A failure worth retrying: 408, 5xx, or no connection. ``status`` is None without one.

    ``sent`` is False only when the request certainly never left this process (connect error,
    pool timeout), which is what makes a transactional send safe to retry.
    """

    reason: str
    status: int | None = None
    sent: bool = True
    latency_s: float = 0.0


@dataclass(frozen=True)
class Ambiguous:
    """The request may have reached Customer.io and may have been acted on (no answer read)."""

    reason: str
    latency_s: float = 0.0


@dataclass(frozen=True)
class Permanent:
    """A 4xx that retrying cannot fix; ``message`` is Customer.io's error text (or ours)."""

    status: int
    message: str
    latency_s: float = 0.0


Outcome = Success | Partial | RateLimited | Transient | Ambiguous | Permanent


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
