"""The producer's Redis connection: bounded timeouts and no silent retries."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from producer.settings import Settings

__all__ = ["connect"]


def connect(settings: Settings) -> redis.Redis:
    """A Redis client for ``settings.redis_url`` that fails within ``redis_timeout_s``.

    Connecting and one reply may each take at most half the budget, and redis-py's own
    retries are off, so a call either completes or raises within ``CIO_REDIS_TIMEOUT_S``.
    """
    half = settings.redis_timeout_s / 2
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=half,
        socket_connect_timeout=half,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
