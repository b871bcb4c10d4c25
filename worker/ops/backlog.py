"""Backpressure for bulk producers: how much Track work waits in Redis, and waiting for room.

The Track backlog is every job a worker has yet to settle: the partition queues plus their
claimed lists (one ``LLEN`` each, in one pipelined round trip). A bulk import asks
:meth:`BacklogGate.wait_for_room` before each window of rows; the gate returns once the
window fits under the limit, so the backlog the import causes never passes ``max_backlog``
and Redis cannot fill because of it. A queued identify holds about a kilobyte of Redis
memory (job hash and queue entry; docs/performance.md), so the default limit of 300,000
queued jobs keeps an import's backlog well under a gigabyte.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

import redis
from rq import Queue

from cio_pipeline.producer.keys import Keys

__all__ = ["DEFAULT_MAX_BACKLOG", "BacklogGate", "track_backlog"]

#: Queued Track jobs an import lets pile up before it waits (a few hundred MB of Redis).
DEFAULT_MAX_BACKLOG: Final = 300_000
_QUEUE_PREFIX: Final = Queue.redis_queue_namespace_prefix


def track_backlog(connection: redis.Redis, keys: Keys) -> int:
    """Jobs queued or claimed on every Track partition (one round trip)."""
    with connection.pipeline(transaction=False) as pipe:
        for partition, queue in enumerate(keys.track_queues):
            pipe.llen(_QUEUE_PREFIX + queue)
            pipe.llen(keys.claimed(partition))
        return sum(int(n) for n in pipe.execute())


class BacklogGate:
    """Lets a bulk producer add ``window`` jobs only while the backlog stays under the limit.

    ``poll_s`` is how often it looks again while waiting for workers to drain; ``stop`` ends
    the wait early (Ctrl-C). Redis errors propagate: the caller decides what a lost Redis
    means.
    """

    def __init__(
        self, connection: redis.Redis, keys: Keys, max_backlog: int, poll_s: float = 0.25
    ) -> None:
        if max_backlog < 1:
            raise ValueError("max_backlog must be at least 1")
        self.connection = connection
        self.keys = keys
        self.max_backlog = max_backlog
        self.poll_s = poll_s
        self.waits = 0

    def wait_for_room(
        self,
        window: int,
        stop: threading.Event,
        on_wait: Callable[[int], None] = lambda backlog: None,
    ) -> bool:
        """Return True once ``window`` more jobs fit under the limit, False if ``stop`` was
        set first. ``on_wait(backlog)`` is called on each look while waiting."""
        room_at = max(0, self.max_backlog - window)
        backlog = track_backlog(self.connection, self.keys)
        if backlog <= room_at:
            return True
        self.waits += 1
        while backlog > room_at:
            on_wait(backlog)
            if stop.wait(self.poll_s):
                return False
            backlog = track_backlog(self.connection, self.keys)
        return True
