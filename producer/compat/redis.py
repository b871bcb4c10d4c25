"""redis-py below its client API: each reach the code makes, named once, with why.

Checked against the installed redis-py by ``tests/unit/test_compat_redis.py``; the declared
range (``pyproject.toml``) is tested at both ends by ``.ci/deps``.

1. :func:`pool_connection`: ``ConnectionPool.get_connection()``. The producer holds one
   connection for a request so that it can tell "not sent" from "answer lost"
   (:mod:`cio_pipeline.producer.wire`). redis-py before 5.3 requires a ``command_name``
   argument; 5.3 and later deprecate passing it (a warning on every call).
2. :func:`send_packed` and :func:`read_reply`: ``Connection.send_packed_command`` and
   ``Connection.read_response``, the two halves of a request the producer keeps apart.
3. :func:`plain_read_response`: ``SentinelManagedConnection.read_response`` turns a
   ``READONLY`` reply into a ``ConnectionError``; the producer needs the ``ReadOnlyError``
   (a refusal, certainly not run), so it calls the read of the class after it in the MRO.
4. :data:`RETRY_CALL_PARAMETERS`: the worker's ``Retry`` subclass overrides
   ``Retry.call_with_retry`` (wait out an outage, report it); redis-py calls it with two
   arguments up to 5.x and with ``is_retryable``/``with_failure_count`` since. And
   :data:`CONNECT_ERRORS`: redis-py 5.0 retries a connect only around the raw socket connect,
   whose errors are ``OSError`` (turned into ``ConnectionError`` after the retry), and nothing
   retries the connect of a pooled connection above it; later releases retry the whole
   connect. So the retry policy must take ``OSError`` too, or a refused connect reaches RQ's
   work loop, which quits.
5. :func:`sentinel_master`: ``Sentinel(...).master_for``, whose annotations differ across the
   range (untyped before 8.x, typed with optional master names after): called through
   ``Any`` so one source type-checks at both ends.
6. :func:`stop_pubsub_thread`: ``PubSubWorkerThread.stop()`` only clears its flag up to
   redis-py 8.1 and, from 8.2, also joins the thread without a bound (``stop(timeout=None)``);
   rq starts that thread with a 60 s poll, so a stop could wait a minute. We stop it with a
   bound on every version.
7. :class:`SentinelReconnect`: a Sentinel-managed connection asks the Sentinels for the
   master in ``connect()``, but from redis-py 6 a connection that lost its socket reconnects
   inside its command's retry through ``connect_check_health()``, which reuses the address it
   had (redis-py issue 3874). After a failover that is the old master: refused while it is
   down, ``READONLY`` once it is back as a replica, for as long as the retry lasts (for a
   worker, for ever: seen in ``tests/integration/test_redis_sentinel.py``). The mixin sends
   that reconnect through ``connect()``. Before redis-py 6 the method does not exist and the
   reconnect already went through ``connect()``.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any, Final

import redis
from redis.client import PubSubWorkerThread
from redis.connection import AbstractConnection
from redis.sentinel import Sentinel, SentinelManagedConnection

__all__ = [
    "CONNECT_ERRORS",
    "REDIS_VERSION",
    "RETRY_CALL_PARAMETERS",
    "SentinelReconnect",
    "plain_read_response",
    "pool_connection",
    "read_reply",
    "send_packed",
    "sentinel_master",
    "stop_pubsub_thread",
]

#: The installed redis-py, for messages.
REDIS_VERSION: Final = f"redis-py {redis.__version__}"

#: The parameters our ``Retry.call_with_retry`` override accepts (after ``self``): redis-py
#: must call it with no other (4).
RETRY_CALL_PARAMETERS: Final = ("do", "fail", "is_retryable", "with_failure_count")

#: (4) What a retry policy that waits out an outage must retry besides redis-py's
#: ``ConnectionError``/``TimeoutError``: the raw errors of a socket connect.
CONNECT_ERRORS: Final[tuple[type[Exception], ...]] = (OSError,)


@cache
def _wants_command_name(pool_class: type[redis.ConnectionPool]) -> bool:
    parameter = inspect.signature(pool_class.get_connection).parameters.get("command_name")
    return parameter is not None and parameter.default is inspect.Parameter.empty


def pool_connection(pool: redis.ConnectionPool) -> Any:
    """A connection taken from ``pool`` (give it back with ``pool.release``) (1).

    Raises what connecting raises (``ConnectionError``, ``TimeoutError``)."""
    if _wants_command_name(type(pool)):
        # Any name does: the argument is unused by every pool that requires it.
        return pool.get_connection("_")
    return pool.get_connection()


def send_packed(conn: Any, packed: bytes) -> None:
    """Send one packed request on ``conn`` (2); raises only when the kernel did not take it
    all. A list of buffers: redis-py iterates what it is given (bytes would be ints)."""
    conn.send_packed_command([packed])


def read_reply(conn: Any) -> Any:
    """Read one reply on ``conn`` (2); on a lost answer redis-py closes the connection, so a
    late answer is never taken for the next request's."""
    return conn.read_response()


def plain_read_response(conn: SentinelManagedConnection, *args: Any, **kwargs: Any) -> Any:
    """``conn.read_response`` of the class after ``SentinelManagedConnection`` in ``conn``'s
    MRO: the plain read, without its conversion of ``READONLY`` (3)."""
    return super(SentinelManagedConnection, conn).read_response(*args, **kwargs)


def sentinel_master(
    sentinels: list[tuple[str, int]],
    sentinel_kwargs: dict[str, Any],
    master: str | None,
    **kwargs: Any,
) -> redis.Redis:
    """A client for the master ``sentinels`` name ``master`` (5); ``kwargs`` go to
    ``master_for`` (the connection class and options)."""
    sentinel_class: Any = Sentinel
    sentinel = sentinel_class(sentinels, sentinel_kwargs=sentinel_kwargs)
    client: redis.Redis = sentinel.master_for(master, **kwargs)
    return client


_STOP_JOINS: Final = "timeout" in inspect.signature(PubSubWorkerThread.stop).parameters


def stop_pubsub_thread(thread: PubSubWorkerThread, timeout_s: float) -> bool:
    """Ask ``thread`` to stop and wait at most ``timeout_s`` for it (6); True if it ended.

    The thread ends within its poll time (``sleep_time``) once asked, unless a handler holds
    it: whoever started it keeps that short."""
    if _STOP_JOINS:
        thread.stop(timeout=timeout_s)
    else:
        thread.stop()
        thread.join(timeout_s)
    return not thread.is_alive()


class SentinelReconnect(AbstractConnection):
    """Mixin in front of ``SentinelManagedConnection``: every reconnect asks the Sentinels
    for the current master (7)."""

    _asking_sentinels = False

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        """Connect to the master the Sentinels name now (redis-py >= 6 calls this, not
        ``connect()``, when a command finds the connection closed)."""
        if getattr(self, "_sock", None) is not None or self._asking_sentinels:
            # connected already, or called back by connect_to() with the fresh address
            super().connect_check_health(*args, **kwargs)
            return
        self._asking_sentinels = True
        try:
            connect: Any = self.connect  # untyped in some releases of the range
            connect()  # SentinelManagedConnection.connect: ask, then connect_to()
        finally:
            self._asking_sentinels = False
