"""RedisOutage's log lines with an injected clock: once when Redis goes, once a minute while
it stays away, once when it is back; ``redis_full`` at most once a minute."""

from __future__ import annotations

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


def test_an_outage_is_logged_once_then_once_a_minute_then_back() -> None:
    clock = Clock()
    outage = RedisOutage(clock)
    with capture_logs() as logs:
        outage.answered()  # nothing to say while Redis answers
        for _ in range(100):
            outage.failed(redis.ConnectionError("refused"))
        clock.now += 59
        outage.failed(redis.ConnectionError("refused"))
        clock.now += 2
        outage.failed(redis.TimeoutError("timeout"))
        outage.failed(redis.TimeoutError("timeout"))
        clock.now += 5
        outage.answered()
        outage.answered()
    assert events(logs) == ["redis_unavailable", "redis_still_unavailable", "redis_available"]
    assert logs[1]["down_s"] == 61 and logs[2]["down_s"] == 66.0


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
