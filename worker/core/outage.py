"""Riding out Redis outages: a worker that loses Redis waits for it instead of dying.

Managed Redis services fail over and restart routinely, so for a worker a lost connection is
a pause, not an error. The worker's Redis client carries an :class:`OutageRetry`: every
command that meets a ``ConnectionError`` or ``TimeoutError`` is retried (a fresh connection
each time) with exponential backoff capped at ``CIO_REDIS_RETRY_CAP_S``, for as long as it
takes, in every thread (RQ's work loop, the Track drainer, lease heartbeats, RQ's pubsub
thread) and in RQ's scheduler process, which inherits the client's settings. Nothing above
the client sees the outage, so no work loop has to be re-entered and no in-memory state (the
outcome of a send in hand) is lost. Once the worker is stopping, a command fails at once
instead, so a stop during an outage does not hang.

:class:`RedisOutage` is what the retries report to: it logs one line when Redis goes away
(naming the address, masked), reminders 5 s and 15 s into the outage and then once a minute
(so a worker started against a wrong address does not look hung), one line when it is back,
and ``redis_full`` at most once a minute when Redis refuses writes at its ``maxmemory``.

Credentials Redis refuses are not an outage: an ``AuthenticationError`` is never retried (it
reaches ``cio-pipeline worker``'s error boundary, which exits 2 naming ``REDIS_URL``), since
waiting cannot fix a wrong password.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from cio_pipeline.producer.compat.redis import CONNECT_ERRORS
from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.worker.core.logs import get_logger

__all__ = ["OutageRetry", "RedisOutage", "check_sentinel_master", "is_redis_full"]

log = get_logger("cio.redis")

T = TypeVar("T")

#: While Redis stays away (or full), one reminder line per this many seconds.
_REMIND_EVERY_S = 60.0
#: The first reminders of an outage come sooner (seconds after it began), then every minute.
_FIRST_REMINDERS_S = (5.0, 15.0)
#: The first reconnect comes this fast; each next one waits twice as long, up to the cap.
_FIRST_RETRY_S = 0.05
_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError)


def is_redis_full(error: BaseException) -> bool:
    """True for Redis's refusal of a write at ``maxmemory`` (``noeviction``)."""
    return isinstance(error, redis.OutOfMemoryError) or (
        isinstance(error, redis.ResponseError) and str(error).startswith("OOM ")
    )


def check_sentinel_master(connection: redis.Redis, master: str | None) -> None:
    """Raise :class:`SettingsError` when the Sentinels that answer all know no master named
    ``master``: a wrong ``CIO_REDIS_SENTINEL_MASTER`` is a mistake to report, not an outage
    to wait out (redis-py raises the same ``MasterNotFoundError`` for both). Sentinels that
    do not answer prove nothing; with none answering, the worker waits as for any outage.
    A client not managed by Sentinel passes."""
    # redis-py's SentinelConnectionPool keeps its Sentinel as ``sentinel_manager``, whose
    # ``sentinels`` are clients with the same TLS and timeouts as the pool's own queries.
    manager = getattr(connection.connection_pool, "sentinel_manager", None)
    if manager is None or not master:
        return
    answers, where = [], []
    for sentinel in manager.sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        where.append(f"{kwargs.get('host')}:{kwargs.get('port')}")
        try:
            answers.append(sentinel.sentinel_masters())
        except redis.RedisError:
            continue
    if answers and all(master not in known for known in answers):
        raise SettingsError(
            f"no Sentinel at {','.join(where)} knows a master named {master!r}: check "
            "CIO_REDIS_SENTINEL_MASTER"
        )


class RedisOutage:
    """One process's view of Redis availability; thread-safe. Logs, never raises."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, address: str = "") -> None:
        self._clock = clock
        self.address = address  # masked (no credentials): it goes into log lines
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_reminder = 0.0
        self._next_full_log = 0.0
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: commands stop waiting for Redis."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """The process is stopping: from now on a lost connection fails the command."""
        self._stopping.set()

    def failed(self, error: BaseException) -> None:
        """A command could not reach Redis (logged once, then once a minute)."""
        now = self._clock()
        with self._lock:
            if self._down_since is None:
                self._down_since = now
                self._next_reminder = now + _FIRST_REMINDERS_S[0]
                log.warning(
                    "redis_unavailable",
                    address=self.address or None,
                    error=type(error).__name__,
                    waiting=True,
                )
            elif now >= self._next_reminder:
                down_s = now - self._down_since
                later = [t for t in _FIRST_REMINDERS_S if t > down_s]
                self._next_reminder = self._down_since + (
                    later[0] if later else (down_s // _REMIND_EVERY_S + 1) * _REMIND_EVERY_S
                )
                log.warning(
                    "redis_still_unavailable",
                    address=self.address or None,
                    error=type(error).__name__,
                    down_s=round(down_s),
                )

    def answered(self) -> None:
        """A command reached Redis (logs once when that ends an outage)."""
        if self._down_since is None:  # the common case: no lock taken
            return
        with self._lock:
            if self._down_since is not None:
                log.info("redis_available", down_s=round(self._clock() - self._down_since, 1))
                self._down_since = None

    def full(self) -> None:
        """Redis refused a write at its memory limit (logged at most once a minute)."""
        now = self._clock()
        with self._lock:
            if now < self._next_full_log:
                return
            self._next_full_log = now + _REMIND_EVERY_S
        log.warning(
            "redis_full",
            hint="Redis is at maxmemory; workers keep delivering, which frees memory",
        )

    def persist(self, write: Callable[[], T], cap_s: float = 5.0) -> T:
        """Run ``write`` until Redis takes it, also while stopping: for the outcome of a
        request that already reached Customer.io, which only this process knows."""
        delay = _FIRST_RETRY_S
        while True:
            try:
                result = write()
            except _UNAVAILABLE as exc:
                self.failed(exc)
            except redis.ResponseError as exc:
                if not is_redis_full(exc):
                    raise
                self.full()
            else:
                self.answered()
                return result
            time.sleep(delay)  # nothing to wait on: Redis announces nothing when it returns
            delay = min(cap_s, delay * 2)


class OutageRetry(Retry):
    """redis-py's retry policy for the worker's client: retry a lost connection forever
    (until the process is stopping), reporting to one :class:`RedisOutage`.

    With ``wait_when_full``, a write refused at ``maxmemory`` is also sent again, after the
    same backoff, until Redis has room: a refused command (or ``MULTI`` block) did nothing, so
    sending it again is exactly right. RQ's own client waits so (its work loop would quit on
    the error); the Track drainer's does not, since its draining is what frees memory.
    """

    def __init__(self, outage: RedisOutage, cap_s: float, *, wait_when_full: bool = False) -> None:
        # READONLY: the server we hold was demoted in a failover; reconnecting finds the new
        # master (Sentinel asks again; a managed endpoint's name moves), like a lost connection.
        # OSError: a refused or reset socket connect, before redis-py names it (compat.redis).
        errors: tuple[type[Exception], ...] = (
            *_UNAVAILABLE,
            socket.timeout,
            *CONNECT_ERRORS,
            redis.ReadOnlyError,
        )
        if wait_when_full:
            errors += (redis.exceptions.OutOfMemoryError,)
        super().__init__(
            ExponentialBackoff(cap=cap_s, base=_FIRST_RETRY_S), retries=-1, supported_errors=errors
        )
        self.outage = outage
        self.cap_s = cap_s
        self.wait_when_full = wait_when_full

    def __deepcopy__(self, memo: dict[int, Any]) -> OutageRetry:
        # redis-py copies the policy into every connection; all copies report to one outage.
        return OutageRetry(self.outage, self.cap_s, wait_when_full=self.wait_when_full)

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """Run ``do``; on a lost connection call ``fail`` (redis-py's disconnect or
        reconnect) and try again after the backoff, until Redis answers.

        Overrides redis-py's method: its parameters are
        :data:`cio_pipeline.producer.compat.redis.RETRY_CALL_PARAMETERS` (redis-py 5 passes
        the first two, later releases all four; a contract test checks the installed one)."""
        backoff = copy.copy(self._backoff)
        failures = 0
        while True:
            try:
                result = do()
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                if isinstance(error, redis.AuthenticationError):
                    raise  # a ConnectionError to redis-py, but no wait will fix a password
                failures += 1
                if is_redis_full(error):
                    self.outage.full()  # the connection is fine: just wait for room
                    time.sleep(backoff.compute(failures))
                    continue
                self.outage.failed(error)
                try:
                    if with_failure_count:
                        fail(error, failures)
                    else:
                        fail(error)
                except self._supported_errors:
                    pass  # the reconnect of a pubsub failed too: still down, keep waiting
                if self.outage.stopping:
                    raise
                time.sleep(backoff.compute(failures))
            else:
                self.outage.answered()
                return result
