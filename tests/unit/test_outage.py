"""RedisOutage's log lines with an injected clock: once when Redis goes, at 5 and 15 s, then
once a minute while it stays away, once when it is back; ``redis_full`` at most once a minute;
a refused password is not retried."""

from __future__ import annotations

import pytest
import redis
from structlog.testing import capture_logs

from cio_pipeline.worker.core.outage import RedisOutage, is_redis_full


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def events(logs: list[dict[str, object]]) -> list[object]:
    return [line["event"] for line in logs]


def test_an_outage_is_logged_at_once_then_at_5_and_15_s_then_once_a_minute_then_back() -> None:
    clock = Clock()
    outage = RedisOutage(clock, address="redis://***@10.0.0.9:6379/0")
    with capture_logs() as logs:
        outage.answered()  # nothing to say while Redis answers
        for second in range(200):  # one failed command every half second for 100 s
            clock.now = 1000.0 + second / 2
            outage.failed(redis.ConnectionError("refused"))
            outage.failed(redis.TimeoutError("timeout"))
        clock.now = 1000.0 + 125
        outage.failed(redis.TimeoutError("timeout"))
        clock.now += 5
        outage.answered()
        outage.answered()
    assert events(logs) == [
        "redis_unavailable",
        *["redis_still_unavailable"] * 4,
        "redis_available",
    ]
    assert [line["down_s"] for line in logs[1:5]] == [5, 15, 60, 125]
    assert logs[0]["address"] == "redis://***@10.0.0.9:6379/0" and logs[0]["waiting"] is True
    assert logs[5]["down_s"] == 130.0


def test_a_refused_password_is_not_waited_for() -> None:
    from cio_pipeline.worker.core.outage import OutageRetry

    retry = OutageRetry(RedisOutage(Clock()), cap_s=0.1)
    calls = []

    def refused() -> None:
        calls.append(1)
        raise redis.AuthenticationError("invalid username-password pair")

    with capture_logs() as logs, pytest.raises(redis.AuthenticationError):
        retry.call_with_retry(refused, lambda error: None)
    assert calls == [1] and logs == []  # not an outage: no wait, no redis_unavailable


def test_a_full_redis_is_logged_at_most_once_a_minute() -> None:
    clock = Clock()
    outage = RedisOutage(clock)
    with capture_logs() as logs:
        for step in range(0, 130, 10):
            clock.now = 1000.0 + step
            outage.full()
    assert events(logs) == ["redis_full"] * 3  # at 0, 60 and 120 s


def test_only_the_maxmemory_refusal_counts_as_full() -> None:
    assert is_redis_full(redis.exceptions.OutOfMemoryError("command not allowed"))
    assert is_redis_full(redis.ResponseError("OOM command not allowed when used memory"))
    assert not is_redis_full(redis.ResponseError("WRONGTYPE"))
    assert not is_redis_full(redis.ConnectionError("refused"))
