"""``cio-pipeline health``: an exit code for process managers and Kubernetes probes.

Healthy (exit 0) when Redis answers, at least one worker (of this prefix; ``worker`` narrows
it to one name, ``this_host`` to this host's workers) is registered with RQ with a heartbeat
within its TTL, and, with ``max_lag_s``, no queue's oldest job is older than that. Otherwise
exit 1 with one line saying what is wrong. The line never holds a password (the Redis
address is shown as host:port) nor job data.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import redis

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.ops.stats import live_workers, queue_stats

__all__ = ["HealthReport", "check_health"]


@dataclass(frozen=True)
class HealthReport:
    """The verdict: ``problem`` is None when healthy; ``summary`` says what was found."""

    problem: str | None
    summary: str

    @property
    def exit_code(self) -> int:
        """0 when healthy, 1 otherwise."""
        return 0 if self.problem is None else 1


def _where(connection: redis.Redis) -> str:
    kwargs = connection.connection_pool.connection_kwargs
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def check_health(
    connection: redis.Redis,
    keys: Keys,
    *,
    max_lag_s: float | None = None,
    worker: str | None = None,
    this_host: bool = False,
    now: float | None = None,
) -> HealthReport:
    """Check Redis, live workers and (optionally) the oldest queued job's age."""
    now = time.time() if now is None else now
    try:
        connection.ping()
        workers = live_workers(connection, keys, now)
        queues = queue_stats(connection, keys, now) if max_lag_s is not None else []
    except redis.RedisError as exc:
        return HealthReport(
            f"Redis at {_where(connection)} does not answer ({type(exc).__name__})", ""
        )
    scope = "workers"
    if worker is not None:
        workers = [w for w in workers if w["name"] == worker]
        scope = f"worker {worker!r}"
    if this_host:
        host = socket.gethostname()
        workers = [w for w in workers if w["hostname"] == host]
        scope = f"{scope} on host {host!r}"
    if not workers:
        return HealthReport(
            f"no live {scope} (none registered with a heartbeat within its TTL "
            f"under prefix {keys.prefix!r})",
            "",
        )
    summary = f"{len(workers)} live worker(s)"
    for queue in queues:
        age = queue["oldest_age_s"]
        if max_lag_s is not None and age is not None and age > max_lag_s:
            return HealthReport(
                f"queue {queue['name']}: oldest job waiting {age:.1f} s > --max-lag-s "
                f"{max_lag_s:g} ({queue['depth']} queued)",
                summary,
            )
    return HealthReport(None, summary)
