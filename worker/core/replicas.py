"""The worker's durable writes: waiting for replicas after a claim or a settle.

With ``CIO_REDIS_MIN_REPLICAS=N``, every script the worker runs (claiming a Track batch or a
send's delivery record, settling a batch, leases) and every plain ``SET`` (a delivery
record) is followed by ``WAIT N timeout`` on the same connection before the worker acts on
the answer. So a send is made only once its "pending" record is on N replicas, and a settled
batch is not delivered again by whoever holds the partition after a failover.

``WAIT`` counts the writes of its own connection, so this lives in the connection class
(:class:`ReplicaWait`, a mixin composed by
:func:`cio_pipeline.producer.redis_endpoint.redis_client`), where the write and its ``WAIT`` cannot
be split across pooled connections. While fewer replicas acknowledge, a worker waits, as for any
Redis outage (one ``redis_unavailable`` line with ``error=ReplicasBehind``, then reminders, see
:mod:`cio_pipeline.worker.core.outage`): an operator who asked for N replicas gets no write counted
on fewer. A stopping worker, and a CLI command (no outage reporting), wait only once.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

from redis.connection import AbstractConnection

__all__ = ["ReplicaWait", "ReplicasBehind", "replica_wait"]

#: Commands after which the worker waits: its scripts (claim, settle, leases) and ``SET``.
_WRITES = frozenset({"EVALSHA", "EVAL", "SET"})


class ReplicasBehind(Exception):
    """Fewer replicas than ``CIO_REDIS_MIN_REPLICAS`` acknowledged a write in time."""


class ReplicaWait(AbstractConnection):
    """Connection mixin: after a write command's reply, ``WAIT`` until ``replicas`` replicas
    have it (subclassed by :func:`replica_wait` with the settings' numbers)."""

    replicas: ClassVar[int] = 1
    timeout_ms: ClassVar[int] = 100
    _wait_next = False

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        super().send_command(*args, **kwargs)  # type: ignore[no-untyped-call]
        # Set after sending: the health check's PING inside send_command resets it.
        name = args[0] if args else b""
        text = name.decode() if isinstance(name, bytes) else str(name)
        self._wait_next = text.upper() in _WRITES

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        wait, self._wait_next = self._wait_next, False
        reply = super().read_response(*args, **kwargs)
        if wait:
            self._await_replicas()
        return reply

    def _await_replicas(self) -> None:
        # The worker's OutageRetry carries the process's RedisOutage; a CLI's retry does not.
        outage = getattr(self.retry, "outage", None)
        while True:
            super().send_command(  # type: ignore[no-untyped-call]
                "WAIT", self.replicas, self.timeout_ms
            )
            acked = int(super().read_response())
            if acked >= self.replicas:
                if outage is not None:
                    outage.answered()
                return
            if outage is None or outage.stopping:
                return
            outage.failed(ReplicasBehind())


@cache  # one class per setting, so connection classes composed over it are reused
def replica_wait(replicas: int, timeout_ms: int) -> type[ReplicaWait]:
    """A :class:`ReplicaWait` mixin waiting for ``replicas`` replicas, ``timeout_ms`` a try."""
    return type(
        "ReplicaWait",
        (ReplicaWait,),
        {"replicas": replicas, "timeout_ms": timeout_ms, "__doc__": ReplicaWait.__doc__},
    )
