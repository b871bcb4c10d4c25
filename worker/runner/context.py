"""Everything a job needs while it runs in a worker process, built once per process.

RQ calls job functions by name with only the job's arguments, so the functions find their
Redis client, HTTP clients, limiters and policy here. ``cio-pipeline worker`` installs a
context at start-up; anywhere else (a plain ``rq worker``, a test) one is built from the
environment on first use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import redis

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.masking import describe_redis
from cio_pipeline.producer.redis_endpoint import redis_client
from cio_pipeline.worker.clients.app import AppClient
from cio_pipeline.worker.clients.track import TrackClient
from cio_pipeline.worker.core.outage import OutageRetry, RedisOutage
from cio_pipeline.worker.core.replicas import replica_wait
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.ops.counters import Tally
from cio_pipeline.worker.policy.retry import RetryPolicy
from cio_pipeline.worker.ratelimit.surfaces import SurfaceLimiters, build_limiters
from cio_pipeline.worker.transactional.records import DeliveryRecords
from cio_pipeline.worker.webhooks.hook import Hook, load_hook
from cio_pipeline.worker.webhooks.process import PENDING_TTL_S
from cio_pipeline.worker.webhooks.store import EventLedger, SuppressionStore

__all__ = ["WorkerContext", "current", "install", "worker_connection"]


def worker_connection(
    settings: WorkerSettings, outage: RedisOutage | None = None, *, wait_when_full: bool = False
) -> redis.Redis:
    """The worker's Redis client: no read timeout (RQ blocks on BLPOP), bounded connects,
    keep-alive and periodic health checks so a dead server is noticed.

    With ``outage`` (worker processes), a lost connection is retried until Redis answers
    again (:mod:`cio_pipeline.worker.core.outage`); without it (CLI commands) redis-py's few retries
    apply and the command fails, so an operator is not left waiting. ``wait_when_full`` also waits
    out writes refused at ``maxmemory`` (RQ's client; see :class:`OutageRetry`). TLS and Sentinel
    come from the settings (:mod:`cio_pipeline.producer.redis_endpoint`); with
    ``CIO_REDIS_MIN_REPLICAS`` every write waits for replicas
    (:mod:`cio_pipeline.worker.core.replicas`).
    """
    extra: dict[str, Any] = {}
    if outage is not None:
        extra["retry"] = OutageRetry(
            outage, settings.redis_retry_cap_s, wait_when_full=wait_when_full
        )
    queue = settings.queue
    mixins = (
        (replica_wait(queue.redis_min_replicas, queue.redis_replica_timeout_ms),)
        if queue.redis_min_replicas
        else ()
    )
    return redis_client(
        queue,
        mixins=mixins,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
        **extra,
    )


@dataclass
class WorkerContext:
    """One worker process's shared parts. HTTP clients are created on first use, so a worker
    that only sends transactional messages needs no Track credentials (and vice versa).

    ``app_client`` and ``track_client`` replace the clients built from the settings (tests
    pass clients on ``httpx.MockTransport``); ``rand`` is the backoff's random source.
    """

    settings: WorkerSettings
    connection: redis.Redis
    rand: random.Random = field(default_factory=random.Random)
    app_client: AppClient | None = None
    track_client: TrackClient | None = None
    #: Redis availability as this process sees it (what the connection's retries report to)
    outage: RedisOutage = field(default_factory=RedisOutage)

    @cached_property
    def keys(self) -> Keys:
        return Keys.of(self.settings.queue)

    @cached_property
    def limiters(self) -> SurfaceLimiters:
        return build_limiters(self.connection, self.settings, self.keys)

    @cached_property
    def policy(self) -> RetryPolicy:
        return RetryPolicy.from_settings(self.settings, rand=self.rand.random)

    @cached_property
    def tally(self) -> Tally:
        """Transactional counts waiting for the next write
        (:mod:`cio_pipeline.worker.ops.counters`)."""
        return Tally(enabled=self.settings.counters)

    @cached_property
    def records(self) -> DeliveryRecords:
        return DeliveryRecords(self.connection, self.keys, self.settings.delivery_record_ttl_s)

    @cached_property
    def suppressions(self) -> SuppressionStore:
        return SuppressionStore(self.connection, self.keys)

    @cached_property
    def ledger(self) -> EventLedger:
        return EventLedger(
            self.connection,
            self.keys,
            pending_ttl_s=PENDING_TTL_S,
            done_ttl_s=self.settings.webhook_dedup_ttl_s,
        )

    @cached_property
    def webhook_hook(self) -> Hook | None:
        """The application's hook (``CIO_WEBHOOK_HOOK``); SettingsError if it cannot load."""
        return load_hook(self.settings.webhook_hook)

    @cached_property
    def app(self) -> AppClient:
        return self.app_client or AppClient(self.settings)

    @cached_property
    def track(self) -> TrackClient:
        return self.track_client or TrackClient(self.settings)

    @property
    def dead_letter_ttl_s(self) -> int:
        return self.settings.dead_letter_ttl_days * 86_400

    def close(self) -> None:
        """Close the HTTP clients that were opened."""
        for name in ("app", "track"):
            client = self.__dict__.get(name)
            if client is not None:
                client.close()


_current: WorkerContext | None = None


def install(context: WorkerContext) -> None:
    """Make ``context`` the one this process's jobs use."""
    global _current
    _current = context


def current() -> WorkerContext:
    """This process's context (built from the environment on first use)."""
    global _current
    if _current is None:
        settings = WorkerSettings.from_env()
        queue = settings.queue
        outage = RedisOutage(
            address=describe_redis(
                queue.redis_url, queue.redis_sentinels, queue.redis_sentinel_master
            )
        )
        _current = WorkerContext(settings, worker_connection(settings, outage), outage=outage)
    return _current
