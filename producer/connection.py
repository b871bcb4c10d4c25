"""The producer's Redis connection: bounded timeouts and no silent retries."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.connection import AbstractConnection
from redis.retry import Retry
from redis.sentinel import SentinelManagedConnection

from cio_pipeline.producer.compat.redis import plain_read_response
from cio_pipeline.producer.redis_endpoint import redis_client
from cio_pipeline.producer.settings import Settings

__all__ = ["ReadOnlyIsRefusal", "connect"]


class ReadOnlyIsRefusal(AbstractConnection):
    """Mixin: under Sentinel, a ``READONLY`` reply (the master we hold was demoted) stays a
    ``ReadOnlyError``, so the producer reports its jobs "not written" (Redis refused the
    write before running it), while the connection is dropped so the next one asks the
    Sentinels for the new master. (redis-py turns it into a ``ConnectionError``, which the
    producer would have to report as "answer lost, fate unknown".)"""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(self, SentinelManagedConnection):
            return super().read_response(*args, **kwargs)
        try:
            return plain_read_response(self, *args, **kwargs)
        except redis.ReadOnlyError:
            self.disconnect()  # type: ignore[no-untyped-call]
            raise


def connect(settings: Settings) -> redis.Redis:
    """A Redis client for ``settings`` (URL, TLS, Sentinel) that fails within
    ``redis_timeout_s``.

    Connecting and one reply may each take at most half the budget, and redis-py's own
    retries are off, so a call either completes or raises within ``CIO_REDIS_TIMEOUT_S``.
    """
    half = settings.redis_timeout_s / 2
    return redis_client(
        settings,
        mixins=(ReadOnlyIsRefusal,),
        socket_timeout=half,
        socket_connect_timeout=half,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
