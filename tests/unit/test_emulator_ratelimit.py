"""Rate limits: the sliding window itself, and 429s over HTTP."""

from __future__ import annotations

import pytest
from emulator_support import APP, TRACK, emulator_client

from cio_pipeline.devtools.emulator.ratelimit import SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_at_most_rate_requests_in_any_second() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, clock)
    assert [limiter.try_acquire() for _ in range(3)] == [None, None, None]
    clock.now += 0.25
    assert limiter.try_acquire() == pytest.approx(0.75)
    clock.now += 0.75
    assert limiter.try_acquire() is None


def test_rejections_do_not_use_up_the_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, clock)
    assert limiter.try_acquire() is None
    for _ in range(5):
        assert limiter.try_acquire() is not None
    clock.now += 1.0
    assert limiter.try_acquire() is None


def test_fractional_rate_spaces_requests() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(0.5, clock)
    assert limiter.try_acquire() is None
    clock.now += 1.0
    assert limiter.try_acquire() == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.try_acquire() is None


def test_zero_rate_is_unlimited() -> None:
    limiter = SlidingWindowLimiter(0)
    assert all(limiter.try_acquire() is None for _ in range(10_000))


def test_reset_empties_the_window() -> None:
    limiter = SlidingWindowLimiter(1, FakeClock())
    limiter.try_acquire()
    limiter.reset()
    assert limiter.try_acquire() is None


def test_track_over_the_limit_gets_429_with_retry_after() -> None:
    # a rate no test run can reach by accident, then a burst that must exceed it
    with emulator_client(track_rate=5) as client:
        statuses = [client.get("/api/v1/accounts/region", auth=TRACK) for _ in range(8)]
        assert [r.status_code for r in statuses].count(200) == 5
        limited = [r for r in statuses if r.status_code == 429]
        assert limited and all(r.headers["retry-after"] == "1" for r in limited)
        # the App surface has its own (here: no) limit
        assert client.get("/v1/transactional", headers=APP).status_code == 200
        log = client.get("/_emulator/requests?surface=track").json()
        assert [e["status"] for e in log].count(429) == len(limited)


def test_app_limit_without_retry_after() -> None:
    with emulator_client(app_rate=2, send_retry_after=False) as client:
        responses = [client.get("/v1/transactional", headers=APP) for _ in range(4)]
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) == 2 and all("retry-after" not in r.headers for r in limited)


def test_rejected_credentials_do_not_use_the_limit() -> None:
    with emulator_client(track_rate=1) as client:
        for _ in range(3):
            client.get("/api/v1/accounts/region", auth=("bad", "key"))
        assert client.get("/api/v1/accounts/region", auth=TRACK).status_code == 200
