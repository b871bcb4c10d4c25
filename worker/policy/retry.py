"""Retry timing: how long to back off, when to give up, and the policy bound to the settings.

Pure functions of their arguments (the random source and the clock's readings included), so
they are tested with tables; :class:`RetryPolicy` bundles them, and the decision table of
:mod:`.decisions`, with the settings and a random source.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cio_pipeline.worker.clients.outcomes import Outcome
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.policy.decisions import Decision, Work, classify

__all__ = ["RetryPolicy", "backoff", "give_up"]

# Beyond this many doublings any sane cap is reached; it also keeps 2 ** n from overflowing a float.
_MAX_DOUBLINGS = 64


def backoff(
    attempt: int,
    retry_after_s: float | None,
    *,
    base_s: float,
    cap_s: float,
    rand: Callable[[], float],
) -> float:
    """Seconds to wait before the next attempt, after failed attempt number ``attempt`` (1-based).

    Exponential backoff with full jitter: ``rand() * min(cap_s, base_s * 2 ** (attempt - 1))``,
    ``rand`` returning a float in [0, 1). A server's ``Retry-After`` is a floor: the wait is never
    shorter than it (nor capped, since the server asked for it; ``give_up`` bounds the total).
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    if base_s < 0 or cap_s < 0:
        raise ValueError(f"base_s and cap_s must be >= 0, got {base_s} and {cap_s}")
    r = rand()
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"rand() must return a number in [0, 1], got {r}")
    doublings = attempt - 1
    ceiling = cap_s if doublings >= _MAX_DOUBLINGS else min(cap_s, base_s * 2.0**doublings)
    delay = r * ceiling
    if retry_after_s is not None and retry_after_s > delay:
        return float(retry_after_s)
    return delay


def give_up(
    attempts: int,
    first_attempt_at: float,
    now: float,
    *,
    max_attempts: int,
    max_age_s: float,
) -> bool:
    """True when no attempt should follow: ``max_attempts`` made, or ``max_age_s`` elapsed.

    ``attempts`` counts the attempts made so far; ``first_attempt_at`` and ``now`` are readings of
    one clock in seconds (e.g. unix time stored with the job).
    """
    return attempts >= max_attempts or now - first_attempt_at >= max_age_s


@dataclass(frozen=True)
class RetryPolicy:
    """The retry functions bound to the settings and one random source."""

    max_attempts: int = 10
    base_s: float = 1.0
    cap_s: float = 300.0
    max_age_s: float = 86_400.0
    at_least_once: bool = False
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    @classmethod
    def from_settings(
        cls, settings: WorkerSettings, rand: Callable[[], float] = random.random
    ) -> RetryPolicy:
        """The policy of ``settings`` (``CIO_MAX_ATTEMPTS``, ``CIO_BACKOFF_*``, ...)."""
        return cls(
            max_attempts=settings.max_attempts,
            base_s=settings.backoff_base_s,
            cap_s=settings.backoff_cap_s,
            max_age_s=settings.max_age_s,
            at_least_once=settings.send_at_least_once,
            rand=rand,
        )

    def classify(self, outcome: Outcome, work: Work, *, operations: int = 1) -> Decision:
        """:func:`~cio_pipeline.worker.policy.decisions.classify` with this policy's
        ``at_least_once``."""
        return classify(outcome, work, operations=operations, at_least_once=self.at_least_once)

    def backoff(self, attempt: int, retry_after_s: float | None = None) -> float:
        """:func:`backoff` with this policy's base, cap and random source."""
        return backoff(attempt, retry_after_s, base_s=self.base_s, cap_s=self.cap_s, rand=self.rand)

    def give_up(self, attempts: int, first_attempt_at: float, now: float) -> bool:
        """:func:`give_up` with this policy's limits."""
        return give_up(
            attempts,
            first_attempt_at,
            now,
            max_attempts=self.max_attempts,
            max_age_s=self.max_age_s,
        )
