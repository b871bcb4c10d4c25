"""Table tests of retry timing: backoff, give_up, and RetryPolicy (the decision table is in
test_decisions.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cio_pipeline.worker.clients.outcomes import (
    Ambiguous,
    Transient,
)
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.policy.decisions import Decision, Work
from cio_pipeline.worker.policy.retry import RetryPolicy, backoff, give_up


def fixed(value: float) -> Callable[[], float]:
    """A deterministic random source."""
    return lambda: value


@pytest.mark.parametrize(
    ("attempt", "retry_after_s", "rand", "expected"),
    [
        # full jitter: rand() * min(cap, base * 2 ** (attempt - 1)), base 1 s, cap 60 s
        (1, None, 1.0, 1.0),
        (1, None, 0.5, 0.5),
        (1, None, 0.0, 0.0),
        (2, None, 1.0, 2.0),
        (3, None, 0.25, 1.0),
        (6, None, 1.0, 32.0),
        (7, None, 1.0, 60.0),  # 64 capped to 60
        (7, None, 0.5, 30.0),
        (50, None, 0.5, 30.0),
        (10_000, None, 1.0, 60.0),  # no float overflow
        # Retry-After is a floor, never shortened, and not capped
        (1, 5.0, 0.5, 5.0),
        (6, 5.0, 0.5, 16.0),
        (6, 5.0, 0.0, 5.0),
        (1, 0.0, 0.3, 0.3),
        (1, 120.0, 1.0, 120.0),
    ],
)
def test_backoff(attempt: int, retry_after_s: float | None, rand: float, expected: float) -> None:
    delay = backoff(attempt, retry_after_s, base_s=1.0, cap_s=60.0, rand=fixed(rand))
    assert delay == pytest.approx(expected)


def test_backoff_is_never_less_than_retry_after_nor_above_the_cap() -> None:
    values = [i / 100 for i in range(101)]
    for attempt in range(1, 40):
        for r in values:
            plain = backoff(attempt, None, base_s=0.5, cap_s=30.0, rand=fixed(r))
            assert 0.0 <= plain <= 30.0
            floored = backoff(attempt, 12.0, base_s=0.5, cap_s=30.0, rand=fixed(r))
            assert floored == max(plain, 12.0)


@pytest.mark.parametrize(
    ("attempt", "rand", "match"),
    [(0, 0.5, "attempt"), (-1, 0.5, "attempt"), (1, 1.5, "rand"), (1, -0.1, "rand")],
)
def test_backoff_refuses_bad_input(attempt: int, rand: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        backoff(attempt, None, base_s=1.0, cap_s=60.0, rand=fixed(rand))


@pytest.mark.parametrize(
    ("attempts", "first_at", "now", "expected"),
    [
        (1, 1000.0, 1000.0, False),
        (9, 1000.0, 1000.0, False),
        (10, 1000.0, 1000.0, True),  # max_attempts made
        (11, 1000.0, 1000.0, True),
        (1, 1000.0, 1000.0 + 3599.9, False),
        (1, 1000.0, 1000.0 + 3600.0, True),  # max_age reached
        (1, 1000.0, 1000.0 + 99_999.0, True),
    ],
)
def test_give_up(attempts: int, first_at: float, now: float, expected: bool) -> None:
    assert give_up(attempts, first_at, now, max_attempts=10, max_age_s=3600.0) is expected


def test_retry_policy_binds_settings_and_random_source() -> None:
    settings = WorkerSettings(
        max_attempts=3,
        backoff_base_s=2.0,
        backoff_cap_s=10.0,
        max_age_s=100.0,
        send_at_least_once=True,
    )
    policy = RetryPolicy.from_settings(settings, rand=fixed(1.0))
    assert (policy.max_attempts, policy.base_s, policy.cap_s, policy.max_age_s) == (
        3,
        2.0,
        10.0,
        100.0,
    )
    assert policy.backoff(1) == 2.0
    assert policy.backoff(2) == 4.0
    assert policy.backoff(5) == 10.0
    assert policy.backoff(1, retry_after_s=30.0) == 30.0
    assert policy.classify(Transient("bad gateway", status=502), Work.SEND) is Decision.RETRY
    assert policy.give_up(3, 0.0, 1.0)
    assert policy.give_up(1, 0.0, 100.0)
    assert not policy.give_up(2, 0.0, 99.0)


def test_retry_policy_default_is_at_most_once_for_sends() -> None:
    policy = RetryPolicy.from_settings(WorkerSettings())
    assert policy.classify(Ambiguous("read timeout"), Work.SEND) is Decision.AMBIGUOUS
    assert 0.0 <= policy.backoff(3) <= 4.0
